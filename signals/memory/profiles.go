package memory

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/rummage/rummage/internal/atomicfile"
	"github.com/rummage/rummage/signals"
)

// Affinity profiles (signals.ProfileStore) live beside the social state,
// under their own lock and in their own files, since their writer (the
// events consumer) is not the change stream's:
//
//   - profiles.json: every profile and the events topic positions as of
//     the start of log generation Gen, replaced atomically;
//   - profiles-G.log: the batches and forgets applied since, one frame each
//     (frame, readFrame: length, CRC-32C, payload), fsynced before
//     ApplyProfiles returns.
//
// Recovery loads the snapshot and replays its generation's log up to the
// first torn frame (cut there: that call never returned nil). Past
// profileLogBytes the log is compacted: a new generation's empty log is
// created, then the snapshot naming it, then the old log is removed; a
// crash in between leaves the old snapshot and its complete log, replayed
// as before.

// profileLogBytes is the log size past which the profiles are compacted
// (a variable for tests).
var profileLogBytes int64 = 16 << 20

const (
	profileSnapshotName = "profiles.json"

	recDeltas byte = 1
	recForget byte = 2
)

func profileLogName(gen uint64) string { return fmt.Sprintf("profiles-%d.log", gen) }

type profiles struct {
	mu    sync.RWMutex
	users map[string]map[string]float64 // pseudonym → feature → stored value
	pos   map[posKey]int64

	wmu  sync.Mutex // serializes writes to the log
	dir  string     // "" in memory only
	gen  uint64
	f    *os.File
	size int64
}

type profileSnapshot struct {
	Gen       uint64                        `json:"gen"`
	Users     map[string]map[string]float64 `json:"users"`
	Positions []signals.Position            `json:"positions"`
}

func openProfiles(dir string) (*profiles, error) {
	p := &profiles{users: map[string]map[string]float64{}, pos: map[posKey]int64{}, dir: dir}
	if dir == "" {
		return p, nil
	}
	var snap profileSnapshot
	if _, err := atomicfile.ReadJSON(filepath.Join(dir, profileSnapshotName), &snap); err != nil {
		return nil, fmt.Errorf("memory: profiles: %w", err)
	}
	p.gen = snap.Gen
	if snap.Users != nil {
		p.users = snap.Users
	}
	for _, q := range snap.Positions {
		p.pos[posKey{q.Topic, q.Partition}] = q.Offset
	}
	path := filepath.Join(dir, profileLogName(p.gen))
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("memory: profiles: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	r := bufio.NewReader(f)
	var good int64
	for {
		fr, err := readFrame(r, st.Size()-good)
		if err == io.EOF || errors.Is(err, errCorrupt) {
			break
		}
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("memory: profiles: %w", err)
		}
		if err := p.applyRecord(fr); err != nil {
			break // a frame whose CRC holds but does not decode: cut it too
		}
		good += int64(frameHeader + len(fr))
	}
	if good < st.Size() {
		if err := f.Truncate(good); err != nil {
			f.Close()
			return nil, err
		}
	}
	if _, err := f.Seek(good, io.SeekStart); err != nil {
		f.Close()
		return nil, err
	}
	p.f, p.size = f, good
	return p, nil
}

// applyRecord applies one logged record to the maps (the caller holds mu
// or owns p alone).
func (p *profiles) applyRecord(b []byte) error {
	d := dec{b: b}
	if len(d.b) == 0 {
		return errCorrupt
	}
	kind := d.b[0]
	d.b = d.b[1:]
	switch kind {
	case recForget:
		u := d.str()
		if d.err != nil {
			return d.err
		}
		delete(p.users, u)
	case recDeltas:
		n := d.uvarint()
		type kv struct {
			u, f string
			v    float64
		}
		ds := make([]kv, 0, min(n, 1<<16))
		for range n {
			u, f := d.str(), d.str()
			ds = append(ds, kv{u, f, math.Float64frombits(d.uvarint())})
		}
		m := d.uvarint()
		ps := make([]signals.Position, 0, min(m, 1<<10))
		for range m {
			ps = append(ps, signals.Position{Topic: d.str(), Partition: int(d.varint()), Offset: d.varint()})
		}
		if d.err != nil {
			return d.err
		}
		for _, x := range ds {
			pf := p.users[x.u]
			if pf == nil {
				pf = map[string]float64{}
				p.users[x.u] = pf
			}
			pf[x.f] += x.v
		}
		for _, q := range ps {
			p.pos[posKey{q.Topic, q.Partition}] = q.Offset
		}
	default:
		return errCorrupt
	}
	return nil
}

