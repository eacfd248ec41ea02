package ranking

// The home feed blends several candidate sources, each already ordered
// best first, into one ranked list that a shopper pages through.

// Source names where a home candidate comes from; it is the feed_reason
// type the API shows.
type Source string

// The home feed's sources.
const (
	SourceFollowing Source = "following" // a followed closet listed or shared it
	SourceAffinity  Source = "affinity"  // it matches the shopper's brands, sizes, categories
	SourceTrending  Source = "trending"  // many distinct shoppers like and share it now
	SourceFresh     Source = "fresh"     // just listed
)

// Item is one home candidate.
type Item struct {
	ID     string
	Seller string
	Source Source
}

// HomeSources are the candidate lists, each best first. A list may be
// empty; an item may appear in several (the first source to place it
// wins).
type HomeSources struct {
	Following, Affinity, Trending, Fresh []Item
}

// HomeConfig shapes the blend.
type HomeConfig struct {
	// PageSize is the page the quotas and the closet cap apply to.
	PageSize int
	// MaxPerCloset is the most items of one closet on a page; the others
	// are pushed to later pages, never dropped.
	MaxPerCloset int
	// Weights are the share of each page a source gets, in slots per
	// round: DESIGN.md asks following ≥ 40 % of a page when the shopper
	// follows anyone.
	Following, Affinity, Trending, Fresh int
}

// DefaultHome is the shipped blend: per 10 slots, 4 following, 3 affinity,
// 2 trending, 1 fresh; at most two items of a closet per page of 24.
var DefaultHome = HomeConfig{PageSize: 24, MaxPerCloset: 2, Following: 4, Affinity: 3, Trending: 2, Fresh: 1}

// BlendHome merges the sources into at most limit items, page by page
// (PageSize): round by round each source places up to its weight of items,
// skipping, for this page, those of a closet that has MaxPerCloset items
// on it already (they stay first in line for the next page: diversity
// pushes to later pages, never drops). A source with nothing placeable
// leaves its slots to the others, in the order following, affinity,
// trending, fresh. No item is placed twice, and every page but the last is
// full: when only items of closets already full on a page are left, the
// cap yields.
func BlendHome(src HomeSources, cfg HomeConfig, limit int) []Item {
	sources := []*pending{
		{items: src.Following, weight: cfg.Following}, {items: src.Affinity, weight: cfg.Affinity},
		{items: src.Trending, weight: cfg.Trending}, {items: src.Fresh, weight: cfg.Fresh},
	}
	seen := map[string]bool{}
	out := make([]Item, 0, limit)
	pageSize := cfg.PageSize
	if pageSize <= 0 {
		pageSize = limit
	}
	for len(out) < limit {
		onPage := map[string]int{}
		eligible := func(it Item) bool {
			return !seen[it.ID] && (cfg.MaxPerCloset <= 0 || it.Seller == "" || onPage[it.Seller] < cfg.MaxPerCloset)
		}
		n := 0
		place := func(it Item) {
			seen[it.ID] = true
			onPage[it.Seller]++
			out = append(out, it)
			n++
		}
		// fill places, from the sources in order, every item ok allows
		// until the page or the list is full, and says whether it placed
		// any.
		fill := func(ok func(Item) bool) bool {
			placed := false
			for _, p := range sources {
				for n < pageSize && len(out) < limit {
					it, more := p.take(ok)
					if !more {
						break
					}
					place(it)
					placed = true
				}
			}
			return placed
		}
		for n < pageSize && len(out) < limit {
			placed := false
			for _, p := range sources {
				for k := 0; k < p.weight && n < pageSize && len(out) < limit; k++ {
					it, ok := p.take(eligible)
					if !ok {
						break
					}
					place(it)
					placed = true
				}
			}
			if placed {
				continue
			}
			// Weighted rounds place nothing more: fill from any source. When
			// only items of closets full on this page are left, the page is
			// filled with them rather than left short (pages are fixed
			// slices of the list), and the cap yields.
			if !fill(eligible) && !fill(func(it Item) bool { return !seen[it.ID] }) {
				break
			}
		}
		if n == 0 {
			break // nothing left
		}
	}
	return out
}

// pending is a source's items not placed yet, in order.
type pending struct {
	items  []Item
	weight int
}

// take removes and returns the first item ok accepts; items it refuses
// keep their place.
func (p *pending) take(ok func(Item) bool) (Item, bool) {
	for i, it := range p.items {
		if ok(it) {
			p.items = append(p.items[:i:i], p.items[i+1:]...)
			return it, true
		}
	}
	return Item{}, false
}
