package memory

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/rummage/rummage/signals"
	"github.com/rummage/rummage/signals/signalstest"
)

func openDir(t *testing.T, cfg Config) *Store {
	t.Helper()
	s, err := OpenConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func dumpOf(t *testing.T, s signals.Reader) string {
	t.Helper()
	d, err := signalstest.Dump(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// reference is the state of the first n batches applied in memory.
func reference(t *testing.T, bs []signals.Batch) (string, []signals.Position) {
	t.Helper()
	s := openDir(t, Config{})
	for _, b := range bs {
		if err := s.Apply(context.Background(), b); err != nil {
			t.Fatal(err)
		}
	}
	ps, _ := s.Positions(context.Background())
	return dumpOf(t, s), ps
}

func logPath(t *testing.T, dir string) string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "log-*"))
	if err != nil || len(m) != 1 {
		t.Fatalf("log files %v, %v; want one", m, err)
	}
	return m[0]
}

// TestTornLogTail cuts or damages the log's last frame, as a crash in the
// middle of a write leaves it: recovery drops that batch (data and
// positions both), keeps every earlier one, and the store goes on.
func TestTornLogTail(t *testing.T) {
	ctx := context.Background()
	bs := signalstest.Stream(3, 400)
	wantAll, _ := reference(t, bs)
	wantButLast, posButLast := reference(t, bs[:len(bs)-1])
	for _, tc := range []struct {
		name   string
		break_ func(t *testing.T, path string, lastStart int64)
	}{
		{"cut in the payload", func(t *testing.T, path string, last int64) {
			fi, _ := os.Stat(path)
			truncate(t, path, last+(fi.Size()-last)/2)
		}},
		{"cut in the header", func(t *testing.T, path string, last int64) { truncate(t, path, last+3) }},
		{"a flipped byte", func(t *testing.T, path string, last int64) {
			b, _ := os.ReadFile(path)
			b[len(b)-2] ^= 0x40
			if err := os.WriteFile(path, b, 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{"zeros after a crash extended the file", func(t *testing.T, path string, last int64) {
			truncate(t, path, last)
			f, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
			f.Write(make([]byte, 4096))
			f.Close()
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s := openDir(t, Config{Dir: dir})
			for _, b := range bs[:len(bs)-1] {
				if err := s.Apply(ctx, b); err != nil {
					t.Fatal(err)
				}
			}
			fi, err := os.Stat(logPath(t, dir))
			if err != nil {
				t.Fatal(err)
			}
			last := fi.Size()
			if err := s.Apply(ctx, bs[len(bs)-1]); err != nil {
				t.Fatal(err)
			}
			s.Close()
			tc.break_(t, logPath(t, dir), last)

			r := openDir(t, Config{Dir: dir})
			rec := r.Recovery()
			if rec.TornBytes == 0 || rec.Records != len(bs)-1 || rec.Snapshot {
				t.Errorf("recovery %+v, want %d records and a torn tail", rec, len(bs)-1)
			}
			if got := dumpOf(t, r); got != wantButLast {
				t.Errorf("recovered state is not the first %d batches'", len(bs)-1)
			}
			if ps, _ := r.Positions(ctx); !slices.Equal(ps, posButLast) {
				t.Errorf("positions %v, want %v (the torn batch's went with it)", ps, posButLast)
			}
			if fi, _ := os.Stat(logPath(t, dir)); fi.Size() != last {
				t.Errorf("log is %d bytes after recovery, want it cut to %d", fi.Size(), last)
			}
			// The applier reads the lost batch again; the store goes on.
			if err := r.Apply(ctx, bs[len(bs)-1]); err != nil {
				t.Fatal(err)
			}
			r.Close()
			r2 := openDir(t, Config{Dir: dir})
			if rec := r2.Recovery(); rec.TornBytes != 0 || rec.Records != len(bs) {
				t.Errorf("second recovery %+v, want %d clean records", rec, len(bs))
			}
			if got := dumpOf(t, r2); got != wantAll {
				t.Error("after the replayed batch the state is not the whole stream's")
			}
		})
	}
}

func truncate(t *testing.T, path string, size int64) {
	t.Helper()
	if err := os.Truncate(path, size); err != nil {
		t.Fatal(err)
	}
}

// TestSnapshotRecovery: a snapshot and the logs after it give the state,
// also after a crash between a snapshot's new log and the snapshot itself
// (the previous snapshot and both logs).
func TestSnapshotRecovery(t *testing.T) {
	for _, tc := range []struct {
		name    string
		seed    uint64
		records func(n int) int // log records left to replay of n batches
		logs    int             // the logs kept after recovery
		after   func(t *testing.T, s *Store, i, n int)
	}{
		{"snapshot then log", 5, func(n int) int { return n - n/2 - 1 }, 1, func(t *testing.T, s *Store, i, n int) {
			if i == n/2 {
				if err := s.Snapshot(); err != nil {
					t.Fatal(err)
				}
			}
		}},
		{"crash before the snapshot of a new log", 6, func(n int) int { return n - n/3 - 1 }, 2, func(t *testing.T, s *Store, i, n int) {
			switch i {
			case n / 3:
				if err := s.Snapshot(); err != nil {
					t.Fatal(err)
				}
			case 2 * n / 3: // the crash: a new log, no snapshot of it
				s.wmu.Lock()
				if _, err := s.rotateLocked(); err != nil {
					t.Fatal(err)
				}
				s.snapshotting = false
				s.wmu.Unlock()
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			bs := signalstest.Stream(tc.seed, 600)
			want, wantPos := reference(t, bs)
			dir := t.TempDir()
			s := openDir(t, Config{Dir: dir, SnapshotBytes: 1 << 40})
			for i, b := range bs {
				if err := s.Apply(ctx, b); err != nil {
					t.Fatal(err)
				}
				tc.after(t, s, i, len(bs))
			}
			s.Close()
			r := openDir(t, Config{Dir: dir})
			if rec := r.Recovery(); !rec.Snapshot || rec.Records != tc.records(len(bs)) || rec.TornBytes != 0 {
				t.Errorf("recovery %+v, want a snapshot and %d records", rec, tc.records(len(bs)))
			}
			if got := dumpOf(t, r); got != want {
				t.Error("state from snapshot + logs differs from the stream's")
			}
			if ps, _ := r.Positions(ctx); !slices.Equal(ps, wantPos) {
				t.Errorf("positions %v, want %v", ps, wantPos)
			}
			if gens, _ := logGens(dir); len(gens) != tc.logs {
				t.Errorf("logs %v after recovery, want %d", gens, tc.logs)
			}
		})
	}
}

// TestFuzzySnapshot writes snapshots while batches are applied (pausing at
// every item, so that the two interleave as much as they can): the
// snapshot and the log after it recover the stream's state.
func TestFuzzySnapshot(t *testing.T) {
	defer func(p int) { pauseEvery = p }(pauseEvery)
	pauseEvery = 1
	ctx := context.Background()
	bs := signalstest.Stream(8, 3000)
	want, wantPos := reference(t, bs)
	dir := t.TempDir()
	s := openDir(t, Config{Dir: dir, SnapshotBytes: 1 << 40})
	done := make(chan error, 1)
	done <- nil
	snapshots := 0
	for i, b := range bs {
		if err := s.Apply(ctx, b); err != nil {
			t.Fatal(err)
		}
		if i%50 == 49 {
			select {
			case err := <-done: // the previous one is in place: begin another
				if err != nil {
					t.Fatal(err)
				}
				snapshots++
				go func() { done <- s.Snapshot() }()
			default:
			}
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if snapshots < 3 {
		t.Fatalf("%d snapshots during the stream, want several", snapshots)
	}
	s.Close()
	r := openDir(t, Config{Dir: dir})
	if !r.Recovery().Snapshot {
		t.Fatal("no snapshot recovered")
	}
	if got := dumpOf(t, r); got != want {
		t.Errorf("state from a fuzzy snapshot + log differs from the stream's:\n%.2000s", got)
	}
	if ps, _ := r.Positions(ctx); !slices.Equal(ps, wantPos) {
		t.Errorf("positions %v, want %v", ps, wantPos)
	}
}

// TestCorruptSnapshotIsAnError: a damaged snapshot is not silently an
// empty store (the operator removes the directory to rebuild from the
// stream).
func TestCorruptSnapshotIsAnError(t *testing.T) {
	dir := t.TempDir()
	s := openDir(t, Config{Dir: dir})
	for _, b := range signalstest.Stream(9, 100) {
		if err := s.Apply(context.Background(), b); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Snapshot(); err != nil {
		t.Fatal(err)
	}
	s.Close()
	path := filepath.Join(dir, snapshotName)
	b, _ := os.ReadFile(path)
	b[len(b)/2] ^= 1
	os.WriteFile(path, b, 0o600)
	if s, err := OpenConfig(Config{Dir: dir}); err == nil {
		s.Close()
		t.Fatal("a corrupt snapshot opened")
	}
}

// TestBadChangesAreRefusedBeforeTheLog: a change Apply cannot apply fails
// the batch and leaves nothing in the log.
func TestBadChangesAreRefusedBeforeTheLog(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openDir(t, Config{Dir: dir})
	for _, c := range []signals.Change{
		{Version: 1},
		{Version: 1, Truncate: "listings"},
		{Version: 1, Like: &signals.Like{User: "u", Listing: "l"}, Follow: &signals.Follow{Follower: "u", Seller: "c"}},
	} {
		if err := s.Apply(ctx, signals.Batch{Changes: []signals.Change{c}, Positions: []signals.Position{{Topic: "t", Offset: 1}}}); err == nil {
			t.Errorf("Apply(%+v) = nil, want an error", c)
		}
	}
	if ps, _ := s.Positions(ctx); len(ps) != 0 {
		t.Errorf("positions %v after refused batches", ps)
	}
	if fi, _ := os.Stat(logPath(t, dir)); fi.Size() != 0 {
		t.Errorf("log holds %d bytes after refused batches", fi.Size())
	}
}
