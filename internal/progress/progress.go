// Package progress logs the progress of long operations (building an index,
// loading a catalog, copying rows into Postgres) in one shape everywhere:
// every few seconds a line with what is done, the total and the percent when
// the total is known, the rate so far and the time left.
//
// It is plumbing and imports no Rummage package.
package progress

import (
	"log/slog"
	"sync"
	"time"
)

// DefaultInterval is how often a Reporter logs at most.
const DefaultInterval = 2 * time.Second

// Reporter logs one operation's progress. Its methods are safe for
// concurrent use; a nil *Reporter, or one with a nil logger, logs nothing.
type Reporter struct {
	log      *slog.Logger
	msg      string
	interval time.Duration
	now      func() time.Time

	mu          sync.Mutex
	total       int64
	start, last time.Time
}

// New returns a reporter whose lines say msg; total is the expected count,
// 0 when unknown. The clock starts now.
func New(log *slog.Logger, msg string, total int64) *Reporter {
	r := &Reporter{log: log, msg: msg, interval: DefaultInterval, now: time.Now, total: total}
	r.start = r.now()
	r.last = r.start
	return r
}

// SetTotal sets the expected count once it is known.
func (r *Reporter) SetTotal(total int64) {
	if r == nil {
		return
	}
	r.mu.Lock()
	r.total = total
	r.mu.Unlock()
}

// Report logs done (with attrs, slog key-value pairs) when the interval has
// passed since the last line. It is cheap when it does not log: call it as
// often as is convenient.
func (r *Reporter) Report(done int64, attrs ...any) {
	if r == nil || r.log == nil {
		return
	}
	r.mu.Lock()
	now := r.now()
	if now.Sub(r.last) < r.interval {
		r.mu.Unlock()
		return
	}
	r.last = now
	line := r.attrs(now, done, false)
	r.mu.Unlock()
	r.log.Info(r.msg, append(line, attrs...)...)
}

// Done logs the final line: done, the rate over the whole operation and how
// long it took.
func (r *Reporter) Done(done int64, attrs ...any) {
	if r == nil || r.log == nil {
		return
	}
	r.mu.Lock()
	line := r.attrs(r.now(), done, true)
	r.mu.Unlock()
	r.log.Info(r.msg, append(line, attrs...)...)
}

// attrs is the shape of every line. mu is held.
func (r *Reporter) attrs(now time.Time, done int64, final bool) []any {
	el := now.Sub(r.start)
	a := []any{"done", done}
	if r.total > 0 {
		a = append(a, "total", r.total, "percent", int(100*done/r.total))
	}
	rate := 0.0
	if s := el.Seconds(); s > 0 {
		rate = float64(done) / s
	}
	a = append(a, "per_second", int(rate))
	switch {
	case final:
		a = append(a, "took", el.Round(time.Millisecond))
	case r.total > done && rate > 0:
		a = append(a, "eta", (time.Duration(float64(r.total-done)/rate) * time.Second).Round(time.Second))
	}
	return a
}
