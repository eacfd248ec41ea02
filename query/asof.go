package query

import (
	"context"
	"time"
)

type asOfKey struct{}

// WithAsOf returns ctx asking that the request be answered as of t rather
// than the clock: the serving cache computes a drop's (or a party
// boundary's) answers a few seconds ahead and switches them in at t. Only
// code in the process sets it; no request parameter does.
func WithAsOf(ctx context.Context, t time.Time) context.Context {
	return context.WithValue(ctx, asOfKey{}, t)
}

// AsOfFrom returns the instant ctx asks for (false: the clock's).
func AsOfFrom(ctx context.Context) (time.Time, bool) {
	t, ok := ctx.Value(asOfKey{}).(time.Time)
	return t, ok
}
