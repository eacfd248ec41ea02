package query

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/rummage/rummage"
)

// Sort orders the hits of a search.
type Sort string

// The sorts of the v1 contract. Ties are always broken by listing id, ascending,
// so that paging is stable.
const (
	SortRelevance      Sort = "relevance"       // blended text score; default when q is set
	SortNewest         Sort = "newest"          // created_at desc; default when browsing
	SortPriceAsc       Sort = "price_asc"       // price_cents asc
	SortPriceDesc      Sort = "price_desc"      // price_cents desc
	SortRecentlyShared Sort = "recently_shared" // last_shared_at desc, never-shared last
)

var sorts = [...]Sort{SortRelevance, SortNewest, SortPriceAsc, SortPriceDesc, SortRecentlyShared}

// Sorts returns every valid sort (a new slice: callers may keep or change it).
func Sorts() []Sort { return slices.Clone(sorts[:]) }

// Facet names a facet the client can ask for.
type Facet string

// The facets of the v1 contract.
const (
	FacetBrand     Facet = "brand"
	FacetCategory  Facet = "category"
	FacetSize      Facet = "size"
	FacetCondition Facet = "condition"
	FacetColor     Facet = "color"
	FacetPrice     Facet = "price"
)

var facets = [...]Facet{FacetBrand, FacetCategory, FacetSize, FacetCondition, FacetColor, FacetPrice}

// Facets returns every valid facet in response order (a new slice).
func Facets() []Facet { return slices.Clone(facets[:]) }

// Limits of a request.
const (
	DefaultLimit  = 24
	MaxLimit      = 100
	MaxQueryBytes = 256 // longer q is rejected, not truncated
	MaxValues     = 50  // values of one filter field

	// DefaultFacetLimit and MaxFacetLimit bound the values returned for a
	// terms facet, by count desc (selected values always appear besides).
	DefaultFacetLimit = 100
	MaxFacetLimit     = 1000
)

// PriceBucket is one fixed bucket of the price facet: From inclusive, To
// exclusive (To == 0 means unbounded), in cents.
type PriceBucket struct {
	Key      string
	From, To int64
}

// NumPriceBuckets is the number of buckets of the price facet.
const NumPriceBuckets = len(priceBuckets)

// PriceBuckets returns the buckets of the price facet, in order (a new
// slice).
func PriceBuckets() []PriceBucket { return slices.Clone(priceBuckets[:]) }

// PriceBucketOf returns the index of the bucket holding a price, -1 for a
// negative one. It allocates nothing: facet counting calls it per listing.
func PriceBucketOf(cents int64) int {
	for i := range priceBuckets {
		if b := &priceBuckets[i]; cents >= b.From && (b.To == 0 || cents < b.To) {
			return i
		}
	}
	return -1
}

var priceBuckets = [...]PriceBucket{
	{"0-25", 0, 2500},
	{"25-50", 2500, 5000},
	{"50-100", 5000, 10000},
	{"100-250", 10000, 25000},
	{"250-500", 25000, 50000},
	{"500+", 50000, 0},
}

// Filters narrow a search. Values of one field are OR-ed; fields are AND-ed.
// Empty means no filter on that field.
type Filters struct {
	Brands     []string
	Sizes      []string
	Conditions []string
	Colors     []string
	Category   []string // a path from the root; matches that node and below
	PriceMin   *int64   // cents, inclusive
	PriceMax   *int64   // cents, inclusive
}

// Request is one search as a client asks it: text, filters, sort, page and
// facets. The discovery layer (package feed) answers it from retrievals.
type Request struct {
	Query      string // free text; empty means browse
	Filters    Filters
	Sort       Sort   // empty: relevance with Query, newest without
	Limit      int    // 1..MaxLimit; 0 means DefaultLimit
	Cursor     string // opaque next_cursor of the previous page; empty for the first
	Facets     []Facet
	FacetLimit int    // values per terms facet; 0 means DefaultFacetLimit
	User       string // optional user id, for personalization

	// Now is the instant visibility is evaluated at (status and drops) on
	// the first page; zero means the clock. Later pages use the instant
	// their cursor pins. Tests and replays set it.
	Now time.Time
}

// FacetValue is one bucket of a facet. Terms and category facets fill Value;
// the price facet fills Key, From and To.
type FacetValue struct {
	Value string `json:"value,omitempty"`
	Key   string `json:"key,omitempty"`
	From  *int64 `json:"from,omitempty"`
	To    *int64 `json:"to,omitempty"`
	Count int    `json:"count"`
}

// ErrNotFound is returned by Get for an unknown or deleted listing.
var ErrNotFound = errors.New("listing not found")

// Change is one versioned write. Version never decreases per listing (the
// commit LSN in the CDC path). The version rule: a backend ignores a change
// whose Version is below the version it holds for that id, including the
// version of a delete (deletes leave tombstones); an equal version is
// applied: every change of one transaction carries its commit LSN, and a
// transaction that writes a row twice may be split across batches, so among
// equals the stream's order decides — within a batch the later change wins.
// Replays converge because a key's changes stay in order on their partition.
type Change struct {
	ID      string
	Version uint64
	Delete  bool
	Doc     *rummage.Listing // nil when Delete
}

