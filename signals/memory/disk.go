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
//   - snapshot: the whole state as of a generation G (magic, G, then frames
//     of changes and positions, then an empty frame), replaced atomically;
//   - log-G: every batch applied since, one frame each, fsynced before
//     Apply returns.
//
// A frame is its payload's length and CRC-32C, then the payload. A batch's
// changes and positions are one frame, so after a crash both or neither
// are there. Recovery loads the snapshot, applies log-G up to its first
// torn or corrupt frame and truncates the log there (that batch never
// returned nil, or the disk lost it: either way its positions went with
// it and the applier reads it again).

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

// readFrame reads one frame; io.EOF at a clean end, errCorrupt for a torn
// or damaged one.
func readFrame(r *bufio.Reader) ([]byte, error) {
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
	if n > maxFrame {
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
	d := &disk{dir: dir}
	if f, err := os.Open(filepath.Join(dir, snapshotName)); err == nil {
		d.gen, err = loadSnapshot(bufio.NewReaderSize(f, 1<<20), st)
		f.Close()
		if err != nil {
			return nil, nil, rec, fmt.Errorf("memory: snapshot in %s: %w", dir, err)
		}
		rec.Snapshot = true
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, nil, rec, fmt.Errorf("memory: %w", err)
	}
	path := filepath.Join(dir, logName(d.gen))
	_, statErr := os.Stat(path)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, nil, rec, fmt.Errorf("memory: %w", err)
	}
	d.f = f
	fail := func(err error) (*disk, *state, Recovery, error) {
		f.Close()
		return nil, nil, rec, fmt.Errorf("memory: log %s: %w", path, err)
	}
	r := bufio.NewReaderSize(f, 1<<20)
	for {
		p, err := readFrame(r)
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
			fi, serr := f.Stat()
			if serr != nil {
				return fail(serr)
			}
			rec.TornBytes = fi.Size() - d.size
			if err := f.Truncate(d.size); err != nil {
				return fail(err)
			}
			if err := f.Sync(); err != nil {
				return fail(err)
			}
			break
		}
		if err != nil {
			return fail(err)
		}
		d.size += int64(frameHeader + len(p))
		rec.Records++
	}
	if _, err := f.Seek(d.size, io.SeekStart); err != nil {
		return fail(err)
	}
	if errors.Is(statErr, os.ErrNotExist) {
		if err := syncDir(dir); err != nil {
			return fail(err)
		}
	}
	if err := removeStale(dir, "log-", logName(d.gen)); err != nil {
		return fail(err)
	}
	if err := removeStale(dir, snapshotName+".tmp-", ""); err != nil {
		return fail(err)
	}
	return d, st, rec, nil
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

// snapshot writes st as generation gen+1 and starts its empty log.
func (d *disk) snapshot(st *state) error {
	gen := d.gen + 1
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
		if err := st.encode(e, func() error { return flush(false) }); err != nil {
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
	path := filepath.Join(d.dir, logName(gen))
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err == nil {
		err = syncDir(d.dir)
	}
	if err != nil {
		// The snapshot is in place: a restart starts gen's log itself.
		d.failed = err
		return fmt.Errorf("snapshot: new log: %w", err)
	}
	old := d.f
	d.f, d.gen, d.size = f, gen, 0
	old.Close()
	if err := os.Remove(filepath.Join(d.dir, logName(gen-1))); err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	return nil
}

func loadSnapshot(r *bufio.Reader, st *state) (uint64, error) {
	magic := make([]byte, len(snapshotMagic))
	if _, err := io.ReadFull(r, magic); err != nil || string(magic) != snapshotMagic {
		return 0, fmt.Errorf("%w: not a snapshot", errCorrupt)
	}
	var gen uint64
	if err := binary.Read(r, binary.LittleEndian, &gen); err != nil {
		return 0, fmt.Errorf("%w: %v", errCorrupt, err)
	}
	for {
		p, err := readFrame(r)
		if err == io.EOF {
			return 0, fmt.Errorf("%w: no end", errCorrupt)
		}
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

// encode writes the state as changes that rebuild it on an empty state:
// the truncate floors, every row, every tombstone as a delete, and the
// positions; flush is called between items.
func (s *state) encode(e *enc, flush func() error) error {
	item := func(c *signals.Change) error {
		if err := e.change(c); err != nil {
			return err
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
	for f, es := range s.follows {
		for _, ed := range es {
			c := signals.Change{Version: ed.ver, Delete: ed.dead, Follow: &signals.Follow{Follower: s.strs[f], Seller: s.strs[ed.to], At: msTime(ed.at)}}
			if err := item(&c); err != nil {
				return err
			}
		}
	}
	for u, es := range s.blocks {
		for _, ed := range es {
			c := signals.Change{Version: ed.ver, Delete: ed.dead, Block: &signals.Block{User: s.strs[u], Seller: s.strs[ed.to], At: msTime(ed.at)}}
			if err := item(&c); err != nil {
				return err
			}
		}
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
	}
	for blk, b := range s.shareIx {
		for i, e := range b {
			if e != 0 {
				evs = append(evs, keyed{e, uint64(blk<<blockBits | int64(i)), true})
			}
		}
	}
	slices.SortFunc(evs, func(a, b keyed) int { return cmp.Compare(a.e, b.e) })
	for _, k := range evs {
		e, dead := k.e, s.isDead(k.e)
		c := signals.Change{Version: s.ver[e], Delete: dead}
		at := msTime(s.at[e])
		if k.share {
			c.Share = &signals.Share{ID: int64(k.key), User: s.strs[s.user[e]], Listing: s.strs[s.lst[e]], At: at}
			if p := s.party[e]; p != 0 {
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
