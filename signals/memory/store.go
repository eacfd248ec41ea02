package memory

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/rummage/rummage/internal/filelock"
	"github.com/rummage/rummage/signals"
)

// Config configures a store.
type Config struct {
	// Dir holds the snapshot and the log; "" keeps everything in memory
	// only (tests).
	Dir string
	// SnapshotBytes is the log size past which Apply writes a snapshot and
	// starts an empty log (default 64 MiB): recovery reads at most about
	// that much log after the snapshot.
	SnapshotBytes int64
}

// DefaultSnapshotBytes is SnapshotBytes when it is 0.
const DefaultSnapshotBytes = 64 << 20

// Validate reports a configuration Open cannot run.
func (c *Config) Validate() error {
	if c.SnapshotBytes < 0 {
		return fmt.Errorf("memory: snapshot bytes %d < 0", c.SnapshotBytes)
	}
	return nil
}

// applyChunk is how many changes Apply applies per hold of the write lock,
// so that readers wait for at most that many, not a whole big batch.
const applyChunk = 1024

// Store is the embedded signals store. It is safe for concurrent use.
type Store struct {
	cfg Config

	wmu          sync.Mutex // serializes Apply, log rotations and Close
	disk         *disk      // nil in memory only
	broken       error      // set when the log could not be restored after a failed write
	closed       bool
	snapshotting bool           // a snapshot is being written (in the background)
	snapErr      error          // the last background snapshot's failure, for the next Apply
	snapWG       sync.WaitGroup // the background snapshot

	mu sync.RWMutex // guards st
	st *state

	recovery Recovery

	prof *profiles // the affinity profiles (profiles.go)

	unlock func() // releases the directory's lock (LockName); nil in memory only
}

// LockName is the lock file of a store's directory: one process at a time
// opens a directory (two would interleave their logs).
const LockName = "LOCK"

var _ signals.Store = (*Store)(nil)

// Recovery is what Open found on disk.
type Recovery struct {
	Snapshot  bool  // a snapshot was loaded
	Records   int   // log records applied after it
	TornBytes int64 // bytes of a torn or corrupt log tail that were dropped
}

// Open opens the store kept in dir (created when missing; "" for memory
// only), recovering it from its snapshot and log.
func Open(dir string) (*Store, error) { return OpenConfig(Config{Dir: dir}) }

// OpenConfig is Open with a whole configuration.
func OpenConfig(cfg Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.SnapshotBytes == 0 {
		cfg.SnapshotBytes = DefaultSnapshotBytes
	}
	s := &Store{cfg: cfg, st: newState()}
	if cfg.Dir == "" {
		s.prof, _ = openProfiles("")
		return s, nil
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("memory: %w", err)
	}
	unlock, err := filelock.TryLock(filepath.Join(cfg.Dir, LockName))
	if err != nil {
		return nil, fmt.Errorf("memory: the signals store %s is open in another process: %w", cfg.Dir, err)
	}
	d, st, rec, err := openDisk(cfg.Dir)
	if err != nil {
		unlock()
		return nil, err
	}
	if s.prof, err = openProfiles(cfg.Dir); err != nil {
		d.close()
		unlock()
		return nil, err
	}
	s.disk, s.st, s.recovery, s.unlock = d, st, rec, unlock
	return s, nil
}

// Recovery says what Open recovered.
func (s *Store) Recovery() Recovery { return s.recovery }

var errClosed = errors.New("memory: store closed")

// validate refuses what the state could not apply, before anything is
// logged.
func validate(b *signals.Batch) error {
	for i := range b.Changes {
		c := &b.Changes[i]
		n := 0
		for _, set := range []bool{c.Seller != nil, c.Follow != nil, c.Like != nil, c.Share != nil, c.Party != nil, c.Block != nil, c.Truncate != ""} {
			if set {
				n++
			}
		}
		if n != 1 {
			return fmt.Errorf("memory: change %d (version %d) sets %d rows, want exactly one or a truncate", i, c.Version, n)
		}
		switch c.Truncate {
		case "", signals.TableSellers, signals.TableFollows, signals.TableLikes, signals.TableShares, signals.TableParties, signals.TableBlocks:
		default:
			return fmt.Errorf("memory: change %d: truncate of an unknown table %q", i, c.Truncate)
		}
	}
	return nil
}

