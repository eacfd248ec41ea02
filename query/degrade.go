package query

import "context"

// Degradation is what a request may give up to stay cheap under load. The
// serving layer (package serve/admit) decides it and puts it on the
// request's context; the API applies it to the parsed Request before
// retrieval and reports what was given up in the answer ("degraded").
// A degraded answer must never be cached (the API marks it with a response
// header, api.HeaderDegraded).
type Degradation struct {
	// DropFacets answers without facet counts.
	DropFacets bool
	// MaxLimit caps the page size; 0 means no cap.
	MaxLimit int
}

// What a degraded answer gave up, as reported in its "degraded" list.
const (
	DegradedFacets = "facets"
	DegradedLimit  = "limit"
	// DegradedPersonalization: a personalized search answered with the
	// anonymous order (package serve/personal skips its re-ranking).
	DegradedPersonalization = "personalization"
)

// HeaderDegraded is the response header naming, on an answer, what it gave
// up under load ("limit, facets"): a cache must not store an answer that
// carries it (api.HeaderDegraded).
const HeaderDegraded = "Rummage-Degraded"

type degradationKey struct{}

// WithDegradation returns ctx carrying d.
func WithDegradation(ctx context.Context, d Degradation) context.Context {
	return context.WithValue(ctx, degradationKey{}, d)
}

// DegradationFrom returns the degradation ctx carries (the zero value, none,
// when it carries none).
func DegradationFrom(ctx context.Context) Degradation {
	d, _ := ctx.Value(degradationKey{}).(Degradation)
	return d
}

// Apply changes req as d allows and returns what it gave up (DegradedLimit,
// DegradedFacets, in that order: the order of the serving layer's steps),
// nil when the request was already within d: a request that asked for no
// facets loses nothing by DropFacets.
func (d Degradation) Apply(req *Request) []string {
	var gave []string
	if d.MaxLimit > 0 {
		if req.EffectiveLimit() > d.MaxLimit {
			req.Limit = d.MaxLimit
			gave = append(gave, DegradedLimit)
		}
	}
	if d.DropFacets && len(req.Facets) > 0 {
		req.Facets = nil
		gave = append(gave, DegradedFacets)
	}
	return gave
}
