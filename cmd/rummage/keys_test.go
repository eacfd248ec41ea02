package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rummage/rummage/api/apitest"
	"github.com/rummage/rummage/fixtures"
	"github.com/rummage/rummage/internal/testpg"
	"github.com/rummage/rummage/keys"
	"github.com/rummage/rummage/keys/pgkeys"
)

// keysRun runs one keys subcommand and returns its standard output.
func keysRun(t *testing.T, run func(context.Context, []string, *bytes.Buffer) error, args ...string) string {
	t.Helper()
	var out bytes.Buffer
	if err := run(context.Background(), args, &out); err != nil {
		t.Fatalf("%v: %v", args, err)
	}
	return out.String()
}

func create(ctx context.Context, a []string, o *bytes.Buffer) error { return keysCreate(ctx, a, o) }
func list(ctx context.Context, a []string, o *bytes.Buffer) error   { return keysList(ctx, a, o) }
func revoke(ctx context.Context, a []string, o *bytes.Buffer) error { return keysRevoke(ctx, a, o) }
func token(ctx context.Context, a []string, o *bytes.Buffer) error  { return keysUserToken(ctx, a, o) }

// testKeysCommands: create, list, revoke and user-token against the store
// that store names (flags), read back through a ring.
func testKeysCommands(t *testing.T, storeFlags []string, open func() keys.Store) {
	secret := strings.TrimSpace(keysRun(t, create, append([]string{"--kind", "search", "--name", "backend"}, storeFlags...)...))
	if !strings.HasPrefix(secret, "rk_search_") {
		t.Fatalf("create printed %q", secret)
	}
	pub := strings.TrimSpace(keysRun(t, create, append([]string{"--kind", "public", "--name", "web"}, storeFlags...)...))
	id := keys.IDOf(secret)
	out := keysRun(t, list, storeFlags...)
	if !strings.Contains(out, id) || !strings.Contains(out, "backend") || strings.Contains(out, secret) || !strings.Contains(out, secret[:14]) {
		t.Errorf("list:\n%s", out)
	}
	tok := strings.TrimSpace(keysRun(t, token, "--key", secret, "--user", "u7", "--ttl", "30m"))
	ring, err := keys.Open(context.Background(), open(), keys.RingConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if ut, err := ring.VerifyUserToken(tok, time.Now()); err != nil || ut.User != "u7" {
		t.Errorf("the user-token helper's token: %+v %v", ut, err)
	}
	if err := keysUserToken(context.Background(), []string{"--key", pub, "--user", "u7"}, &bytes.Buffer{}); !errors.Is(err, errUsage) {
		t.Errorf("user-token with a public key: %v, want a usage error", err)
	}
	if out := keysRun(t, revoke, append([]string{id}, storeFlags...)...); !strings.Contains(out, "revoked search key "+id) {
		t.Errorf("revoke: %s", out)
	}
	if err := ring.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := ring.Lookup(secret); !errors.Is(err, keys.ErrRevokedKey) {
		t.Errorf("after revoke: %v", err)
	}
	if out := keysRun(t, list, storeFlags...); strings.Count(out, "\n") != 3 || !strings.Contains(out, time.Now().UTC().Format("2006-01-02")) {
		t.Errorf("list after revoke:\n%s", out)
	}
	if err := keysRevoke(context.Background(), append([]string{"nope"}, storeFlags...), &bytes.Buffer{}); !errors.Is(err, keys.ErrNotFound) {
		t.Errorf("revoke unknown: %v", err)
	}
	if err := keysCreate(context.Background(), append([]string{"--kind", "root", "--name", "x"}, storeFlags...), &bytes.Buffer{}); !errors.Is(err, errUsage) {
		t.Errorf("create --kind root: %v", err)
	}
}

func TestKeysFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys.json")
	testKeysCommands(t, []string{"--keys-file", path}, func() keys.Store { return keys.NewFileStore(path) })
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key file: %v %v, want mode 0600", fi.Mode(), err)
	}
}

func TestKeysPostgres(t *testing.T) {
	url := testpg.New(t, testpg.Options{Setup: fixtures.Migrate})
	testKeysCommands(t, []string{"--database-url", url}, func() keys.Store {
		s, err := pgkeys.Open(context.Background(), url, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Close)
		return s
	})
}

func TestKeysHelp(t *testing.T) {
	for name, run := range map[string]func(context.Context, []string, *bytes.Buffer) error{
		"create": create, "list": list, "revoke": revoke, "user-token": token,
	} {
		if err := run(context.Background(), []string{"--help"}, &bytes.Buffer{}); !errors.Is(err, flag.ErrHelp) {
			t.Errorf("keys %s --help: %v", name, err)
		}
	}
	if err := runKeys(context.Background(), []string{"rotate"}); !errors.Is(err, errUsage) {
		t.Errorf("keys rotate: %v", err)
	}
	if err := runKeys(context.Background(), []string{"--help"}); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("keys --help: %v", err)
	}
}

// TestServeReadRule: on loopback alone reads need no key; on every
// address they do, unless --public-reads; keys come from --keys-file, and
// serve says at start which rule applies.
func TestServeReadRule(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "keys.json")
	secret := strings.TrimSpace(keysRun(t, create, "--kind", "search", "--name", "t", "--keys-file", file))
	index := filepath.Join(dir, "index")
	for _, tt := range []struct {
		name     string
		args     []string
		anon     int
		logSays  string
		stopWith string
	}{
		{"loopback", nil, 200, "reads without a key are allowed: the API listens on loopback only", ""},
		{"every address", []string{"--addr", ":0"}, 401, "reads need a key", ""},
		{"every address, --public-reads", []string{"--addr", ":0", "--public-reads"}, 200, "--public-reads", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			base, out, stop := startServe(t, append([]string{"--index-dir", index, "--seed-count", "50", "--keys-file", file}, tt.args...)...)
			base = strings.Replace(base, "[::]", "127.0.0.1", 1)
			defer stop()
			waitReady(t, base, out)
			c := apitest.NewRemote(t, base, "")
			if r := c.Get(t, "/v1/search?limit=1"); r.Status != tt.anon {
				t.Errorf("without a key: %d %s", r.Status, r.Body)
			}
			if r := c.Get(t, "/v1/search?limit=1", apitest.WithKey(secret)); r.Status != 200 {
				t.Errorf("with a search key: %d %s", r.Status, r.Body)
			}
			if r := c.Get(t, "/v1/search?limit=1&user=u1", apitest.Anonymous()); r.Status != 403 && r.Status != 401 {
				t.Errorf("user= without a key: %d", r.Status)
			}
			if !strings.Contains(out.String(), tt.logSays) || !strings.Contains(out.String(), "active=1") {
				t.Errorf("the log does not say %q and the key count:\n%s", tt.logSays, out)
			}
		})
	}
}
