package memory

import (
	"bufio"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"

	"github.com/rummage/rummage/internal/atomicfile"
	"github.com/rummage/rummage/signals"
)

// On disk, dir holds
//
//   - snapshot: the whole state of a generation G (magic, G, then frames of
//     changes and positions, then an empty frame), replaced atomically;
//   - log-G (and, while the next snapshot is written, log-G+1): every batch
//     applied since log-G began, one frame each, fsynced before Apply
//     returns.
//
// A frame is its payload's length and CRC-32C, then the payload. A batch's
// changes and positions are one frame, so after a crash both or neither
// are there. A snapshot begins a new log and is written while Apply goes
// on (fuzzy; see state.encode): recovery loads the snapshot and applies
// every log of its generation and after, in order, up to the first torn or
// corrupt frame, where the log is cut and later ones removed (that batch
// never returned nil, or the disk lost it: either way its positions went
// with it and the applier reads it again).

const (
	snapshotName  = "snapshot"
	snapshotMagic = "rummage signals snapshot 1\n"
	frameHeader   = 8
	snapshotFrame = 1 << 20
	maxFrame      = 1 << 30
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

func logName(gen uint64) string { return fmt.Sprintf("log-%020d", gen) }

type disk struct {
	dir    string
	gen    uint64
	f      *os.File
	size   int64
	failed error // the log could not be cut back after a failed write
	e      enc
}

func frame(payload []byte) []byte {
	out := make([]byte, frameHeader, frameHeader+len(payload))
	binary.LittleEndian.PutUint32(out, uint32(len(payload)))
	binary.LittleEndian.PutUint32(out[4:], crc32.Checksum(payload, crcTable))
	return append(out, payload...)
}

// readFrame reads one frame of at most left bytes (what the file holds
// after the read position, so that a damaged length never allocates more);
// io.EOF at a clean end, errCorrupt for a torn or damaged one.
func readFrame(r *bufio.Reader, left int64) ([]byte, error) {
	var h [frameHeader]byte
	if n, err := io.ReadFull(r, h[:]); err != nil {
		if err == io.EOF && n == 0 {
			return nil, io.EOF
		}
		if err == io.ErrUnexpectedEOF {
			return nil, errCorrupt
		}
		return nil, err
	}
	n := binary.LittleEndian.Uint32(h[:])
	if n > maxFrame || int64(n) > left-frameHeader {
		return nil, errCorrupt
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(r, p); err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return nil, errCorrupt
		}
		return nil, err
	}
	if crc32.Checksum(p, crcTable) != binary.LittleEndian.Uint32(h[4:]) {
		return nil, errCorrupt
	}
	return p, nil
}

// applyFrame applies every change and position of a frame to st.
func applyFrame(st *state, p []byte) error {
	defer st.settle()
	d := dec{b: p}
	for len(d.b) > 0 {
		c, pos, err := d.next()
		if err != nil {
			return err
		}
		if pos != nil {
			st.positions[posKey{pos.Topic, pos.Partition}] = pos.Offset
			continue
		}
		if _, err := st.apply(c); err != nil {
			return fmt.Errorf("%w: %v", errCorrupt, err)
		}
	}
	return nil
}