// ApplyStats tells what Apply did with a batch.
type ApplyStats struct {
	Written int // upserts and deletes that took effect
	Stale   int // changes ignored because a newer version was held (or, within the batch, a later change of the same id won)
}

// Stats describes the index.
type Stats struct {
	Documents int64 `json:"documents"` // live documents, any status
}

// InvalidError is a request the client must fix. Code is stable and machine
// readable; Field names the offending parameter.
type InvalidError struct {
	Code    string
	Field   string
	Message string
}

func (e *InvalidError) Error() string {
	return fmt.Sprintf("%s: %s", e.Field, e.Message)
}

func invalid(code, field, format string, args ...any) *InvalidError {
	return &InvalidError{Code: code, Field: field, Message: fmt.Sprintf(format, args...)}
}

// EffectiveSort is the sort a request runs with after defaults.
func (r *Request) EffectiveSort() Sort {
	if r.Sort != "" {
		return r.Sort
	}
	if hasText(r.Query) {
		return SortRelevance
	}
	return SortNewest
}

func hasText(q string) bool { return strings.TrimSpace(q) != "" }

// EffectiveLimit is the page size after defaults.
func (r *Request) EffectiveLimit() int {
	if r.Limit == 0 {
		return DefaultLimit
	}
	return r.Limit
}

// WantsFacet reports whether facet f was asked for.
func (r *Request) WantsFacet(f Facet) bool { return slices.Contains(r.Facets, f) }

// Validate checks a request and returns an *InvalidError for the first
// problem. Backends may assume a validated request.
func (r *Request) Validate() error {
	if len(r.Query) > MaxQueryBytes {
		return invalid("query_too_long", "q", "must be at most %d bytes", MaxQueryBytes)
	}
	if r.Sort != "" && !validSort(r.Sort) {
		return invalid("invalid_sort", "sort", "unknown sort %q; use one of %s", r.Sort, joinSorts())
	}
	if r.Limit < 0 || r.Limit > MaxLimit {
		return invalid("invalid_limit", "limit", "must be between 1 and %d", MaxLimit)
	}
	if r.FacetLimit < 0 || r.FacetLimit > MaxFacetLimit {
		return invalid("invalid_limit", "facet_limit", "must be between 1 and %d", MaxFacetLimit)
	}
	seen := map[Facet]bool{}
	for _, f := range r.Facets {
		if !validFacet(f) {
			return invalid("invalid_facet", "facets", "unknown facet %q; use any of brand,category,size,condition,color,price", f)
		}
		if seen[f] {
			return invalid("invalid_facet", "facets", "facet %q is listed twice", f)
		}
		seen[f] = true
	}
	f := &r.Filters
	for _, fv := range []struct {
		field string
		vals  []string
	}{{"brand", f.Brands}, {"size", f.Sizes}, {"condition", f.Conditions}, {"color", f.Colors}} {
		if len(fv.vals) > MaxValues {
			return invalid("too_many_values", fv.field, "at most %d values", MaxValues)
		}
		for _, v := range fv.vals {
			if strings.TrimSpace(v) == "" {
				return invalid("invalid_value", fv.field, "must not be empty")
			}
			if len(v) > MaxQueryBytes {
				return invalid("invalid_value", fv.field, "value longer than %d bytes", MaxQueryBytes)
			}
		}
	}
	for _, c := range f.Conditions {
		if !validCondition(c) {
			return invalid("invalid_value", "condition", "unknown condition %q; use nwt, like_new, good or fair", c)
		}
	}
	for _, c := range f.Category {
		if strings.TrimSpace(c) == "" {
			return invalid("invalid_value", "category", "path has an empty segment")
		}
	}
	if f.PriceMin != nil && *f.PriceMin < 0 {
		return invalid("invalid_price", "price_min", "must be >= 0")
	}
	if f.PriceMax != nil && *f.PriceMax < 0 {
		return invalid("invalid_price", "price_max", "must be >= 0")
	}
	if f.PriceMin != nil && f.PriceMax != nil && *f.PriceMin > *f.PriceMax {
		return invalid("invalid_price", "price_min", "must not be above price_max")
	}
	return nil
}

func validSort(s Sort) bool {
	for _, x := range sorts {
		if x == s {
			return true
		}
	}
	return false
}

func joinSorts() string {
	s := make([]string, len(sorts))
	for i, x := range sorts {
		s[i] = string(x)
	}
	return strings.Join(s, ", ")
}

func validFacet(f Facet) bool {
	for _, x := range facets {
		if x == f {
			return true
		}
	}
	return false
}

// validCondition: conditions match case-insensitively, as every filter does.
func validCondition(c string) bool {
	for _, x := range rummage.Conditions() {
		if strings.EqualFold(x, c) {
			return true
		}
	}
	return false
}

// EmptyCandidates is the answer to a retrieval that can match nothing: no
// hits, every asked-for facet present and empty, the price buckets at zero.
func EmptyCandidates(r *Retrieval) *Candidates {
	res := &Candidates{Hits: []Candidate{}}
	if len(r.Facets) > 0 {
		res.Facets = map[Facet][]FacetValue{}
		for _, f := range r.Facets {
			res.Facets[f] = []FacetValue{}
			if f == FacetPrice {
				res.Facets[f] = PriceFacet(make([]int, NumPriceBuckets))
			}
		}
	}
	return res
}
