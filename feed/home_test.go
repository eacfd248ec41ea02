package feed_test

import (
	"context"
	"testing"

	"github.com/rummage/rummage/feed"
	"github.com/rummage/rummage/feed/feedtest"
	"github.com/rummage/rummage/signals/memory"
)

// TestFollowingTopReadsEnoughShares: the home feed's following source,
// which reads a few times n of the followed closets' newest shares and
// more only when needed, answers the first n candidates that reading every
// share does, for every n (small ones make it read again).
func TestFollowingTopReadsEnoughShares(t *testing.T) {
	ctx := context.Background()
	s, err := memory.Open("")
	if err != nil {
		t.Fatal(err)
	}
	feedtest.Social(t, s)
	f := feed.New(feedtest.Catalog(t), s, feed.Config{})
	for _, factor := range []int{0, 1, 4} {
		feed.SetFollowingTopFactor(t, factor)
		testFollowingTop(ctx, t, f)
	}
}

func testFollowingTop(ctx context.Context, t *testing.T, f *feed.Feeds) {
	for _, user := range []string{"u1", "u4"} {
		for n := 1; n <= 12; n++ {
			got, err := f.FollowingTop(ctx, user, feedtest.Now, n)
			if err != nil {
				t.Fatal(err)
			}
			want, err := f.FollowingAll(ctx, user, feedtest.Now, n)
			if err != nil {
				t.Fatal(err)
			}
			if len(want) == 0 || len(got) != len(want) {
				t.Fatalf("%s, n=%d: %d candidates, want %d", user, n, len(got), len(want))
			}
			for i := range want {
				if got[i].ID != want[i].ID || got[i].Key != want[i].Key {
					t.Errorf("%s, n=%d: candidate %d is %s@%d, want %s@%d", user, n, i, got[i].ID, got[i].Key, want[i].ID, want[i].Key)
				}
			}
		}
	}
}