func openDisk(dir string) (*disk, *state, Recovery, error) {
	var rec Recovery
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, rec, fmt.Errorf("memory: %w", err)
	}
	st := newState()
	var snapGen uint64
	if f, err := os.Open(filepath.Join(dir, snapshotName)); err == nil {
		var size int64
		if fi, serr := f.Stat(); serr == nil {
			size = fi.Size()
		}
		snapGen, err = loadSnapshot(bufio.NewReaderSize(f, 1<<20), size, st)
		f.Close()
		if err != nil {
			return nil, nil, rec, fmt.Errorf("memory: snapshot in %s: %w", dir, err)
		}
		rec.Snapshot = true
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, nil, rec, fmt.Errorf("memory: %w", err)
	}
	// The logs the snapshot does not cover, oldest first: its own
	// generation's (begun when it was) and any begun since.
	gens, err := logGens(dir)
	if err != nil {
		return nil, nil, rec, fmt.Errorf("memory: %w", err)
	}
	var replay []uint64
	for _, g := range gens {
		if g >= snapGen {
			replay = append(replay, g)
		}
	}
	if len(replay) == 0 {
		replay = []uint64{snapGen}
	}
	d := &disk{dir: dir}
	for i, g := range replay {
		f, size, torn, err := replayLog(filepath.Join(dir, logName(g)), st, &rec)
		if err != nil {
			return nil, nil, rec, err
		}
		last := i == len(replay)-1 || torn
		if !last {
			f.Close()
			continue
		}
		// A torn frame ends the stream: the later logs cannot follow it.
		for _, later := range replay[i+1:] {
			if err := os.Remove(filepath.Join(dir, logName(later))); err != nil {
				f.Close()
				return nil, nil, rec, fmt.Errorf("memory: %w", err)
			}
		}
		d.f, d.gen, d.size = f, g, size
		break
	}
	if err := syncDir(dir); err != nil {
		d.f.Close()
		return nil, nil, rec, fmt.Errorf("memory: %w", err)
	}
	if err := removeLogsBefore(dir, snapGen); err != nil {
		d.f.Close()
		return nil, nil, rec, err
	}
	if err := removeStale(dir, snapshotName+".tmp-", ""); err != nil {
		d.f.Close()
		return nil, nil, rec, fmt.Errorf("memory: %w", err)
	}
	return d, st, rec, nil
}

// logGens are the generations of the logs in dir, ascending.
func logGens(dir string) ([]uint64, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var gens []uint64
	for _, e := range ents {
		var g uint64
		if n, _ := fmt.Sscanf(e.Name(), "log-%d", &g); n == 1 && e.Name() == logName(g) {
			gens = append(gens, g)
		}
	}
	slices.Sort(gens)
	return gens, nil
}

// removeLogsBefore removes the logs a snapshot of generation gen covers.
func removeLogsBefore(dir string, gen uint64) error {
	gens, err := logGens(dir)
	if err != nil {
		return fmt.Errorf("memory: %w", err)
	}
	for _, g := range gens {
		if g < gen {
			if err := os.Remove(filepath.Join(dir, logName(g))); err != nil {
				return fmt.Errorf("memory: %w", err)
			}
		}
	}
	return nil
}

// replayLog applies the log at path (created when missing) to st up to its
// first torn or corrupt frame, where it cuts the file; it returns the file
// positioned at its end, its good size, and whether it was torn.
func replayLog(path string, st *state, rec *Recovery) (*os.File, int64, bool, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, 0, false, fmt.Errorf("memory: %w", err)
	}
	fail := func(err error) (*os.File, int64, bool, error) {
		f.Close()
		return nil, 0, false, fmt.Errorf("memory: log %s: %w", path, err)
	}
	fi, err := f.Stat()
	if err != nil {
		return fail(err)
	}
	var size int64
	torn := false
	r := bufio.NewReaderSize(f, 1<<20)
	for {
		p, err := readFrame(r, fi.Size()-size)
		if err == io.EOF {
			break
		}
		if err == nil && len(p) == 0 {
			err = errCorrupt // never written: zeros a crash left
		}
		if err == nil {
			err = applyFrame(st, p)
		}
		if errors.Is(err, errCorrupt) {
			// A torn tail: a frame a crash cut, or a bad record. Nothing
			// after it is trusted.
			rec.TornBytes += fi.Size() - size
			if err := f.Truncate(size); err != nil {
				return fail(err)
			}
			if err := f.Sync(); err != nil {
				return fail(err)
			}
			torn = true
			break
		}
		if err != nil {
			return fail(err)
		}
		size += int64(frameHeader + len(p))
		rec.Records++
	}
	if _, err := f.Seek(size, io.SeekStart); err != nil {
		return fail(err)
	}
	return f, size, torn, nil
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// append logs b durably. On failure it cuts the log back to where it was,
// so that the next batch does not follow a torn frame.
func (d *disk) append(b *signals.Batch) error {
	d.e.b = d.e.b[:0]
	for i := range b.Changes {
		if err := d.e.change(&b.Changes[i]); err != nil {
			return err
		}
	}
	for _, p := range b.Positions {
		d.e.position(p)
	}
	fr := frame(d.e.b)
	_, err := d.f.Write(fr)
	if err == nil {
		err = d.f.Sync()
	}
	if err != nil {
		if terr := d.f.Truncate(d.size); terr != nil {
			d.failed = terr
		} else if _, serr := d.f.Seek(d.size, io.SeekStart); serr != nil {
			d.failed = serr
		}
		return fmt.Errorf("memory: log: %w", err)
	}
	d.size += int64(len(fr))
	return nil
}

