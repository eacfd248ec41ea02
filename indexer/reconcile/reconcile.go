package reconcile

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rummage/rummage"
	"github.com/rummage/rummage/indexer"
	"github.com/rummage/rummage/query"
)

// Index is what reconcile reads from a search index: query.Backend's Get.
type Index interface {
	Get(ctx context.Context, id string) (*rummage.Listing, error)
}

// IDLister is the optional capability of listing every live document of an
// index (embedded.Index has it). Without it, documents whose row is gone
// cannot be found and Report.ExtraChecked is false.
//
// IDs calls fn for every live document, in any order, and stops with fn's
// error. It must not hold locks that fn's calls to Get need.
type IDLister interface {
	IDs(ctx context.Context, fn func(id string, version uint64) error) error
}

// Querier runs a query: a *pgx.Conn, a pgxpool.Pool or a pgx.Tx.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// Kind is the kind of a difference.
type Kind string

// The kinds of difference.
const (
	Missing Kind = "missing" // the row is in Postgres, not in the index
	Extra   Kind = "extra"   // the document is in the index, its row is not in Postgres
	Stale   Kind = "stale"   // both exist and their content differs
)

// FieldDiff is one field whose values differ, as canonical JSON; an absent
// value is empty.
type FieldDiff struct {
	Field    string
	Postgres json.RawMessage
	Index    json.RawMessage
}

// Difference is one listing that is not in sync.
type Difference struct {
	Kind   Kind
	ID     string
	Fields []FieldDiff // for Stale
	// Note explains a difference that is expected, e.g. a row the indexer
	// sends to the dead-letter topic because it fails validation.
	Note string
}

// String renders the difference on one line: kind, id, then the fields.
func (d Difference) String() string {
	var b strings.Builder
	b.WriteString(string(d.Kind))
	b.WriteByte(' ')
	b.WriteString(d.ID)
	for i, f := range d.Fields {
		if i == 0 {
			b.WriteByte(' ')
		} else {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "%s: postgres=%s index=%s", f.Field, orAbsent(f.Postgres), orAbsent(f.Index))
	}
	if d.Note != "" {
		b.WriteString(" (")
		b.WriteString(d.Note)
		b.WriteByte(')')
	}
	return b.String()
}

func orAbsent(v json.RawMessage) string {
	if len(v) == 0 {
		return "(absent)"
	}
	return string(v)
}

// Options tune Run. Zero fields take the defaults noted.
type Options struct {
	// Table is the listings table, "table" or "schema.table" (default
	// "listings").
	Table string
	// Keep is how many differences Report.Differences keeps (default 100;
	// negative keeps none). All of them are counted.
	Keep int
	// OnDifference, when set, is called with every difference as it is found.
	OnDifference func(Difference)
	// Batch is how many index ids one existence query checks in the extra
	// pass (default 1000).
	Batch int
	// Counters compares like_count, share_count and last_shared_at with
	// what DESIGN.md defines them as: count(*) of the listing's likes and
	// shares rows and their latest created_at, to the millisecond as the
	// signals stores keep it (the likes and shares tables
	// of Table's schema). The listing row carries no counters since
	// migration 0004: the indexer derives them from its signals store. Off,
	// the counters are left out of the comparison: set it for an index
	// whose indexer runs with a signals store.
	Counters bool
}

// Report is the outcome of Run.
type Report struct {
	Rows    int64 // rows read from Postgres
	Indexed int64 // live documents listed by the index (when ExtraChecked)

	Missing, Extra, Stale int64
	// ExtraChecked is false when the index cannot list its documents
	// (no IDLister), so Extra was not looked for.
	ExtraChecked bool
	// Differences are the first Options.Keep differences found: missing and
	// stale in id order, then extra.
	Differences []Difference
}

// Total is the number of differences.
func (r *Report) Total() int64 { return r.Missing + r.Extra + r.Stale }

// InSync reports whether no difference was found.
func (r *Report) InSync() bool { return r.Total() == 0 }

