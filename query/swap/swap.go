package swap

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/rummage/rummage"
	"github.com/rummage/rummage/query"
)

// ErrBusy is returned by StartShadow while a shadow is already set.
var ErrBusy = errors.New("swap: a shadow is already being written")

// ErrNoShadow is returned by Promote without a shadow.
var ErrNoShadow = errors.New("swap: no shadow to promote")

// gen is one backend as readers see it. Readers hold mu shared for the
// length of a call; retiring takes it exclusively, which waits for them.
type gen struct {
	b       query.Backend
	mu      sync.RWMutex
	retired bool
}

// Backend serves reads from the current backend and tees writes to the
// shadow while there is one. It is safe for concurrent use.
type Backend struct {
	cur atomic.Pointer[gen]

	// writeMu serializes Apply with StartShadow, StopShadow and Promote:
	// those change the write targets between two batches, never inside one.
	writeMu sync.Mutex
	shadow  query.Backend
}

var (
	_ query.Backend       = (*Backend)(nil)
	_ query.CounterWriter = (*Backend)(nil)
)

// New returns a Backend serving b.
func New(b query.Backend) *Backend {
	s := &Backend{}
	s.cur.Store(&gen{b: b})
	return s
}

// acquire returns the current generation, held for reading. A generation
// retired between the load and the lock is skipped: the pointer already
// names its successor.
func (s *Backend) acquire() *gen {
	for {
		g := s.cur.Load()
		g.mu.RLock()
		if !g.retired {
			return g
		}
		g.mu.RUnlock()
	}
}

// Current returns the backend reads go to now.
func (s *Backend) Current() query.Backend { return s.cur.Load().b }

// Retrieve runs on the current backend.
func (s *Backend) Retrieve(ctx context.Context, r *query.Retrieval) (*query.Candidates, error) {
	g := s.acquire()
	defer g.mu.RUnlock()
	return g.b.Retrieve(ctx, r)
}

// Load reads from the current backend.
func (s *Backend) Load(ctx context.Context, ids []string) ([]*rummage.Listing, error) {
	g := s.acquire()
	defer g.mu.RUnlock()
	return g.b.Load(ctx, ids)
}

// Get reads from the current backend.
func (s *Backend) Get(ctx context.Context, id string) (*rummage.Listing, error) {
	g := s.acquire()
	defer g.mu.RUnlock()
	return g.b.Get(ctx, id)
}

// Stats describes the current backend.
func (s *Backend) Stats(ctx context.Context) (query.Stats, error) {
	g := s.acquire()
	defer g.mu.RUnlock()
	return g.b.Stats(ctx)
}

// Apply writes the batch to the current backend, then to the shadow if
// there is one, and returns the current backend's stats. It fails if either
// write fails; the caller retries the whole batch, which versions make
// harmless for the backend that had taken it.
func (s *Backend) Apply(ctx context.Context, batch []query.Change) (query.ApplyStats, error) {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	// Writers never race a retirement (Promote holds writeMu), so the
	// current generation needs no read lock here.
	st, err := s.cur.Load().b.Apply(ctx, batch)
	if err != nil {
		return st, err
	}
	if s.shadow != nil {
		if _, err := s.shadow.Apply(ctx, batch); err != nil {
			return st, fmt.Errorf("swap: shadow: %w", err)
		}
	}
	return st, nil
}

// ApplyCounters writes the counters to the current backend and the shadow
// (query.CounterWriter), like Apply; a backend without the capability is
// passed over.
func (s *Backend) ApplyCounters(ctx context.Context, cs []query.Counters) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if cw, ok := s.cur.Load().b.(query.CounterWriter); ok {
		if err := cw.ApplyCounters(ctx, cs); err != nil {
			return err
		}
	}
	if cw, ok := s.shadow.(query.CounterWriter); ok {
		if err := cw.ApplyCounters(ctx, cs); err != nil {
			return fmt.Errorf("swap: shadow: %w", err)
		}
	}
	return nil
}

// StartShadow makes every later Apply write shadow as well. It waits for
// the Apply in flight, if any: when it returns, no write can reach the
// current backend without reaching shadow too.
func (s *Backend) StartShadow(shadow query.Backend) error {
	if shadow == nil {
		return errors.New("swap: nil shadow")
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if s.shadow != nil {
		return ErrBusy
	}
	s.shadow = shadow
	return nil
}

// StopShadow stops writing the shadow (an abandoned reindex) and returns it,
// or nil if there was none.
func (s *Backend) StopShadow() query.Backend {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	sh := s.shadow
	s.shadow = nil
	return sh
}

// Promote switches reads and writes to the shadow. With no Apply in flight
// it first calls commit (nil skips it), which must make the switch durable
// — for example point the on-disk "current index" at the shadow; if commit
// fails nothing changes. Then the shadow becomes the current backend and
// the shadow slot is emptied. Promote returns the old backend once no read
// uses it any more: the caller may close it at once.
func (s *Backend) Promote(ctx context.Context, commit func(context.Context) error) (old query.Backend, err error) {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if s.shadow == nil {
		return nil, ErrNoShadow
	}
	if commit != nil {
		if err := commit(ctx); err != nil {
			return nil, err
		}
	}
	prev := s.cur.Swap(&gen{b: s.shadow})
	s.shadow = nil
	prev.mu.Lock() // waits for the reads in flight on the old backend
	prev.retired = true
	prev.mu.Unlock()
	return prev.b, nil
}

// Close closes the current backend and the shadow, when they are
// io.Closers.
func (s *Backend) Close() error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	var errs []error
	if c, ok := s.cur.Load().b.(io.Closer); ok {
		errs = append(errs, c.Close())
	}
	if c, ok := s.shadow.(io.Closer); ok && s.shadow != nil {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}

// ErrNoDrops is returned by Drops when the current backend lists none.
var ErrNoDrops = errors.New("swap: the backend does not list drops")

// Drops lists the current backend's drops (query.DropLister).
func (s *Backend) Drops(ctx context.Context, r *query.DropsRequest) ([]query.DropInstant, error) {
	g := s.acquire()
	defer g.mu.RUnlock()
	dl, ok := g.b.(query.DropLister)
	if !ok {
		return nil, ErrNoDrops
	}
	return dl.Drops(ctx, r)
}
