package feed

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"time"
)

// Event kinds of the schedule.
const (
	EventParty = "party" // a party starts
	EventDrop  = "drop"  // listings become visible
)

// Event is one instant at which traffic is expected to jump: a party's
// start or a drop. Autoscalers pre-scale before At.
type Event struct {
	Kind string    `json:"kind"`
	At   time.Time `json:"at"`
	// Party events: the party, its name and end.
	PartyID string     `json:"party_id,omitempty"`
	Name    string     `json:"name,omitempty"`
	EndsAt  *time.Time `json:"ends_at,omitempty"`
	// Drop events: how many listings become visible.
	Listings int `json:"listings,omitempty"`
}

// Schedule is the events of the next DropsHorizon, soonest first (ties:
// parties before drops, then by party id), with the server's clock.
type Schedule struct {
	ServerTime time.Time `json:"server_time"`
	Events     []Event   `json:"events"`
}

// Schedule lists the upcoming party starts and drop instants after now
// (zero: the clock) within DropsHorizon. A backend that cannot list drops
// contributes parties only.
func (f *Feeds) Schedule(ctx context.Context, now time.Time) (*Schedule, error) {
	if now.IsZero() {
		now = f.cursors().Now()
	}
	out := &Schedule{ServerTime: now, Events: []Event{}}
	ps, err := f.s.Parties(ctx)
	if err != nil {
		return nil, err
	}
	horizon := now.Add(f.cfg.DropsHorizon)
	for i := range ps {
		p := &ps[i]
		if p.StartsAt.After(now) && !p.StartsAt.After(horizon) {
			end := p.EndsAt
			out.Events = append(out.Events, Event{Kind: EventParty, At: p.StartsAt, PartyID: p.ID, Name: p.Name, EndsAt: &end})
		}
	}
	ds, err := f.Drops(ctx, now)
	switch {
	case errors.Is(err, ErrNoDrops):
	case err != nil:
		return nil, err
	default:
		for _, d := range ds.Drops {
			out.Events = append(out.Events, Event{Kind: EventDrop, At: d.At, Listings: d.Count})
		}
	}
	slices.SortFunc(out.Events, func(a, b Event) int {
		if c := a.At.Compare(b.At); c != 0 {
			return c
		}
		if c := cmp.Compare(kindRank(a.Kind), kindRank(b.Kind)); c != 0 {
			return c
		}
		return cmp.Compare(a.PartyID, b.PartyID)
	})
	return out, nil
}

// kindRank orders events at the same instant: parties first.
func kindRank(k string) int {
	if k == EventParty {
		return 0
	}
	return 1
}

// Next returns, per kind, the first event of the schedule (absent: none
// known).
func (s *Schedule) Next() map[string]time.Time {
	next := map[string]time.Time{}
	for _, e := range s.Events {
		if _, ok := next[e.Kind]; !ok {
			next[e.Kind] = e.At
		}
	}
	return next
}