// Summary is a one-line account of the report.
func (r *Report) Summary() string {
	extra := fmt.Sprint(r.Extra)
	if !r.ExtraChecked {
		extra = "not checked (the index cannot list its documents)"
	}
	return fmt.Sprintf("rows %d, indexed %d: missing %d, extra %s, stale %d", r.Rows, r.Indexed, r.Missing, extra, r.Stale)
}

func (o Options) withDefaults() Options {
	if o.Table == "" {
		o.Table = indexer.ListingsTable
	}
	if o.Keep == 0 {
		o.Keep = 100
	}
	if o.Batch <= 0 {
		o.Batch = 1000
	}
	return o
}

// Run compares every row of the listings table with the index: first every
// row in id order (Get on the index), then, when the index is an IDLister,
// every document of the index (does its row exist?). It returns an error
// only when Postgres or the index fails; differences are in the report.
func Run(ctx context.Context, db Querier, index Index, opts Options) (*Report, error) {
	opts = opts.withDefaults()
	table, err := tableIdent(opts.Table)
	if err != nil {
		return nil, err
	}
	rep := &Report{}
	found := func(d Difference) {
		switch d.Kind {
		case Missing:
			rep.Missing++
		case Extra:
			rep.Extra++
		case Stale:
			rep.Stale++
		}
		if opts.Keep > 0 && len(rep.Differences) < opts.Keep {
			rep.Differences = append(rep.Differences, d)
		}
		if opts.OnDifference != nil {
			opts.OnDifference(d)
		}
	}
	if err := compareRows(ctx, db, table, opts.Counters, index, rep, found); err != nil {
		return rep, err
	}
	if ids, ok := index.(IDLister); ok {
		rep.ExtraChecked = true
		if err := findExtra(ctx, db, table, ids, opts.Batch, rep, found); err != nil {
			return rep, err
		}
	}
	return rep, nil
}

// sibling is the quoted table name in the schema of the quoted table
// ("schema"."listings" → "schema"."likes").
func sibling(table, name string) string {
	if i := strings.LastIndex(table, "."); i >= 0 {
		return table[:i+1] + pgx.Identifier{name}.Sanitize()
	}
	return pgx.Identifier{name}.Sanitize()
}

func ptr[T any](v T) *T { return &v }

// tableIdent quotes "table" or "schema.table".
func tableIdent(name string) (string, error) {
	parts := strings.Split(name, ".")
	if len(parts) > 2 || slices.Contains(parts, "") {
		return "", fmt.Errorf("reconcile: table %q: want table or schema.table", name)
	}
	return pgx.Identifier(parts).Sanitize(), nil
}