// rotate starts the log of the next generation; the current one stays
// until a snapshot of the new generation covers it.
func (d *disk) rotate() error {
	gen := d.gen + 1
	f, err := os.OpenFile(filepath.Join(d.dir, logName(gen)), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("memory: new log: %w", err)
	}
	if err := syncDir(d.dir); err != nil {
		// A log a crash could lose with its batches: not to be used.
		f.Close()
		os.Remove(f.Name())
		return fmt.Errorf("memory: new log: %w", err)
	}
	old := d.f
	d.f, d.gen, d.size = f, gen, 0
	old.Close()
	return nil
}

// writeSnapshot writes a snapshot of generation gen (the state from encode
// replaces everything before log-gen) and removes the logs it covers. It
// touches no field of d but dir: Apply goes on appending meanwhile.
func (d *disk) writeSnapshot(gen uint64, encode func(e *enc, flush func() error) error) error {
	err := atomicfile.WriteFrom(filepath.Join(d.dir, snapshotName), 0o600, func(w io.Writer) error {
		if _, err := io.WriteString(w, snapshotMagic); err != nil {
			return err
		}
		if err := binary.Write(w, binary.LittleEndian, gen); err != nil {
			return err
		}
		e := &enc{}
		flush := func(force bool) error {
			if len(e.b) < snapshotFrame && !force {
				return nil
			}
			if len(e.b) > 0 {
				if _, err := w.Write(frame(e.b)); err != nil {
					return err
				}
			}
			e.b = e.b[:0]
			return nil
		}
		if err := encode(e, func() error { return flush(false) }); err != nil {
			return err
		}
		if err := flush(true); err != nil {
			return err
		}
		_, err := w.Write(frame(nil)) // the end
		return err
	})
	if err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	return removeLogsBefore(d.dir, gen)
}

func loadSnapshot(r *bufio.Reader, size int64, st *state) (uint64, error) {
	magic := make([]byte, len(snapshotMagic))
	if _, err := io.ReadFull(r, magic); err != nil || string(magic) != snapshotMagic {
		return 0, fmt.Errorf("%w: not a snapshot", errCorrupt)
	}
	var gen uint64
	if err := binary.Read(r, binary.LittleEndian, &gen); err != nil {
		return 0, fmt.Errorf("%w: %v", errCorrupt, err)
	}
	read := int64(len(snapshotMagic) + 8)
	for {
		p, err := readFrame(r, size-read)
		if err == io.EOF {
			return 0, fmt.Errorf("%w: no end", errCorrupt)
		}
		read += int64(frameHeader + len(p))
		if err != nil {
			return 0, err
		}
		if len(p) == 0 {
			return gen, nil
		}
		if err := applyFrame(st, p); err != nil {
			return 0, err
		}
	}
}

func (d *disk) close() error {
	if err := d.f.Close(); err != nil {
		return fmt.Errorf("memory: %w", err)
	}
	return nil
}

// pauseEvery is about how many items encode writes between pauses (a
// variable for the tests, which pause at every item).
var pauseEvery = 4096

