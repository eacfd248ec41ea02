package cache

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/rummage/rummage"
)

// Tags: the coarse dependencies (DESIGN.md "Freshness"). A change purges
// every entry that depends on a tag its old or new row matches.
const (
	TagAll        = "all"        // unfiltered browses and text searches: every listing change
	TagDrops      = "drops"      // /v1/drops: a listing with a future available_at changed
	TagParties    = "parties"    // /v1/parties: a party row changed
	TagEngagement = "engagement" // likes and shares: trending, recently_shared
)

// ListingDep is the dependency on one listing.
func ListingDep(id string) string { return "l:" + id }

// CounterDep is a change of one listing's like and share counters only (a
// like or a share of it): it purges the entries of ListingDep(id), but
// late — counters may lag up to 5 s (DESIGN.md "Freshness"), so the cache
// gathers them and applies them together at most once per
// Config.CounterLag. Without that, a party's 700 shares/s would purge
// nearly every page that shows a shared listing several times a second.
// Orders that a share changes (recently shared, trending, a party's feed)
// depend on TagEngagement and PartyTag, which are applied at once.
func CounterDep(id string) string { return counterPrefix + id }

const counterPrefix = "n:"

// counterTarget is the listing dependency a counter dependency purges,
// and whether d is one.
func counterTarget(d string) (string, bool) {
	id, ok := strings.CutPrefix(d, counterPrefix)
	if !ok {
		return d, false
	}
	return ListingDep(id), true
}

// BrandTag, CategoryTag, PartyTag, SellerTag and UserTag are the other
// tags; values are lower-cased as the filters compare them.
func BrandTag(b string) string       { return "brand:" + strings.ToLower(b) }
func CategoryTag(root string) string { return "cat:" + strings.ToLower(root) }
func PartyTag(id string) string      { return "party:" + id }
func SellerTag(id string) string     { return "seller:" + id }
func UserTag(id string) string       { return "user:" + id }

// ListingDeps are the dependencies a listing change touches: its id, its
// closet, and the tags of its old and new rows (nil for a create or a
// delete; a REPLICA IDENTITY FULL stream has both), at now.
func ListingDeps(before, after *rummage.Listing, now time.Time) []string {
	deps := []string{TagAll}
	seen := map[string]bool{TagAll: true}
	add := func(d string) {
		if !seen[d] {
			seen[d] = true
			deps = append(deps, d)
		}
	}
	for _, l := range []*rummage.Listing{before, after} {
		if l == nil {
			continue
		}
		add(ListingDep(l.ID))
		if l.SellerID != "" {
			add(SellerTag(l.SellerID))
		}
		if l.Brand != "" {
			add(BrandTag(l.Brand))
		}
		if len(l.Category) > 0 {
			add(CategoryTag(l.Category[0]))
		}
		if l.AvailableAt != nil && l.AvailableAt.After(now) {
			add(TagDrops)
		}
	}
	if before == nil || after == nil || !sameTime(before.LastSharedAt, after.LastSharedAt) {
		add(TagEngagement)
	}
	return deps
}

func sameTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(*b)
}

// RowDeps are the dependencies a change of a social table touches, from
// its old and new rows (JSON objects; nil when absent).
func RowDeps(table string, before, after json.RawMessage) []string {
	var deps []string
	for _, raw := range []json.RawMessage{before, after} {
		if len(raw) == 0 {
			continue
		}
		var r map[string]any
		if json.Unmarshal(raw, &r) != nil {
			continue
		}
		s := func(k string) string {
			switch v := r[k].(type) {
			case string:
				return v
			case float64:
				return strconv.FormatFloat(v, 'f', -1, 64)
			}
			return ""
		}
		switch table {
		case "follows":
			deps = append(deps, UserTag(s("follower_id")))
		case "blocks":
			deps = append(deps, UserTag(s("user_id")))
		case "likes":
			deps = append(deps, CounterDep(s("listing_id")), TagEngagement)
		case "shares":
			deps = append(deps, CounterDep(s("listing_id")), SellerTag(s("user_id")), TagEngagement)
			if p := s("party_id"); p != "" {
				deps = append(deps, PartyTag(p))
			}
		case "parties":
			deps = append(deps, PartyTag(s("id")), TagParties)
		case "sellers":
			deps = append(deps, SellerTag(s("id")))
		}
	}
	if table == "sellers" && sellerStatus(before) != sellerStatus(after) {
		return []string{All} // a suspension hides a closet on every surface
	}
	return compact(deps)
}

func sellerStatus(raw json.RawMessage) string {
	var r struct {
		Status string `json:"status"`
	}
	if len(raw) == 0 || json.Unmarshal(raw, &r) != nil || r.Status == "" {
		return "active"
	}
	return r.Status
}

func compact(deps []string) []string {
	out := deps[:0]
	seen := map[string]bool{}
	for _, d := range deps {
		if d != "" && !strings.HasSuffix(d, ":") && !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	return out
}

// contentHash is the answer's version: a hash of its bytes without the
// per-walk next_cursor (it carries the fill's instant), so that a refill
// that answers the same keeps its ETag.
func contentHash(body []byte) uint64 {
	const marker = `"next_cursor":"`
	i := bytes.LastIndex(body, []byte(marker))
	if i < 0 {
		return xxhash.Sum64(body)
	}
	j := bytes.IndexByte(body[i+len(marker):], '"')
	if j < 0 {
		return xxhash.Sum64(body)
	}
	d := xxhash.New()
	_, _ = d.Write(body[:i])
	_, _ = d.Write(body[i+len(marker)+j+1:])
	return d.Sum64()
}

func etag(h uint64) string { return `W/"` + strconv.FormatUint(h, 36) + `"` }
