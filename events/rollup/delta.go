package rollup

import (
	"strings"
	"time"

	"github.com/axiomhq/hyperloglog"

	"github.com/rummage/rummage/events"
)

// MaxPosition is the deepest position CTR by position is kept for.
const MaxPosition = 20

type queryKey struct {
	minute time.Time
	query  string
}

type queryRow struct{ searches, zero, clicks, carts, purchases int64 }

type positionKey struct {
	minute time.Time
	query  string
	pos    int
}

type positionRow struct{ impressions, clicks int64 }

type partyKey struct {
	minute time.Time
	party  string
}

type partyRow struct {
	views, impressions, clicks, shares, carts, purchases int64
	viewers                                              *hyperloglog.Sketch
}

type dropKey struct {
	second  time.Time
	listing string
}

type dropRow struct{ arrivals, clicks, carts, purchases int64 }

type experimentKey struct {
	day                          time.Time
	experiment, variant, subject string
}

type experimentRow struct{ impressions, clicks, purchases int64 }

type queryID struct {
	query string
	at    time.Time
}

// Delta is what a batch of events adds to the rollups.
type Delta struct {
	queries      map[queryKey]*queryRow
	positions    map[positionKey]*positionRow
	parties      map[partyKey]*partyRow
	drops        map[dropKey]*dropRow
	experiments  map[experimentKey]*experimentRow
	queryIDs     map[string]queryID // the search impressions of the batch
	Events       int
	Unattributed int // clicks, carts and purchases whose query_id is unknown
}

func newDelta() *Delta {
	return &Delta{queries: map[queryKey]*queryRow{}, positions: map[positionKey]*positionRow{}, parties: map[partyKey]*partyRow{},
		drops: map[dropKey]*dropRow{}, experiments: map[experimentKey]*experimentRow{}, queryIDs: map[string]queryID{}}
}

// NeedQueryIDs returns the query ids the non-impression events of evs
// name and the batch's own impressions do not: the store resolves them.
func NeedQueryIDs(evs []events.Event) []string {
	own := map[string]bool{}
	for i := range evs {
		if evs[i].Type == events.Impression {
			own[evs[i].QueryID] = true
		}
	}
	seen := map[string]bool{}
	var out []string
	for i := range evs {
		e := &evs[i]
		if e.Type != events.Impression && e.QueryID != "" && !own[e.QueryID] && !seen[e.QueryID] {
			seen[e.QueryID] = true
			out = append(out, e.QueryID)
		}
	}
	return out
}

// Aggregate rolls evs up; known maps the query ids of earlier batches to
// their queries (NeedQueryIDs says which to look up).
func Aggregate(evs []events.Event, known map[string]string) *Delta {
	d := newDelta()
	for i := range evs {
		if e := &evs[i]; e.Type == events.Impression && e.Surface == "search" && e.QueryID != "" {
			d.queryIDs[e.QueryID] = queryID{query: e.Query, at: e.At.UTC()}
		}
	}
	for i := range evs {
		d.add(&evs[i], known)
	}
	d.Events = len(evs)
	return d
}

// rowOf is m's row at k, made by fresh when it has none yet.
func rowOf[K comparable, R any](m map[K]*R, k K, fresh func() *R) *R {
	r := m[k]
	if r == nil {
		r = fresh()
		m[k] = r
	}
	return r
}

func (d *Delta) query(minute time.Time, q string) *queryRow {
	return rowOf(d.queries, queryKey{minute, q}, func() *queryRow { return &queryRow{} })
}

func (d *Delta) position(minute time.Time, q string, pos int) *positionRow {
	return rowOf(d.positions, positionKey{minute, q, pos}, func() *positionRow { return &positionRow{} })
}

func (d *Delta) party(minute time.Time, id string) *partyRow {
	return rowOf(d.parties, partyKey{minute, id}, func() *partyRow { return &partyRow{viewers: hyperloglog.New14()} })
}

func (d *Delta) drop(second time.Time, listing string) *dropRow {
	return rowOf(d.drops, dropKey{second, listing}, func() *dropRow { return &dropRow{} })
}

func (d *Delta) experiment(day time.Time, variant, subject string) *experimentRow {
	exp, v, ok := strings.Cut(variant, "/")
	if !ok {
		v = ""
	}
	return rowOf(d.experiments, experimentKey{day, exp, v, subject}, func() *experimentRow { return &experimentRow{} })
}

func (d *Delta) add(e *events.Event, known map[string]string) {
	at := e.At.UTC()
	minute := at.Truncate(time.Minute)
	// The query this event answers to.
	if e.Type == events.Impression {
		if e.Surface == "search" {
			r := d.query(minute, e.Query)
			r.searches++
			if e.Total == 0 {
				r.zero++
			}
			for p := 1; p <= min(len(e.IDs), MaxPosition); p++ {
				d.position(minute, e.Query, p).impressions++
			}
		}
	} else if e.Type == events.Click || e.Type == events.AddToCart || e.Type == events.Purchase {
		q, ok := "", false
		if qi, in := d.queryIDs[e.QueryID]; in {
			q, ok = qi.query, true
		} else if kq, in := known[e.QueryID]; in {
			q, ok = kq, true
		}
		switch {
		case ok:
			r := d.query(minute, q)
			switch e.Type {
			case events.Click:
				r.clicks++
				if e.Position >= 1 && e.Position <= MaxPosition {
					d.position(minute, q, e.Position).clicks++
				}
			case events.AddToCart:
				r.carts++
			case events.Purchase:
				r.purchases++
			}
		case e.QueryID != "":
			d.Unattributed++
		}
	}
	// The party.
	if e.PartyID != "" && (e.Surface == "party" || e.Surface == "" || e.Type == events.Impression) {
		r := d.party(minute, e.PartyID)
		switch e.Type {
		case events.View:
			r.views++
		case events.Impression:
			r.impressions++
		case events.Click:
			r.clicks++
		case events.Share:
			r.shares++
		case events.AddToCart:
			r.carts++
		case events.Purchase:
			r.purchases++
		}
		if e.User != "" && (e.Type == events.View || e.Type == events.Impression || e.Type == events.Click) {
			r.viewers.Insert([]byte(e.User))
		}
	}
	// The drop.
	if e.Surface == "drop" {
		r := d.drop(at.Truncate(time.Second), e.ListingID)
		switch e.Type {
		case events.View:
			r.arrivals++
		case events.Click:
			r.clicks++
		case events.AddToCart:
			r.carts++
		case events.Purchase:
			r.purchases++
		}
	}
	// The experiment, per user.
	if e.Variant != "" && e.User != "" {
		// A user in several experiments carries "exp/variant" of each,
		// joined by "," (experiments.Set.Stamp).
		day := time.Date(at.Year(), at.Month(), at.Day(), 0, 0, 0, 0, time.UTC)
		for _, variant := range strings.Split(e.Variant, ",") {
			switch e.Type {
			case events.Impression:
				d.experiment(day, variant, e.User).impressions++
			case events.Click:
				d.experiment(day, variant, e.User).clicks++
			case events.Purchase:
				d.experiment(day, variant, e.User).purchases++
			}
		}
	}
}
