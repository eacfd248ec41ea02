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

// Known is what the rollups keep of an answer's query id (table
// analytics_query_ids): its query, surface and party, its total and how
// many listings it showed, and how many view events named it so far.
type Known struct {
	Query   string
	Surface string
	PartyID string
	Total   int // -1: unknown (recorded before migration 0007)
	Shown   int
	Views   int64
}

type queryID struct {
	Known
	at time.Time
}

// keepsQueryID reports whether e is an impression whose query id the
// rollups keep: a search or party answer, the ones a CDN may serve again.
func keepsQueryID(e *events.Event) bool {
	return e.Type == events.Impression && e.QueryID != "" && (e.Surface == "search" || e.Surface == "party")
}

// Delta is what a batch of events adds to the rollups.
type Delta struct {
	queries      map[queryKey]*queryRow
	positions    map[positionKey]*positionRow
	parties      map[partyKey]*partyRow
	drops        map[dropKey]*dropRow
	experiments  map[experimentKey]*experimentRow
	queryIDs     map[string]queryID // the search and party impressions of the batch
	views        map[string]int64   // views per known query id in the batch
	Events       int
	Unattributed int // clicks, carts and purchases whose query_id names no known answer
	// Served is the views counted as an answer a CDN served (a search or
	// party answer's views after its first); UnknownViews the views whose
	// query_id names no known answer (counted on their party alone).
	Served       int
	UnknownViews int
}

func newDelta() *Delta {
	return &Delta{queries: map[queryKey]*queryRow{}, positions: map[positionKey]*positionRow{}, parties: map[partyKey]*partyRow{},
		drops: map[dropKey]*dropRow{}, experiments: map[experimentKey]*experimentRow{}, queryIDs: map[string]queryID{},
		views: map[string]int64{}}
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
// their answers (NeedQueryIDs says which to look up).
//
// A view event naming a search or party answer's query id stands for one
// showing of that answer. The origin recorded an impression for the answer
// it served; a CDN that kept the answer's bytes serves them, query id
// included, to later shoppers, and only their views reach Rummage. So the
// first view of a query id is the origin's answer (already counted by its
// impression), and every later one counts as the answer it stands for: a
// search of its query (a zero result when it found nothing, an impression
// of each position it showed), or an impression of its party, at the
// view's minute. Each front end posts one view per answer shown, whoever
// served it; a view whose query id is not known yet (its impression not
// rolled up) counts on its party alone.
func Aggregate(evs []events.Event, known map[string]Known) *Delta {
	d := newDelta()
	for i := range evs {
		if e := &evs[i]; keepsQueryID(e) {
			d.queryIDs[e.QueryID] = queryID{Known: Known{Query: e.Query, Surface: e.Surface, PartyID: e.PartyID, Total: e.Total, Shown: len(e.IDs)}, at: e.At.UTC()}
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

// answer is the known answer of a query id: this batch's or an earlier
// one's.
func (d *Delta) answer(id string, known map[string]Known) (Known, bool) {
	if qi, in := d.queryIDs[id]; in {
		return qi.Known, true
	}
	k, in := known[id]
	return k, in
}

// served counts a view of a known answer: after the answer's first view,
// as the search or party answer a CDN served.
func (d *Delta) served(minute time.Time, id string, a Known) {
	before := a.Views + d.views[id] // a.Views is 0 for this batch's own answers
	d.views[id]++
	if before == 0 {
		return // the origin's answer: its impression counted it
	}
	d.Served++
	switch a.Surface {
	case "search":
		r := d.query(minute, a.Query)
		r.searches++
		if a.Total == 0 {
			r.zero++
		}
		for p := 1; p <= min(a.Shown, MaxPosition); p++ {
			d.position(minute, a.Query, p).impressions++
		}
	case "party":
		d.party(minute, a.PartyID).impressions++
	}
}

func (d *Delta) add(e *events.Event, known map[string]Known) {
	at := e.At.UTC()
	minute := at.Truncate(time.Minute)
	partyID, surface := e.PartyID, e.Surface
	// The answer this event is about: its query, its party.
	var a Known
	found := false
	if e.Type != events.Impression && e.QueryID != "" {
		if a, found = d.answer(e.QueryID, known); found && a.Surface == "party" && partyID == "" {
			partyID, surface = a.PartyID, "party"
		}
	}
	switch e.Type {
	case events.Impression:
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
	case events.View:
		switch {
		case found:
			d.served(minute, e.QueryID, a)
		case e.QueryID != "" && (e.Surface == "" || e.Surface == "search" || e.Surface == "party"):
			// Only these answers are kept: the per-user feeds' are never
			// served by a CDN, and their views are not unknown ones.
			d.UnknownViews++
		}
	case events.Click, events.AddToCart, events.Purchase:
		switch {
		case found && a.Surface == "search":
			r := d.query(minute, a.Query)
			switch e.Type {
			case events.Click:
				r.clicks++
				if e.Position >= 1 && e.Position <= MaxPosition {
					d.position(minute, a.Query, e.Position).clicks++
				}
			case events.AddToCart:
				r.carts++
			case events.Purchase:
				r.purchases++
			}
		case !found && e.QueryID != "":
			d.Unattributed++
		}
	}
	// The party.
	if partyID != "" && (surface == "party" || surface == "" || e.Type == events.Impression) {
		r := d.party(minute, partyID)
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
