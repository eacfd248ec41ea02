package indexer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	gojson "github.com/goccy/go-json"

	"github.com/rummage/rummage/indexer/change"
	"github.com/rummage/rummage/internal/stagecpu"
	"github.com/rummage/rummage/signals"
)

// The social tables' rows (DESIGN.md "Social tables"; fixtures/migrations)
// become signals.Change values: one decoder per table, from the row JSON as
// the envelope carries it, with the column decoders of the listings
// (decodeTime, decodeInt, plainString), so the CDC's encoding and
// Debezium's both decode.

// socialDecoders maps each social table to its row decoder. A decoder
// fills the change's row field from row; lenient is set for a delete, where
// only the key columns must decode (a table whose replica identity is its
// key sends nothing else, and a deleted party with a theme that was never
// valid must still be deleted).
var socialDecoders = map[string]func(c *signals.Change, row *columns){
	signals.TableSellers: decodeSeller,
	signals.TableFollows: decodeFollow,
	signals.TableLikes:   decodeLike,
	signals.TableShares:  decodeShare,
	signals.TableParties: decodeParty,
	signals.TableBlocks:  decodeBlock,
}

// IsSocialTable reports whether table's rows are social state, for the
// signals store.
func IsSocialTable(table string) bool { return socialDecoders[table] != nil }

// SocialChange maps an event of a social table to a versioned
// signals.Change: the row after the change, the deleted row for a delete
// (the tables are REPLICA IDENTITY FULL), or a truncate of the table. A row
// that does not decode is an error (a *TransformError): a bad row, which
// the indexer counts, logs with its key and dead-letters.
func SocialChange(e change.Event) (signals.Change, error) {
	c := signals.Change{Version: e.Version(), Delete: e.Op == change.OpDelete}
	dec := socialDecoders[e.Source.Table]
	if dec == nil {
		return c, fmt.Errorf("%w: %q is not a social table", change.ErrInvalid, e.Source.Table)
	}
	if e.Op == change.OpTruncate {
		c.Truncate = e.Source.Table
		return c, nil
	}
	row := e.Row()
	cols := &columns{lenient: c.Delete}
	if isNull(row) {
		return c, &TransformError{Field: "(row)", Err: errors.New("row is null")}
	}
	if err := gojson.Unmarshal(row, &cols.row); err != nil {
		return c, &TransformError{Field: "(row)", Err: fmt.Errorf("not a JSON object: %w", err)}
	}
	dec(&c, cols)
	if cols.err != nil {
		return signals.Change{}, cols.err
	}
	return c, nil
}

func decodeSeller(c *signals.Change, r *columns) {
	s := &signals.Seller{}
	r.text("id", true, &s.ID)
	r.text("username", false, &s.Username)
	r.text("display_name", false, &s.DisplayName)
	r.text("status", false, &s.Status)
	switch s.Status {
	case signals.SellerActive, signals.SellerSuspended:
	case "": // before migration 0003 added the column
		s.Status = signals.SellerActive
	default: // a delete's status does not matter
		r.fail("status", false, fmt.Errorf("want %s or %s, got %q", signals.SellerActive, signals.SellerSuspended, s.Status))
		s.Status = signals.SellerActive
	}
	c.Seller = s
}

func decodeFollow(c *signals.Change, r *columns) {
	f := &signals.Follow{}
	r.edge("follower_id", "seller_id", &f.Follower, &f.Seller, &f.At)
	c.Follow = f
}

func decodeLike(c *signals.Change, r *columns) {
	l := &signals.Like{}
	r.edge("user_id", "listing_id", &l.User, &l.Listing, &l.At)
	c.Like = l
}

func decodeShare(c *signals.Change, r *columns) {
	s := &signals.Share{}
	if v := r.col("id", true); v != nil {
		id, err := decodeInt(v)
		r.fail("id", true, err)
		s.ID = id
	}
	r.text("user_id", false, &s.User)
	r.text("listing_id", false, &s.Listing)
	r.text("party_id", false, &s.Party)
	r.time("created_at", &s.At)
	if !r.lenient && r.err == nil && (s.User == "" || s.Listing == "") {
		r.fail("listing_id", false, errors.New("a share needs user_id and listing_id"))
	}
	c.Share = s
}

func decodeBlock(c *signals.Change, r *columns) {
	b := &signals.Block{}
	r.edge("user_id", "seller_id", &b.User, &b.Seller, &b.At)
	c.Block = b
}

func decodeParty(c *signals.Change, r *columns) {
	p := &signals.Party{}
	r.text("id", true, &p.ID)
	r.text("name", false, &p.Name)
	if v := r.col("theme", false); v != nil {
		// Debezium writes jsonb as a string holding the JSON text
		// (io.debezium.data.Json); the CDC embeds it.
		var s string
		if gojson.Unmarshal(v, &s) == nil {
			v = json.RawMessage(s)
		}
		th, err := signals.ParseTheme(v)
		r.fail("theme", false, err)
		p.Theme = th
	}
	r.time("starts_at", &p.StartsAt)
	r.time("ends_at", &p.EndsAt)
	if !r.lenient && r.err == nil && !p.EndsAt.After(p.StartsAt) {
		r.fail("ends_at", false, fmt.Errorf("ends_at %s is not after starts_at %s", p.EndsAt.Format(time.RFC3339), p.StartsAt.Format(time.RFC3339)))
	}
	c.Party = p
}

