package events

import (
	"context"
	"net/url"
	"slices"
	"strings"
)

// Answer is what the serving layer learns of one listing-list answer, for
// its impression. The API puts one on the request's context
// (WithAnswer); whoever writes the list — the handler on an origin
// answer, the response cache on a hit — sets Total and IDs and writes
// QueryID into the body, outside any cached bytes.
type Answer struct {
	QueryID string
	Total   int
	IDs     []string
	Cached  bool
	Written bool // a list was written (an error answer records nothing)
}

type answerKey struct{}

// WithAnswer carries a on ctx.
func WithAnswer(ctx context.Context, a *Answer) context.Context {
	return context.WithValue(ctx, answerKey{}, a)
}

// AnswerFrom returns the answer on ctx, nil without one (or after
// WithoutAnswer).
func AnswerFrom(ctx context.Context) *Answer {
	a, _ := ctx.Value(answerKey{}).(*Answer)
	return a
}

// WithoutAnswer hides the answer of ctx: a cache fill, shared by the
// callers it serves, writes no query id into the bytes it stores.
func WithoutAnswer(ctx context.Context) context.Context {
	if AnswerFrom(ctx) == nil {
		return ctx
	}
	return context.WithValue(ctx, answerKey{}, (*Answer)(nil))
}

// NormalizeQuery is the query text as the rollups key it: lower case,
// spaces collapsed.
func NormalizeQuery(q string) string {
	return strings.Join(strings.Fields(strings.ToLower(q)), " ")
}

// perRequest are the parameters that do not change which listings an
// answer lists: they stay out of an impression's filters.
var perRequest = []string{"q", "user", "cursor", "limit", "facets"}

// Filters is the canonical form of a request's filters (its parameters
// but the query text, the user, the cursor, the limit and the facets),
// names and values sorted.
func Filters(v url.Values) string {
	if len(v) == 0 {
		return ""
	}
	w := url.Values{}
	for k, vs := range v {
		if slices.Contains(perRequest, k) {
			continue
		}
		vs = slices.Clone(vs)
		slices.Sort(vs)
		w[k] = vs
	}
	return w.Encode()
}
