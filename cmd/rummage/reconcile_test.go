package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rummage/rummage/fixtures"
	"github.com/rummage/rummage/internal/testpg"
	"github.com/rummage/rummage/query"
	"github.com/rummage/rummage/query/embedded"
)

// TestReconcileHelperProcess is not a test: it is the rummage binary, run by
// runRummage in a child process so that exit statuses are real.
func TestReconcileHelperProcess(t *testing.T) {
	if os.Getenv("RUMMAGE_HELPER_PROCESS") != "1" {
		return
	}
	args := os.Args
	for i, a := range args {
		if a == "--" {
			args = args[i+1:]
			break
		}
	}
	os.Args = append([]string{"rummage"}, args...)
	main()
	os.Exit(0)
}

// runRummage runs "rummage args..." and returns stdout, stderr and the exit
// status.
func runRummage(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"-test.run=^TestReconcileHelperProcess$", "--"}, args...)...)
	cmd.Env = append(os.Environ(), "RUMMAGE_HELPER_PROCESS=1")
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return out.String(), errOut.String(), 0
	case errors.As(err, &ee):
		return out.String(), errOut.String(), ee.ExitCode()
	}
	t.Fatal(err)
	return "", "", -1
}

func TestReconcileCommand(t *testing.T) {
	ctx := context.Background()
	dsn := testpg.New(t, testpg.Options{Setup: fixtures.Migrate})
	conn := testpg.Connect(t, dsn)
	g, err := fixtures.NewGenerator(fixtures.Options{Seed: 3, Count: 20, Now: time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := fixtures.SeedPostgres(ctx, conn, g, nil); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "index")
	x, err := embedded.Open(ctx, embedded.Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	var batch []query.Change
	for i := range g.Count() {
		l := g.Listing(i)
		query.Counters{ID: l.ID}.Set(&l) // the seeded database has no likes or shares
		batch = append(batch, query.Change{ID: l.ID, Version: 1, Doc: &l})
	}
	if _, err := x.Apply(ctx, batch); err != nil {
		t.Fatal(err)
	}

	// While this process holds the index, reconcile says so instead of waiting.
	_, stderr, code := runRummage(t, "reconcile", "--database-url", dsn, "--index-dir", dir)
	if code != 3 || !strings.Contains(stderr, "open in another process") {
		t.Fatalf("locked index: exit %d, stderr %s", code, stderr)
	}
	if err := x.Close(); err != nil {
		t.Fatal(err)
	}

	stdout, stderr, code := runRummage(t, "reconcile", "--database-url", dsn, "--index-dir", dir)
	if code != 0 || !strings.Contains(stdout, "summary: rows 20, indexed 20: missing 0, extra 0, stale 0") {
		t.Fatalf("in sync: exit %d\nstdout %s\nstderr %s", code, stdout, stderr)
	}

	stale, gone := g.Listing(2).ID, g.Listing(5).ID
	for _, q := range []string{
		`UPDATE listings SET price_cents = 123456 WHERE id = '` + stale + `'`,
		`DELETE FROM listings WHERE id = '` + gone + `'`,
		`INSERT INTO listings (id, seller_id, title) VALUES ('new-1', 's1', 'Denim jacket')`,
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	stdout, stderr, code = runRummage(t, "reconcile", "--database-url", dsn, "--index-dir", dir)
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	want := []string{"missing new-1", "stale " + stale + " price_cents: postgres=123456 index=", "extra " + gone}
	if code != 1 || len(lines) != 4 || !strings.Contains(stderr, "rummage reconcile: 3 differences") ||
		lines[3] != "summary: rows 20, indexed 20: missing 1, extra 1, stale 1" {
		t.Fatalf("out of sync: exit %d\nstdout %s\nstderr %s", code, stdout, stderr)
	}
	for _, w := range want {
		if !strings.Contains(stdout, "\n"+w) && !strings.HasPrefix(stdout, w) {
			t.Errorf("stdout lacks a line starting %q:\n%s", w, stdout)
		}
	}

	stdout, _, code = runRummage(t, "reconcile", "--database-url", dsn, "--index-dir", dir, "--max", "1")
	if code != 1 || !strings.Contains(stdout, "... 2 more differences not printed") {
		t.Fatalf("--max 1: exit %d\n%s", code, stdout)
	}

	// Failures (3) and usage (2) are told apart from differences (1).
	none := filepath.Join(t.TempDir(), "none")
	_, stderr, code = runRummage(t, "reconcile", "--database-url", dsn, "--index-dir", none)
	if code != 3 || !strings.Contains(stderr, "rummage reconcile: failed:") || !strings.Contains(stderr, "holds no Rummage index") {
		t.Fatalf("no index: exit %d, stderr %s", code, stderr)
	}
	if _, err := os.Stat(none); err == nil {
		t.Fatal("reconcile created an index")
	}
	_, stderr, code = runRummage(t, "reconcile", "--database-url", "postgres://nobody@127.0.0.1:1/x?connect_timeout=2", "--index-dir", dir)
	if code != 3 || !strings.Contains(stderr, "rummage reconcile: failed: connect to Postgres") {
		t.Fatalf("bad database: exit %d, stderr %s", code, stderr)
	}
	for _, args := range [][]string{{"reconcile", "--index-dir", dir, "--database-url", ""}, {"reconcile", "--nope"}, {"reconcile", "--database-url", dsn, "--max", "-1"}} {
		if _, stderr, code := runRummage(t, args...); code != 2 {
			t.Errorf("%v: exit %d, want 2 (usage); stderr %s", args, code, stderr)
		}
	}
}

// TestHelpCommand: "rummage help CMD" prints that command's help, not the
// general usage.
func TestHelpCommand(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
		code int
	}{
		{[]string{"help", "serve"}, "Usage: rummage serve", 0},
		{[]string{"help", "reconcile"}, "3  reconcile failed", 0},
		{[]string{"help", "bench", "search"}, "Usage: rummage bench search", 0},
		{[]string{"help"}, "Commands:", 0},
		{[]string{"help", "nope"}, `unknown command "nope"`, 2},
	} {
		_, stderr, code := runRummage(t, tt.args...)
		if code != tt.code || !strings.Contains(stderr, tt.want) {
			t.Errorf("%v: exit %d, stderr lacks %q:\n%s", tt.args, code, tt.want, stderr)
		}
		if tt.args[len(tt.args)-1] == "serve" && strings.Contains(stderr, "Commands:") {
			t.Errorf("%v printed the general usage", tt.args)
		}
	}
}