// columns decodes the columns of one row (column name → JSON value); the
// first failure is kept in err. Null means absent.
type columns struct {
	row     map[string]json.RawMessage
	lenient bool // a delete: only key columns must decode
	err     error
}

// col returns the value of a column, or nil when it is absent or null; an
// absent key column is a failure.
func (r *columns) col(name string, key bool) json.RawMessage {
	v := r.row[name]
	if isNull(v) {
		if key {
			r.fail(name, true, errors.New("is required"))
		}
		return nil
	}
	return v
}

// fail records err for column name unless it is nil, or the row is a
// delete and name is not a key column.
func (r *columns) fail(name string, key bool, err error) {
	if err == nil || r.err != nil || r.lenient && !key {
		return
	}
	r.err = &TransformError{Field: name, Err: err}
}

func (r *columns) text(name string, key bool, dst *string) {
	v := r.col(name, key)
	if v == nil {
		return
	}
	if s, ok := plainString(v); ok {
		*dst = s
	} else if err := gojson.Unmarshal(v, dst); err != nil {
		r.fail(name, key, fmt.Errorf("want a string, got %s", abbrev(v)))
	}
	if key && *dst == "" {
		r.fail(name, key, errors.New("is empty"))
	}
}

// edge decodes a row that is two ids (its key) and a created_at: a
// follow, a like, a block.
func (r *columns) edge(a, b string, x, y *string, at *time.Time) {
	r.text(a, true, x)
	r.text(b, true, y)
	r.time("created_at", at)
}

func (r *columns) time(name string, dst *time.Time) {
	if v := r.col(name, false); v != nil {
		t, err := decodeTime(v)
		r.fail(name, false, err)
		*dst = t
	}
}

// changeTable names the table of a change (for its metrics).
func changeTable(c signals.Change) string {
	switch {
	case c.Truncate != "":
		return c.Truncate
	case c.Seller != nil:
		return signals.TableSellers
	case c.Follow != nil:
		return signals.TableFollows
	case c.Like != nil:
		return signals.TableLikes
	case c.Share != nil:
		return signals.TableShares
	case c.Party != nil:
		return signals.TableParties
	case c.Block != nil:
		return signals.TableBlocks
	}
	return ""
}

// RewindTopics returns the topics among topics that the consumer group must
// read from their start (kafkabus.ReaderConfig.FromStart) before the
// indexer runs with the signals store w: the social tables' topics of which
// w holds no position — every one of them when w holds none at all (a new
// store, or an emptied Redis). The group's committed offsets on such a topic
// point past rows the store never received; reading it again rebuilds them
// (versions make the replay harmless), and the other topics go on from
// their offsets. A topic the store has a position of needs nothing: the
// store records positions atomically with its data and the group commits
// only after the store's Apply, so the group is never ahead of it there.
func RewindTopics(ctx context.Context, w signals.Writer, topics []string) ([]string, error) {
	if w == nil {
		return nil, nil
	}
	pos, err := w.Positions(ctx)
	if err != nil {
		return nil, fmt.Errorf("indexer: signals positions: %w", err)
	}
	held := map[string]bool{}
	for _, p := range pos {
		held[p.Topic] = true
	}
	var out []string
	for _, t := range topics {
		if IsSocialTable(topicTable(t)) && !held[t] {
			out = append(out, t)
		}
	}
	return out, nil
}

// applySignals hands the batch's social changes and the positions of its
// social partitions to the signals store, on a goroutine of its own, and
// returns the result of the write (retried until it succeeds or ctx ends).
// A batch with social messages but no change (tombstones, bad rows) still
// records its positions. Without a store the changes are counted and
// dropped.
func (ix *Indexer) applySignals(ctx context.Context, d decoded) <-chan error {
	done := make(chan error, 1)
	count := func() {
		for _, c := range d.social {
			ix.m.Rows.WithLabelValues(changeTable(c)).Inc()
		}
	}
	b := signals.Batch{Changes: d.social, Positions: ix.socialPositions(d.msgs)}
	if ix.cfg.Signals == nil || len(b.Changes) == 0 && len(b.Positions) == 0 {
		count()
		done <- nil
		return done
	}
	go stagecpu.Do(ctx, stagecpu.Signals, func(ctx context.Context) {
		start := time.Now()
		err := ix.retryUnless(ctx, "signals apply", func() error { return ix.cfg.Signals.Apply(ctx, b) },
			func(err error) bool { return errors.Is(err, ErrSignalsLost) })
		if err == nil {
			ix.m.SignalsSeconds.Observe(time.Since(start).Seconds())
			count()
		}
		done <- err
	})
	return done
}

// socialPositions returns, per partition of a social table's topic among
// msgs, the highest offset: what the signals store records with the batch.
func (ix *Indexer) socialPositions(msgs []Message) []signals.Position {
	var out []signals.Position
	at := map[signals.Position]int{} // by topic and partition (Offset 0)
	for _, m := range msgs {
		if t := topicTable(m.Topic); !ix.tables[t] || !IsSocialTable(t) {
			continue
		}
		k := signals.Position{Topic: m.Topic, Partition: m.Partition}
		if i, ok := at[k]; ok {
			out[i].Offset = max(out[i].Offset, m.Offset)
			continue
		}
		at[k] = len(out)
		out = append(out, signals.Position{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset})
	}
	return out
}

// topicTable is the table a topic <prefix>.<schema>.<table> carries.
func topicTable(topic string) string { return topic[strings.LastIndexByte(topic, '.')+1:] }
