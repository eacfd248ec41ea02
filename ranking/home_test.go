package ranking

import (
	"fmt"
	"strings"
	"testing"

	"github.com/rummage/rummage/internal/golden"
)

func items(src Source, seller func(i int) string, ids ...string) []Item {
	out := make([]Item, len(ids))
	for i, id := range ids {
		out[i] = Item{ID: id, Seller: seller(i), Source: src}
	}
	return out
}

func seq(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%02d", prefix, i)
	}
	return out
}

// TestBlendHomeGolden pins the blend of a shopper who follows closets, has
// affinities, and sees trending and fresh listings, one of whose followed
// closets shares a lot: a readable page-by-page layout.
func TestBlendHomeGolden(t *testing.T) {
	noisy := func(i int) string { // the first followed closet floods its feed
		if i < 12 {
			return "closet-noisy"
		}
		return fmt.Sprintf("closet-f%d", i%5)
	}
	src := HomeSources{
		Following: items(SourceFollowing, noisy, seq("f", 30)...),
		Affinity:  items(SourceAffinity, func(i int) string { return fmt.Sprintf("closet-a%d", i%7) }, append([]string{"f03"}, seq("a", 20)...)...),
		Trending:  items(SourceTrending, func(i int) string { return fmt.Sprintf("closet-t%d", i) }, seq("t", 10)...),
		Fresh:     items(SourceFresh, func(i int) string { return fmt.Sprintf("closet-n%d", i%3) }, seq("n", 10)...),
	}
	cfg := DefaultHome
	cfg.PageSize = 10
	got := BlendHome(src, cfg, 100)
	var sb strings.Builder
	for i, it := range got[:40] {
		if i%cfg.PageSize == 0 {
			fmt.Fprintf(&sb, "-- page %d\n", i/cfg.PageSize+1)
		}
		fmt.Fprintf(&sb, "%2d %-4s %-10s %s\n", i+1, it.ID, it.Source, it.Seller)
	}
	golden.Check(t, "testdata/home_blend.txt", []byte(sb.String()))
	checkBlend(t, got, cfg, src)
}

// checkBlend asserts the blend's rules whatever the golden says.
func checkBlend(t *testing.T, got []Item, cfg HomeConfig, src HomeSources) {
	t.Helper()
	seen := map[string]bool{}
	for p := 0; p*cfg.PageSize < len(got); p++ {
		page := got[p*cfg.PageSize : min((p+1)*cfg.PageSize, len(got))]
		per := map[string]int{}
		following := 0
		for _, it := range page {
			if seen[it.ID] {
				t.Errorf("%s twice", it.ID)
			}
			seen[it.ID] = true
			if per[it.Seller]++; per[it.Seller] > cfg.MaxPerCloset {
				t.Errorf("page %d: %s has %d items", p+1, it.Seller, per[it.Seller])
			}
			if it.Source == SourceFollowing {
				following++
			}
		}
		// While followed closets have items left, they hold 40 % of a page.
		left := 0
		for _, it := range got[min((p+1)*cfg.PageSize, len(got)):] {
			if it.Source == SourceFollowing {
				left++
			}
		}
		if len(page) == cfg.PageSize && left > 0 && following*10 < 4*cfg.PageSize {
			t.Errorf("page %d: %d following items, want at least 40%%", p+1, following)
		}
	}
	if total := len(src.Following) + len(src.Affinity) + len(src.Trending) + len(src.Fresh) - 1; len(seen) != total {
		t.Errorf("%d distinct items placed, want every one of %d (diversity pushes, never drops)", len(seen), total)
	}
}

func TestTrendingScore(t *testing.T) {
	now := int64(100 * 3600 * 1000)
	hour := int64(3600 * 1000)
	fresh := make([]Engagement, 50)
	for i := range fresh {
		fresh[i] = Engagement{User: fmt.Sprint("u", i), AtMs: now - hour/2}
	}
	old := make([]Engagement, 5000)
	for i := range old {
		old[i] = Engagement{User: fmt.Sprint("v", i), AtMs: now - 23*hour}
	}
	if a, b := TrendingScore(fresh, "s", now), TrendingScore(old, "s", now); a <= b {
		t.Errorf("50 sharers in the last hour score %v, 5,000 a day ago %v", a, b)
	}
	self := []Engagement{{User: "s", AtMs: now}, {User: "s", AtMs: now}}
	if got := TrendingScore(self, "s", now); got != 0 {
		t.Errorf("a closet sharing its own listing scores %v", got)
	}
	if got := TrendingScore([]Engagement{{User: "u", AtMs: now - 25*hour}}, "s", now); got != 0 {
		t.Errorf("past the horizon: %v", got)
	}
	if got := TrendingScore([]Engagement{{User: "u", AtMs: now - hour}}, "s", now); got != 0.5 {
		t.Errorf("one half-life old: %v, want 0.5", got)
	}
}