// encode writes the state as changes that rebuild it on an empty state:
// the truncate floors, every row, every tombstone as a delete, and the
// positions; flush is called between items.
//
// The caller holds the read lock; pause(f) releases it, runs f (when not
// nil) and takes it again, so that Apply goes on while a snapshot is
// written. Such a snapshot is fuzzy — a row changed meanwhile may be
// written as it was or as it became — and is exact once the log begun
// before it is replayed over it: replaying a change already applied is
// harmless (the version rule), and every change applied since that log
// began is in it. Only a follower's (or blocker's) edges are written
// without a pause between them: a pause there could shift a live edge past
// the walk.
func (s *state) encode(e *enc, flush func() error, pause func(f func())) error {
	n := 0
	item := func(c *signals.Change) error {
		if err := e.change(c); err != nil {
			return err
		}
		if n++; n%pauseEvery == 0 {
			pause(nil)
		}
		return flush()
	}
	for table, v := range s.floors {
		if err := item(&signals.Change{Version: v, Truncate: table}); err != nil {
			return err
		}
	}
	for _, r := range s.sellers {
		row := r.row
		if err := item(&signals.Change{Version: r.ver, Delete: r.dead, Seller: &row}); err != nil {
			return err
		}
	}
	for _, r := range s.parties {
		row := r.row
		if err := item(&signals.Change{Version: r.ver, Delete: r.dead, Party: &row}); err != nil {
			return err
		}
	}
	edges := func(m map[uint32][]edge, c func(from, to uint32, ed edge) signals.Change) error {
		for f, es := range m {
			for _, ed := range es {
				c := c(f, ed.to, ed)
				if err := e.change(&c); err != nil {
					return err
				}
			}
			if err := flush(); err != nil {
				return err
			}
			if n += len(es); n >= pauseEvery {
				n = 0
				pause(nil)
			}
		}
		return nil
	}
	if err := edges(s.follows, func(f, to uint32, ed edge) signals.Change {
		return signals.Change{Version: ed.ver, Delete: ed.dead, Follow: &signals.Follow{Follower: s.strs[f], Seller: s.strs[to], At: msTime(ed.at)}}
	}); err != nil {
		return err
	}
	if err := edges(s.blocks, func(u, to uint32, ed edge) signals.Change {
		return signals.Change{Version: ed.ver, Delete: ed.dead, Block: &signals.Block{User: s.strs[u], Seller: s.strs[to], At: msTime(ed.at)}}
	}); err != nil {
		return err
	}
	// Likes and shares in arena order, which is about time order: the
	// rebuilt arena's spans stay narrow.
	type keyed struct {
		e     uint32
		key   uint64
		share bool
	}
	var evs []keyed
	for k, e := range s.likeIx {
		evs = append(evs, keyed{e, k, false})
		if len(evs)%(16*pauseEvery) == 0 {
			pause(nil)
		}
	}
	for blk, b := range s.shareIx {
		for i, e := range b {
			if e != 0 {
				evs = append(evs, keyed{e, uint64(blk<<blockBits | int64(i)), true})
			}
		}
		if blk%int64(pauseEvery/16+1) == 0 {
			pause(nil)
		}
	}
	pause(func() { slices.SortFunc(evs, func(a, b keyed) int { return cmp.Compare(a.e, b.e) }) })
	for _, k := range evs {
		e, dead := k.e, s.isDead(k.e)
		c := signals.Change{Version: s.verOf(e), Delete: dead}
		at := msTime(s.ev[e].at)
		if k.share {
			c.Share = &signals.Share{ID: int64(k.key), User: s.strs[s.ev[e].user], Listing: s.strs[s.ev[e].lst], At: at}
			if p := s.partyOf(e); p != 0 {
				c.Share.Party = s.strs[p]
			}
		} else {
			c.Like = &signals.Like{User: s.strs[uint32(k.key>>32)], Listing: s.strs[uint32(k.key)], At: at}
		}
		if err := item(&c); err != nil {
			return err
		}
	}
	for k, off := range s.positions {
		e.position(signals.Position{Topic: k.topic, Partition: k.partition, Offset: off})
		if err := flush(); err != nil {
			return err
		}
	}
	return nil
}
