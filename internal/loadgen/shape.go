package loadgen

import (
	"math"
	"sort"
	"time"
)

// Shape is an offered arrival rate (requests a second) as a function of the
// time since the run began.
type Shape interface {
	Rate(t time.Duration) float64
}

// Constant is a flat rate.
type Constant float64

// Rate implements Shape.
func (c Constant) Rate(time.Duration) float64 { return float64(c) }

// Wave is a push-notification wave: Base until At, then a step to
// Base×Mult that decays back to Base exponentially with time constant Tau.
type Wave struct {
	Base float64
	At   time.Duration
	Mult float64
	Tau  time.Duration
}

// Rate implements Shape.
func (w Wave) Rate(t time.Duration) float64 {
	if t < w.At {
		return w.Base
	}
	return w.Base * (1 + (w.Mult-1)*math.Exp(-float64(t-w.At)/float64(w.Tau)))
}

// Peak is the rate right at the step.
func (w Wave) Peak() float64 { return w.Base * w.Mult }

// Drop is the arrival curve of shoppers waiting for a drop at T0: they
// arrive over Ramp before T0 (linearly, from T0-Ramp) and refresh every
// Think until T0; at T0 each opens listing pages every AfterThink, and
// they leave with time constant Leave. Shoppers is how many come.
type Drop struct {
	Shoppers   float64
	T0, Ramp   time.Duration
	Think      time.Duration
	AfterThink time.Duration
	Leave      time.Duration
}

// Present is the number of shoppers there at t.
func (d Drop) Present(t time.Duration) float64 {
	if t >= d.T0 {
		return d.Shoppers * math.Exp(-float64(t-d.T0)/float64(d.Leave))
	}
	start := d.T0 - d.Ramp
	if t <= start {
		return 0
	}
	return d.Shoppers * float64(t-start) / float64(d.Ramp)
}

// Rate implements Shape: the shoppers present over their think time.
func (d Drop) Rate(t time.Duration) float64 {
	think := d.Think
	if t >= d.T0 {
		think = d.AfterThink
	}
	return d.Present(t) / think.Seconds()
}

// ShoppersFor is the shopper count whose peak rate (at T0) is peak:
// rate × think time.
func ShoppersFor(peak float64, afterThink time.Duration) float64 { return peak * afterThink.Seconds() }

// step is the resolution of a Schedule's integral.
const step = time.Millisecond

// Schedule is the cumulative count of arrivals a shape offers over a run:
// Hits(t) = ∫₀ᵗ rate. Arrival j (from 0) is due when Hits reaches j + ½,
// so a run offers Arrivals() = round(Total) of them. It paces vegeta (it
// is a vegeta.Pacer), alone or split over several attackers (Split), and
// is the "offered" of the report.
type Schedule struct {
	shape          Shape
	du             time.Duration
	cum            []float64 // cum[i] = hits offered by i×step
	stride, offset uint64    // this pacer issues arrivals offset, offset+stride, …
}

// NewSchedule integrates shape over [0, du] (trapezoids of a millisecond).
func NewSchedule(shape Shape, du time.Duration) *Schedule {
	n := int(du/step) + 1
	cum := make([]float64, n)
	prev := shape.Rate(0)
	for i := 1; i < n; i++ {
		r := shape.Rate(time.Duration(i) * step)
		cum[i] = cum[i-1] + (prev+r)/2*step.Seconds()
		prev = r
	}
	return &Schedule{shape: shape, du: du, cum: cum, stride: 1}
}

// Split returns the pacer of the i-th of n attackers sharing s: it issues
// every n-th arrival from the i-th, so that together they issue s's.
func (s *Schedule) Split(i, n int) *Schedule {
	c := *s
	c.stride, c.offset = uint64(n), uint64(i)
	return &c
}

// Hits is the number of arrivals offered by t.
func (s *Schedule) Hits(t time.Duration) float64 {
	if t <= 0 {
		return 0
	}
	i := int(t / step)
	if i >= len(s.cum)-1 {
		return s.cum[len(s.cum)-1]
	}
	frac := float64(t-time.Duration(i)*step) / float64(step)
	return s.cum[i] + frac*(s.cum[i+1]-s.cum[i])
}

// Total is the integral of the rate over the run.
func (s *Schedule) Total() float64 { return s.cum[len(s.cum)-1] }

// Arrivals is the number of arrivals the run offers, round(Total).
func (s *Schedule) Arrivals() uint64 { return uint64(s.Total() + 0.5) }

// due is when arrival j is due.
func (s *Schedule) due(j uint64) time.Duration {
	return time.Duration(sort.SearchFloat64s(s.cum, float64(j)+0.5)) * step
}

// Pace implements vegeta.Pacer: this pacer's hits-th arrival is due at
// its instant; no wait once that has passed; stop after the last.
func (s *Schedule) Pace(elapsed time.Duration, hits uint64) (time.Duration, bool) {
	j := hits*s.stride + s.offset
	if j >= s.Arrivals() {
		return 0, true
	}
	if at := s.due(j); at > elapsed {
		return at - elapsed, false
	}
	return 0, false
}

// Rate implements vegeta.Pacer.
func (s *Schedule) Rate(elapsed time.Duration) float64 {
	return s.shape.Rate(elapsed) / float64(s.stride)
}
