package pgkeys

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/rummage/rummage/audit"
	"github.com/rummage/rummage/fixtures"
	"github.com/rummage/rummage/internal/testpg"
	"github.com/rummage/rummage/keys"
)

func TestNotMigrated(t *testing.T) {
	url := testpg.New(t, testpg.Options{})
	if _, err := Open(context.Background(), url, nil); !errors.Is(err, ErrNotMigrated) {
		t.Fatalf("Open on an empty database: %v, want ErrNotMigrated", err)
	}
}

func open(t *testing.T, url string) *Store {
	t.Helper()
	s, err := Open(context.Background(), url, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// withKey opens a store on a migrated database and creates one key in it,
// which must then refuse to be added again.
func withKey(ctx context.Context, t *testing.T, kind keys.Kind, name string) (url string, s *Store, secret string, k keys.Key) {
	t.Helper()
	url = testpg.New(t, testpg.Options{Setup: fixtures.Migrate})
	s = open(t, url)
	secret, k, err := keys.Create(ctx, s, kind, name)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Add(ctx, k); !errors.Is(err, keys.ErrDuplicate) {
		t.Fatalf("adding twice: %v, want ErrDuplicate", err)
	}
	return url, s, secret, k
}

// TestStore: keys round-trip through rummage.api_keys with only their hash
// stored, and a revocation made by another process reaches a running ring
// through the notification alone (its periodic refresh is an hour away).
func TestStore(t *testing.T) {
	ctx := context.Background()
	url, s, secret, k := withKey(ctx, t, keys.Public, "web")
	list, err := s.List(ctx)
	if err != nil || len(list) != 1 {
		t.Fatalf("List = %v, %v", list, err)
	}
	got := list[0]
	if got.ID != k.ID || got.Kind != keys.Public || got.Name != "web" || got.Hash != k.Hash ||
		!got.CreatedAt.Equal(k.CreatedAt) || string(got.TokenKey) != string(k.TokenKey) || got.RevokedAt != nil {
		t.Errorf("stored %+v, want %+v", got, k)
	}
	conn := testpg.Connect(t, url)
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM rummage.api_keys WHERE position(convert_to($1, 'UTF8') in hash) > 0 OR name = $1 OR prefix = $1", secret).Scan(&n); err != nil || n != 0 {
		t.Errorf("the secret is stored somewhere (%d rows, %v)", n, err)
	}

	ring, err := keys.Open(ctx, s, keys.RingConfig{Interval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ring.Lookup(secret); err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go ring.Run(rctx)

	other := open(t, url) // another process: rummage keys revoke
	if _, err := other.Revoke(ctx, k.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for _, err := ring.Lookup(secret); !errors.Is(err, keys.ErrRevokedKey); _, err = ring.Lookup(secret) {
		if time.Now().After(deadline) {
			t.Fatalf("the ring never saw the revocation: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	again, err := other.Revoke(ctx, k.ID, time.Now().Add(time.Hour))
	if err != nil || again.RevokedAt == nil || again.RevokedAt.After(time.Now()) {
		t.Errorf("revoking twice: %+v %v, want the first time kept", again.RevokedAt, err)
	}
	if _, err := other.Revoke(ctx, "nope", time.Now()); !errors.Is(err, keys.ErrNotFound) {
		t.Errorf("revoke unknown: %v", err)
	}
	if _, err := conn.Exec(ctx, "INSERT INTO rummage.api_keys (id, name, kind, prefix, hash, token_key) VALUES ('x', 'n', 'root', 'p', '\\x00', '\\x00')"); err == nil {
		t.Error("the table accepts an unknown kind and a short hash")
	}
}

// TestKeyChangesAreAudited: every key created or revoked is a row of
// rummage.audit_log with the context's actor, written with the change; a
// change that fails leaves no row.
func TestKeyChangesAreAudited(t *testing.T) {
	ctx := audit.WithActor(context.Background(), "cli:ops")
	url, s, _, k := withKey(ctx, t, keys.Admin, "ops laptop")
	if _, err := s.Revoke(audit.WithActor(context.Background(), "key:"+k.ID), k.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Revoke(ctx, "nope", time.Now()); !errors.Is(err, keys.ErrNotFound) {
		t.Fatalf("revoke unknown: %v", err)
	}
	conn := testpg.Connect(t, url)
	rows, err := conn.Query(ctx, "SELECT actor, action, target, outcome, detail->>'kind', detail->>'name' FROM rummage.audit_log ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	var got [][6]string
	for rows.Next() {
		var r [6]string
		if err := rows.Scan(&r[0], &r[1], &r[2], &r[3], &r[4], &r[5]); err != nil {
			t.Fatal(err)
		}
		got = append(got, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	want := [][6]string{
		{"cli:ops", audit.ActionKeyCreate, k.ID, "ok", "admin", "ops laptop"},
		{"key:" + k.ID, audit.ActionKeyRevoke, k.ID, "ok", "admin", "ops laptop"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("audit rows\n got %v\nwant %v", got, want)
	}
}
