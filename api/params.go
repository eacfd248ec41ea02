package api

import (
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/rummage/rummage"
	"github.com/rummage/rummage/feed"
	"github.com/rummage/rummage/query"
)

// Search parameters of the v1 contract.
const (
	paramQuery     = "q"
	paramBrand     = "brand"
	paramSize      = "size"
	paramCondition = "condition"
	paramColor     = "color"
	paramCategory  = "category"
	paramPriceMin  = "price_min"
	paramPriceMax  = "price_max"
	paramSort      = "sort"
	paramLimit     = "limit"
	paramCursor    = "cursor"
	paramFacets    = "facets"
	paramFacetLim  = "facet_limit"
	paramUser      = "user"
)

// paramSet is what one route accepts: its parameter names (in the order the
// unknown-parameter message lists them) and how it reads sort.
type paramSet struct {
	names []string
	sort  func(string) (query.Sort, error) // nil: parseSort
}

// repeatable are the parameters that take several values.
var repeatable = map[string]bool{paramBrand: true, paramSize: true, paramCondition: true, paramColor: true, paramFacets: true}

// searchFilters are the parameters every listing list shares.
var searchFilters = []string{paramQuery, paramBrand, paramSize, paramCondition, paramColor, paramCategory, paramPriceMin, paramPriceMax}

var (
	// searchParams are every parameter /v1/search accepts.
	searchParams = paramSet{names: append(slices.Clone(searchFilters), paramSort, paramLimit, paramCursor, paramFacets, paramFacetLim, paramUser)}
	// partyFeedParams: the search's, with the party feed's sorts.
	partyFeedParams = paramSet{names: searchParams.names, sort: feed.ParsePartySort}
	// followingParams: the search filters (no text: the feed is not
	// searched), facets, the page and the user.
	followingParams = paramSet{names: []string{paramBrand, paramSize, paramCondition, paramColor, paramCategory, paramPriceMin, paramPriceMax, paramLimit, paramCursor, paramFacets, paramFacetLim, paramUser}}
	// homeParams: the page and the user.
	homeParams = paramSet{names: []string{paramLimit, paramCursor, paramUser}}
)

// maxEcho bounds how much of a bad parameter name is echoed back.
const maxEcho = 64

// ParseSearch turns the query parameters of GET /v1/search into a validated
// request. Every error is a *query.InvalidError naming the parameter; it
// never panics, whatever the input.
//
// Rules beyond the contract, chosen so that mistakes are visible:
//   - an unknown parameter name is rejected (code unknown_parameter), so a
//     typo such as "prise_max" does not silently widen the search;
//   - a single-valued parameter given twice is rejected (repeated_parameter);
//   - an empty value is the same as leaving the parameter out (HTML forms
//     send empty fields);
//   - values must be valid UTF-8;
//   - facets may be repeated as well as comma separated; blanks are skipped.
func ParseSearch(v url.Values) (*query.Request, error) { return parseRequest(v, &searchParams) }

// parseRequest is ParseSearch for the parameters of set.
func parseRequest(v url.Values, set *paramSet) (*query.Request, error) {
	if err := checkNames(v, set); err != nil {
		return nil, err
	}
	for name, vals := range v {
		for _, s := range vals {
			if !utf8.ValidString(s) {
				return nil, bad("invalid_encoding", name, "value is not valid UTF-8")
			}
		}
	}
	var req query.Request
	var err error
	single := func(name string) string {
		if err != nil {
			return ""
		}
		var s string
		s, err = singleValue(v, name)
		return s
	}

	req.Query = single(paramQuery)
	req.Filters.Brands = multi(v, paramBrand)
	req.Filters.Sizes = multi(v, paramSize)
	req.Filters.Conditions = multi(v, paramCondition)
	req.Filters.Colors = multi(v, paramColor)
	if c := single(paramCategory); c != "" {
		req.Filters.Category = strings.Split(strings.Trim(c, "/"), "/")
	}
	if s := single(paramPriceMin); s != "" && err == nil {
		req.Filters.PriceMin, err = parseCents(paramPriceMin, s)
	}
	if s := single(paramPriceMax); s != "" && err == nil {
		req.Filters.PriceMax, err = parseCents(paramPriceMax, s)
	}
	if s := single(paramSort); err == nil {
		if set.sort != nil {
			req.Sort, err = set.sort(s)
		} else {
			req.Sort, err = parseSort(s)
		}
	}
	if s := single(paramLimit); s != "" && err == nil {
		req.Limit, err = parseLimit(s)
	}
	req.Cursor = single(paramCursor)
	if err == nil {
		req.Facets, err = parseFacets(v[paramFacets])
	}
	if s := single(paramFacetLim); s != "" && err == nil {
		req.FacetLimit, err = parseBounded(paramFacetLim, s, query.MaxFacetLimit)
	}
	req.User = single(paramUser)
	if err != nil {
		return nil, err
	}
	if len(req.User) > rummage.MaxIDLen {
		return nil, bad("invalid_value", paramUser, "must be at most %d bytes", rummage.MaxIDLen)
	}
	// A surface's own sort (the party feed's "party") is not a search
	// sort: validate the rest.
	probe := req
	if set.sort != nil {
		probe.Sort = ""
	}
	if err := probe.Validate(); err != nil {
		return nil, err
	}
	return &req, nil
}

