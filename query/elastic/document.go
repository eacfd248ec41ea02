package elastic

import (
	"strings"
	"time"

	"github.com/rummage/rummage"
)

// document is the indexed form of a listing: the canonical fields plus the
// ones derived for filters, facets, sorts and ranking. Search decodes hits
// into rummage.Listing, which ignores the derived fields.
type document struct {
	*rummage.Listing
	CategoryPath []string  `json:"category_path,omitempty"`
	Lvl0         string    `json:"category_lvl0,omitempty"`
	Lvl1         string    `json:"category_lvl1,omitempty"`
	Lvl2         string    `json:"category_lvl2,omitempty"`
	Lvl3         string    `json:"category_lvl3,omitempty"`
	Lvl4         string    `json:"category_lvl4,omitempty"`
	Lvl5         string    `json:"category_lvl5,omitempty"`
	Lvl6         string    `json:"category_lvl6,omitempty"`
	Lvl7         string    `json:"category_lvl7,omitempty"`
	Lvl8         string    `json:"category_lvl8,omitempty"`
	Lvl9         string    `json:"category_lvl9,omitempty"`
	ListedAt     time.Time `json:"listed_at"`
	SharedMs     int64     `json:"last_shared_ms"`
}

// newDocument derives the indexed fields of l.
func newDocument(l *rummage.Listing) *document {
	d := &document{Listing: l}
	d.CategoryPath = categoryPrefixes(l.Category)
	lvls := []*string{&d.Lvl0, &d.Lvl1, &d.Lvl2, &d.Lvl3, &d.Lvl4, &d.Lvl5, &d.Lvl6, &d.Lvl7, &d.Lvl8, &d.Lvl9}
	for i, p := range d.CategoryPath {
		if i < len(lvls) {
			*lvls[i] = p
		}
	}
	d.ListedAt = l.ListedAt()
	if l.LastSharedAt != nil {
		d.SharedMs = l.LastSharedAt.UnixMilli()
	}
	return d
}

// categoryPrefixes returns "A", "A/B", "A/B/C" for the path [A B C].
func categoryPrefixes(path []string) []string {
	if len(path) == 0 {
		return nil
	}
	out := make([]string, len(path))
	for i := range path {
		out[i] = strings.Join(path[:i+1], "/")
	}
	return out
}
