package pgcdc

import (
	"context"
	"slices"
	"testing"

	"github.com/rummage/rummage/indexer/change"
	"github.com/rummage/rummage/internal/testpg"
)

// TestPublicationHoldsMarketplaceTablesOnly: with every migration applied
// (Rummage's own schema "rummage" included: API keys), the publication the
// CDC creates holds exactly the seven marketplace tables, and a write to
// Rummage's own tables never becomes an event.
func TestPublicationHoldsMarketplaceTablesOnly(t *testing.T) {
	dsn, db := newDB(t) // every migration
	sink := &memSink{}
	start(t, Config{DatabaseURL: dsn}, sink)
	waitStreaming(t, db)

	rows, err := db.Query(context.Background(), `SELECT schemaname || '.' || tablename FROM pg_publication_tables WHERE pubname = 'rummage' ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		got = append(got, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	want := []string{"public.blocks", "public.follows", "public.likes", "public.listings", "public.parties", "public.sellers", "public.shares"}
	if !slices.Equal(got, want) {
		t.Errorf("publication tables %v, want %v", got, want)
	}
	var all bool
	if err := db.QueryRow(context.Background(), `SELECT puballtables FROM pg_publication WHERE pubname = 'rummage'`).Scan(&all); err != nil || all {
		t.Errorf("publication FOR ALL TABLES = %v (%v)", all, err)
	}

	testpg.Exec(t, db, `INSERT INTO rummage.api_keys (id, name, kind, prefix, hash, token_key)
		VALUES ('0123456789ab', 'k', 'search', 'rk_search_abcd', decode(repeat('00', 32), 'hex'), decode(repeat('00', 32), 'hex'))`)
	testpg.Exec(t, db, `INSERT INTO listings (id, seller_id, title) VALUES ('after-key', 's1', 'Marker')`)
	// The slot is active while it is still being created, so the marker may
	// land in the snapshot (a read) rather than the stream (a create): either
	// way it comes after the key's insert, which must have left no event.
	evs := sink.waitFor(t, "the marker listing", func(evs []change.Event) bool {
		return findFirst(evs, "listings", change.OpCreate, `{"id":"after-key"}`) != nil ||
			findFirst(evs, "listings", change.OpRead, `{"id":"after-key"}`) != nil
	})
	for _, e := range evs {
		if e.Source.Schema != "public" {
			t.Errorf("event from %s.%s: Rummage's own tables must not be published", e.Source.Schema, e.Source.Table)
		}
	}
}
