package devpg

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/rummage/rummage/internal/testpg"
)

func TestNotInstalled(t *testing.T) {
	saved := libDirs
	t.Cleanup(func() { libDirs = saved })
	libDirs = func() []string { return nil }
	t.Setenv("PATH", t.TempDir()) // no pg_config, no initdb
	_, err := Start(context.Background(), Config{Dir: filepath.Join(t.TempDir(), "pg"), Logger: slog.New(slog.DiscardHandler)})
	if !errors.Is(err, ErrNotInstalled) || strings.Contains(err.Error(), "\n") {
		t.Fatalf("Start without Postgres: %v; want ErrNotInstalled on one line", err)
	}
	if _, err := binDir(context.Background(), t.TempDir(), ""); !errors.Is(err, ErrNotInstalled) {
		t.Errorf("a BinDir without the server: %v; want ErrNotInstalled", err)
	}
}

// fakeServer makes a directory of scripts that pass for the server
// binaries of Postgres major.
func fakeServer(t *testing.T, major string) string {
	dir := t.TempDir()
	for _, b := range []string{"initdb", "pg_ctl", "postgres"} {
		script := "#!/bin/sh\necho 'postgres (PostgreSQL) " + major + ".1'\n"
		if err := os.WriteFile(filepath.Join(dir, b), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestBinDirVersion(t *testing.T) {
	ctx := context.Background()
	v15, v99 := fakeServer(t, "15"), fakeServer(t, "99")
	if d, err := binDir(ctx, v15, "15"); err != nil || d != v15 {
		t.Errorf("the cluster's version: %q, %v", d, err)
	}
	if _, err := binDir(ctx, v99, "15"); err == nil || !strings.Contains(err.Error(), "initialized by Postgres 15") {
		t.Errorf("another major version: %v; want an error naming both", err)
	}
	saved := libDirs
	t.Cleanup(func() { libDirs = saved })
	// Newest first, whatever the glob's (lexical) order: 9 < 10 < 16.
	lib := t.TempDir()
	for _, v := range []string{"9", "10", "16"} {
		d := filepath.Join(lib, v, "bin")
		if err := os.MkdirAll(filepath.Dir(d), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(fakeServer(t, v), d); err != nil {
			t.Fatal(err)
		}
	}
	libDirs = func() []string {
		return []string{filepath.Join(lib, "10", "bin"), filepath.Join(lib, "16", "bin"), filepath.Join(lib, "9", "bin")}
	}
	t.Setenv("PATH", t.TempDir())
	if d, err := FindBinDir(ctx); err != nil || d != filepath.Join(lib, "16", "bin") {
		t.Errorf("FindBinDir = %q, %v; want the newest, 16", d, err)
	}
	if d, err := binDir(ctx, "", "10"); err != nil || d != filepath.Join(lib, "10", "bin") {
		t.Errorf("binDir for a cluster of 10 = %q, %v; want 10's", d, err)
	}
}

func TestURL(t *testing.T) {
	c := &Cluster{dir: "/srv/my data/pg", port: 54321, db: "rummage"}
	cfg, err := pgconn.ParseConfig(c.URL())
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Host != "/srv/my data/pg/socket" || cfg.Port != 54321 || cfg.User != "postgres" || cfg.Database != "rummage" || cfg.TLSConfig != nil {
		t.Errorf("%s parses to host %q port %d user %q database %q tls %v", c.URL(), cfg.Host, cfg.Port, cfg.User, cfg.Database, cfg.TLSConfig != nil)
	}
	if c.SocketPath() != "/srv/my data/pg/socket/.s.PGSQL.54321" {
		t.Errorf("SocketPath = %s", c.SocketPath())
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		cfg Config
		ok  bool
	}{
		{Config{Dir: "d"}, true},
		{Config{Dir: "d", MaxSlotWALKeepSize: "512MB"}, true},
		{Config{Dir: "d", MaxSlotWALKeepSize: "-1"}, false},
		{Config{Dir: "d", MaxSlotWALKeepSize: "1GB'; x"}, false},
		{Config{}, false},
	} {
		if err := tc.cfg.withDefaults().Validate(); (err == nil) != tc.ok {
			t.Errorf("%+v: Validate() = %v, want ok %v", tc.cfg, err, tc.ok)
		}
	}
}

// TestPlaceUnreachable: as root, a directory the postgres user cannot
// reach (below a 0700 one) moves into that user's home, the same place
// for the same directory every time.
func TestPlaceUnreachable(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("only root runs the server as another user")
	}
	as, err := serverUser()
	if err != nil {
		testpg.Unavailable(t, "%v", err)
	}
	private := t.TempDir() // 0700, root's
	c := &Cluster{as: as, log: slog.New(slog.DiscardHandler)}
	dir, err := c.place(context.Background(), filepath.Join(private, "dev-postgres"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		os.RemoveAll(dir)
		os.Remove(filepath.Dir(dir)) // if this test made it
	})
	if !strings.HasPrefix(dir, as.home+string(filepath.Separator)) || !as.canEnter(context.Background(), dir) {
		t.Errorf("placed in %s; want a directory in %s that postgres can enter", dir, as.home)
	}
	again, err := c.place(context.Background(), filepath.Join(private, "dev-postgres"))
	if err != nil || again != dir {
		t.Errorf("placed again in %s (%v); want %s", again, err, dir)
	}
	reachable := filepath.Join(testpg.OpenDir(t), "dev-postgres")
	if d, err := c.place(context.Background(), reachable); err != nil || d != reachable {
		t.Errorf("a reachable directory placed in %s (%v)", d, err)
	}
}