func bad(code, field, format string, args ...any) *query.InvalidError {
	return &query.InvalidError{Code: code, Field: field, Message: fmt.Sprintf(format, args...)}
}

// checkNames rejects parameter names set does not take, reporting the first
// in sorted order so the answer does not depend on map order.
func checkNames(v url.Values, set *paramSet) error {
	var unknown []string
	for name := range v {
		if !slices.Contains(set.names, name) {
			unknown = append(unknown, name)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	sort.Strings(unknown)
	name := truncate(unknown[0], maxEcho)
	return bad("unknown_parameter", name, "unknown parameter %q; use %s or %s", name,
		strings.Join(set.names[:len(set.names)-1], ", "), set.names[len(set.names)-1])
}

// truncate cuts s to at most n bytes on a rune boundary, and makes it valid
// UTF-8 so it can be echoed in JSON unchanged.
func truncate(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// singleValue returns the one value of a single-valued parameter. Empty
// repetitions are ignored, so "limit=&limit=10" is fine.
func singleValue(v url.Values, name string) (string, error) {
	var out string
	n := 0
	for _, s := range v[name] {
		if s == "" {
			continue
		}
		out = s
		n++
	}
	if n > 1 {
		return "", bad("repeated_parameter", name, "must be given at most once")
	}
	return out, nil
}

// multi returns the non-empty values of a repeatable parameter.
func multi(v url.Values, name string) []string {
	var out []string
	for _, s := range v[name] {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

func parseCents(name, s string) (*int64, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return nil, bad("invalid_price", name, "must be a whole number of cents (2500 for $25.00), got %q", truncate(s, maxEcho))
	}
	return &n, nil
}

func parseLimit(s string) (int, error) { return parseBounded(paramLimit, s, query.MaxLimit) }

// parseBounded reads a whole number between 1 and max.
func parseBounded(name, s string, max int) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > max {
		return 0, bad("invalid_limit", name, "must be a whole number between 1 and %d, got %q", max, truncate(s, maxEcho))
	}
	return n, nil
}

func parseFacets(vals []string) ([]query.Facet, error) {
	var out []query.Facet
	for _, s := range vals {
		for _, f := range strings.Split(s, ",") {
			f = strings.TrimSpace(f)
			if f == "" {
				continue
			}
			if !slices.Contains(query.Facets(), query.Facet(f)) {
				return nil, bad("invalid_facet", paramFacets, "unknown facet %q; use any of brand,category,size,condition,color,price", truncate(f, maxEcho))
			}
			if slices.Contains(out, query.Facet(f)) {
				return nil, bad("invalid_facet", paramFacets, "facet %q is listed twice", f)
			}
			out = append(out, query.Facet(f))
		}
	}
	return out, nil
}

func parseSort(s string) (query.Sort, error) {
	if s != "" && !slices.Contains(query.Sorts(), query.Sort(s)) {
		return "", bad("invalid_sort", paramSort, "unknown sort %q; use relevance, newest, price_asc, price_desc or recently_shared", truncate(s, maxEcho))
	}
	return query.Sort(s), nil
}