// Apply logs the batch (fsynced) with its positions, then applies it. A
// large batch becomes visible to readers in chunks, in stream order.
func (s *Store) Apply(ctx context.Context, b signals.Batch) error {
	if err := validate(&b); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(b.Changes) == 0 && len(b.Positions) == 0 {
		return nil // nothing to log: an empty frame in the log is a torn one
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	switch {
	case s.closed:
		return errClosed
	case s.broken != nil:
		return s.broken
	}
	if s.disk != nil {
		if err := s.disk.append(&b); err != nil {
			if s.disk.failed != nil {
				s.broken = fmt.Errorf("memory: log unusable after a failed write: %w", s.disk.failed)
			}
			return err
		}
	}
	s.applyLocked(&b)
	if err := s.snapErr; err != nil {
		s.snapErr = nil
		return fmt.Errorf("memory: batch applied and logged, but the last snapshot failed: %w", err)
	}
	if s.disk != nil && s.disk.size > s.cfg.SnapshotBytes && !s.snapshotting {
		gen, err := s.rotateLocked()
		if err != nil {
			return fmt.Errorf("memory: batch applied and logged, but %w", err)
		}
		s.snapWG.Add(1)
		go func() {
			defer s.snapWG.Done()
			err := s.writeSnapshot(gen)
			s.wmu.Lock()
			s.snapshotting, s.snapErr = false, err
			s.wmu.Unlock()
		}()
	}
	return nil
}

// rotateLocked starts a new log for a snapshot and returns its generation.
func (s *Store) rotateLocked() (uint64, error) {
	if err := s.disk.rotate(); err != nil {
		return 0, err
	}
	s.snapshotting = true
	return s.disk.gen, nil
}

// writeSnapshot writes the state as generation gen, with Apply going on:
// the read lock is released between chunks (see state.encode).
func (s *Store) writeSnapshot(gen uint64) error {
	s.mu.RLock()
	locked := true
	defer func() {
		if locked {
			s.mu.RUnlock()
		}
	}()
	pause := func(f func()) {
		s.mu.RUnlock()
		locked = false
		if f != nil {
			f()
		}
		s.mu.RLock()
		locked = true
	}
	return s.disk.writeSnapshot(gen, func(e *enc, flush func() error) error {
		return s.st.encode(e, flush, pause)
	})
}

func (s *Store) applyLocked(b *signals.Batch) {
	for i := 0; i < len(b.Changes) || i == 0; i += applyChunk {
		s.mu.Lock()
		for j := i; j < min(i+applyChunk, len(b.Changes)); j++ {
			s.st.apply(&b.Changes[j]) // validated: cannot fail
		}
		s.st.settle()
		if i+applyChunk >= len(b.Changes) {
			for _, p := range b.Positions {
				s.st.positions[posKey{p.Topic, p.Partition}] = p.Offset
			}
		}
		s.mu.Unlock()
	}
}

// Snapshot writes a snapshot now (after any running one) and returns when
// it is in place; Apply goes on meanwhile.
func (s *Store) Snapshot() error {
	s.wmu.Lock()
	for s.snapshotting {
		s.wmu.Unlock()
		s.snapWG.Wait()
		s.wmu.Lock()
	}
	if s.closed {
		s.wmu.Unlock()
		return errClosed
	}
	if s.disk == nil {
		s.wmu.Unlock()
		return nil
	}
	gen, err := s.rotateLocked()
	s.wmu.Unlock()
	if err != nil {
		return err
	}
	err = s.writeSnapshot(gen)
	s.wmu.Lock()
	s.snapshotting = false
	s.wmu.Unlock()
	return err
}

// Positions returns the positions applied, in (topic, partition) order.
func (s *Store) Positions(ctx context.Context) ([]signals.Position, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return positionList(s.st.positions), nil
}

// Close closes the log. Reads keep answering from memory; Apply fails.
func (s *Store) Close() error {
	s.wmu.Lock()
	if s.closed {
		s.wmu.Unlock()
		return nil
	}
	s.closed = true
	s.wmu.Unlock()
	s.snapWG.Wait() // no Apply runs now: closed
	perr := s.prof.close()
	if s.disk != nil {
		err := errors.Join(s.disk.close(), perr)
		s.unlock()
		return err
	}
	return perr
}

// read runs f under the read lock.
func read[T any](s *Store, f func(st *state) T) (T, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return f(s.st), nil
}

// Sellers is signals.Reader.Sellers.
func (s *Store) Sellers(ctx context.Context, ids []string) (map[string]signals.Seller, error) {
	return read(s, func(st *state) map[string]signals.Seller { return st.sellersOf(ids) })
}

// Suspended is signals.Reader.Suspended.
func (s *Store) Suspended(ctx context.Context) ([]string, error) {
	return read(s, (*state).suspendedSellers)
}

// Blocked is signals.Reader.Blocked.
func (s *Store) Blocked(ctx context.Context, user string) ([]string, error) {
	return read(s, func(st *state) []string { return st.blockedBy(user) })
}

// Following is signals.Reader.Following.
func (s *Store) Following(ctx context.Context, user string, at time.Time, limit int) ([]string, error) {
	upTo := int64(math.MaxInt64)
	if !at.IsZero() {
		upTo = at.UnixMilli()
	}
	return read(s, func(st *state) []string { return st.following(user, upTo, limit) })
}

// Followers is signals.Reader.Followers.
func (s *Store) Followers(ctx context.Context, closets []string) (map[string]int, error) {
	return read(s, func(st *state) map[string]int { return st.followersOf(closets) })
}

// SharedBy is signals.Reader.SharedBy.
func (s *Store) SharedBy(ctx context.Context, closets []string, since, at time.Time, limit int) (signals.Shared, error) {
	return read(s, func(st *state) signals.Shared {
		return st.sharedBy(closets, since.UnixMilli(), at.UnixMilli(), limit)
	})
}

// Activity is signals.Reader.Activity.
func (s *Store) Activity(ctx context.Context, user string, since, at time.Time, limit int) ([]signals.ListingAt, error) {
	return read(s, func(st *state) []signals.ListingAt {
		return st.activity(user, since.UnixMilli(), at.UnixMilli(), limit)
	})
}

// Parties is signals.Reader.Parties.
func (s *Store) Parties(ctx context.Context) ([]signals.Party, error) {
	return read(s, (*state).allParties)
}

// Party is signals.Reader.Party.
func (s *Store) Party(ctx context.Context, id string) (*signals.Party, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.st.partyByID(id)
}

// PartyShares is signals.Reader.PartyShares.
func (s *Store) PartyShares(ctx context.Context, party string, from, to time.Time) ([]signals.ListingAt, int, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	l, n := s.st.partyShares(party, from.UnixMilli(), to.UnixMilli())
	return l, n, nil
}

// TopEngaged is signals.Reader.TopEngaged.
func (s *Store) TopEngaged(ctx context.Context, since, at time.Time, halfLife time.Duration, k int) ([]signals.Engaged, error) {
	if halfLife <= 0 {
		return nil, fmt.Errorf("memory: half-life %v <= 0", halfLife)
	}
	return read(s, func(st *state) []signals.Engaged {
		return st.topEngaged(since.UnixMilli(), at.UnixMilli(), halfLife, k)
	})
}

// Engagers is signals.Reader.Engagers.
func (s *Store) Engagers(ctx context.Context, listings []string, since, at time.Time) (map[string][]signals.UserAt, error) {
	return read(s, func(st *state) map[string][]signals.UserAt {
		return st.engagers(listings, since.UnixMilli(), at.UnixMilli())
	})
}

// Counters is signals.Reader.Counters.
func (s *Store) Counters(ctx context.Context, listings []string) (map[string]signals.Counters, error) {
	return read(s, func(st *state) map[string]signals.Counters { return st.countersOf(listings) })
}

// removeStale deletes the files of dir that name starts with but keep.
func removeStale(dir, prefix, keep string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if n := e.Name(); strings.HasPrefix(n, prefix) && n != keep {
			if err := os.Remove(dir + "/" + n); err != nil {
				return err
			}
		}
	}
	return nil
}