// compareRows streams the rows as JSON (to_jsonb: timestamptz as ISO 8601,
// text[] as arrays, jsonb inline, bigint as numbers — forms DecodeListing
// reads like the CDC's) and compares each with the index; with counters,
// each row's counts of likes and shares are joined in as its counters.
func compareRows(ctx context.Context, db Querier, table string, counters bool, index Index, rep *Report, found func(Difference)) error {
	sql := "SELECT t.id::text, to_jsonb(t) FROM " + table + " t ORDER BY t.id"
	if counters {
		likes, shares := sibling(table, "likes"), sibling(table, "shares")
		sql = `SELECT t.id::text, to_jsonb(t) || jsonb_build_object('like_count', coalesce(k.c, 0),
				'share_count', coalesce(s.c, 0), 'last_shared_at', s.m)
			FROM ` + table + ` t
			LEFT JOIN (SELECT listing_id, count(*) c FROM ` + likes + ` GROUP BY 1) k ON k.listing_id = t.id
			LEFT JOIN (SELECT listing_id, count(*) c, date_trunc('milliseconds', max(created_at)) m FROM ` + shares + ` GROUP BY 1) s ON s.listing_id = t.id
			ORDER BY t.id`
	}
	rows, err := db.Query(ctx, sql)
	if err != nil {
		return fmt.Errorf("reconcile: read %s: %w", table, err)
	}
	defer rows.Close()
	var id string
	var raw []byte
	for rows.Next() {
		if err := rows.Scan(&id, &raw); err != nil {
			return fmt.Errorf("reconcile: read %s: %w", table, err)
		}
		rep.Rows++
		want, derr := indexer.DecodeListing(raw)
		if derr == nil {
			derr = want.Validate()
		}
		got, err := index.Get(ctx, id)
		switch {
		case errors.Is(err, query.ErrNotFound):
			d := Difference{Kind: Missing, ID: id}
			if derr != nil {
				d.Note = "the row does not map to a valid document, so the indexer dead-letters it: " + derr.Error()
			}
			found(d)
			continue
		case err != nil:
			return fmt.Errorf("reconcile: index get %s: %w", id, err)
		}
		if derr != nil {
			found(Difference{Kind: Stale, ID: id, Note: "the row does not map to a valid document: " + derr.Error()})
			continue
		}
		if !counters {
			c := query.CountersOf(&want)
			got = ptr(*got)
			c.Set(got)
		}
		fields, err := Diff(&want, got)
		if err != nil {
			return fmt.Errorf("reconcile: compare %s: %w", id, err)
		}
		if len(fields) > 0 {
			found(Difference{Kind: Stale, ID: id, Fields: fields})
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("reconcile: read %s: %w", table, err)
	}
	return nil
}

// findExtra lists the index's documents and asks Postgres, a batch at a
// time, which of their rows exist.
func findExtra(ctx context.Context, db Querier, table string, ids IDLister, batch int, rep *Report, found func(Difference)) error {
	pending := make([]string, 0, batch)
	flush := func() error {
		if len(pending) == 0 {
			return nil
		}
		rows, err := db.Query(ctx, "SELECT id::text FROM "+table+" WHERE id::text = ANY($1)", pending)
		if err != nil {
			return fmt.Errorf("reconcile: look up ids: %w", err)
		}
		exists := make(map[string]bool, len(pending))
		var id string
		for rows.Next() {
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return fmt.Errorf("reconcile: look up ids: %w", err)
			}
			exists[id] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("reconcile: look up ids: %w", err)
		}
		slices.Sort(pending)
		for _, id := range pending {
			if !exists[id] {
				found(Difference{Kind: Extra, ID: id})
			}
		}
		pending = pending[:0]
		return nil
	}
	err := ids.IDs(ctx, func(id string, _ uint64) error {
		rep.Indexed++
		pending = append(pending, id)
		if len(pending) == batch {
			return flush()
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("reconcile: list index: %w", err)
	}
	return flush()
}

// Diff compares two documents by their canonical JSON, after normalizing
// both (Listing.Normalize, times in UTC), and returns the fields that
// differ, by name.
func Diff(want, got *rummage.Listing) ([]FieldDiff, error) {
	a, err := canonical(want)
	if err != nil {
		return nil, err
	}
	b, err := canonical(got)
	if err != nil {
		return nil, err
	}
	var out []FieldDiff
	for k, av := range a {
		if bv, ok := b[k]; !ok || !bytes.Equal(av, bv) {
			out = append(out, FieldDiff{Field: k, Postgres: av, Index: bv})
		}
	}
	for k, bv := range b {
		if _, ok := a[k]; !ok {
			out = append(out, FieldDiff{Field: k, Index: bv})
		}
	}
	slices.SortFunc(out, func(x, y FieldDiff) int { return strings.Compare(x.Field, y.Field) })
	return out, nil
}

func canonical(l *rummage.Listing) (map[string]json.RawMessage, error) {
	c := *l
	c.Normalize()
	c.CreatedAt, c.UpdatedAt = c.CreatedAt.UTC(), c.UpdatedAt.UTC()
	c.AvailableAt, c.LastSharedAt = utc(c.AvailableAt), utc(c.LastSharedAt)
	b, err := json.Marshal(&c)
	if err != nil {
		return nil, err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	return m, nil
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}