// write logs rec durably (when on disk), then applies it.
func (p *profiles) write(rec []byte) error {
	p.wmu.Lock()
	defer p.wmu.Unlock()
	if p.f != nil {
		fr := frame(rec)
		_, err := p.f.Write(fr)
		if err == nil {
			err = p.f.Sync()
		}
		if err != nil {
			if terr := p.f.Truncate(p.size); terr == nil {
				_, _ = p.f.Seek(p.size, io.SeekStart)
			}
			return fmt.Errorf("memory: profiles log: %w", err)
		}
		p.size += int64(len(fr))
	}
	p.mu.Lock()
	err := p.applyRecord(rec)
	p.mu.Unlock()
	if err != nil {
		return err
	}
	if p.f != nil && p.size > profileLogBytes {
		return p.compactLocked()
	}
	return nil
}

// compactLocked writes a snapshot of the next generation and starts its
// empty log (the caller holds wmu).
func (p *profiles) compactLocked() error {
	gen := p.gen + 1
	f, err := os.OpenFile(filepath.Join(p.dir, profileLogName(gen)), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("memory: profiles: %w", err)
	}
	p.mu.RLock()
	snap := profileSnapshot{Gen: gen, Users: p.users, Positions: positionList(p.pos)}
	err = atomicfile.WriteJSON(filepath.Join(p.dir, profileSnapshotName), &snap)
	p.mu.RUnlock()
	if err != nil {
		f.Close()
		return fmt.Errorf("memory: profiles snapshot: %w", err)
	}
	old := p.f
	p.f, p.gen, p.size = f, gen, 0
	old.Close()
	_ = os.Remove(filepath.Join(p.dir, profileLogName(gen-1)))
	return nil
}

func (p *profiles) close() error {
	p.wmu.Lock()
	defer p.wmu.Unlock()
	if p.f == nil {
		return nil
	}
	err := p.f.Close()
	p.f = nil
	return err
}

// ApplyProfiles implements signals.ProfileStore.
func (s *Store) ApplyProfiles(ctx context.Context, b signals.ProfileBatch) error {
	if s.isClosed() {
		return errClosed
	}
	var e enc
	e.b = append(e.b, recDeltas)
	e.uvarint(uint64(len(b.Deltas)))
	for _, d := range b.Deltas {
		if d.User == "" || d.Feature == "" || math.IsNaN(d.Weight) || math.IsInf(d.Weight, 0) {
			return fmt.Errorf("memory: profiles: bad delta %+v", d)
		}
		e.str(d.User)
		e.str(d.Feature)
		e.uvarint(math.Float64bits(signals.Stored(d.Weight, d.At)))
	}
	e.uvarint(uint64(len(b.Positions)))
	for _, q := range b.Positions {
		e.str(q.Topic)
		e.varint(int64(q.Partition))
		e.varint(q.Offset)
	}
	return s.prof.write(e.b)
}

// ProfilePositions implements signals.ProfileStore.
func (s *Store) ProfilePositions(ctx context.Context) ([]signals.Position, error) {
	s.prof.mu.RLock()
	defer s.prof.mu.RUnlock()
	return positionList(s.prof.pos), nil
}

// Profile implements signals.ProfileStore.
func (s *Store) Profile(ctx context.Context, user string, at time.Time) (signals.Profile, error) {
	s.prof.mu.RLock()
	defer s.prof.mu.RUnlock()
	out := signals.Profile{}
	for f, v := range s.prof.users[user] {
		out[f] = signals.Decayed(v, at)
	}
	return out, nil
}

// ForgetProfile implements signals.ProfileStore.
func (s *Store) ForgetProfile(ctx context.Context, user string) error {
	if s.isClosed() {
		return errClosed
	}
	var e enc
	e.b = append(e.b, recForget)
	e.str(user)
	return s.prof.write(e.b)
}

func (s *Store) isClosed() bool {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	return s.closed
}
