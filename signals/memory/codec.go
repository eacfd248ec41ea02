package memory

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/rummage/rummage/query"
	"github.com/rummage/rummage/signals"
)

// The binary form of changes and positions, in the log and the snapshot:
// varints, strings as a length and bytes, instants as Unix milliseconds.

const (
	kindSeller byte = 1 + iota
	kindFollow
	kindLike
	kindShare
	kindParty
	kindBlock
	kindTruncate
	kindPosition
	deleteBit byte = 0x80
)

var errCorrupt = errors.New("memory: corrupt record")

type enc struct{ b []byte }

func (e *enc) uvarint(v uint64) { e.b = binary.AppendUvarint(e.b, v) }
func (e *enc) varint(v int64)   { e.b = binary.AppendVarint(e.b, v) }
func (e *enc) str(s string)     { e.uvarint(uint64(len(s))); e.b = append(e.b, s...) }
func (e *enc) time(t time.Time) { e.varint(t.UnixMilli()) }

// head starts a change: its kind (with the delete bit) and its version.
func (e *enc) head(kind byte, version uint64) {
	e.b = append(e.b, kind)
	e.uvarint(version)
}

// edge writes a follow, a block or a like: its two ends and its instant.
func (e *enc) edge(from, to string, at time.Time) {
	e.str(from)
	e.str(to)
	e.time(at)
}

func (e *enc) position(p signals.Position) {
	e.b = append(e.b, kindPosition)
	e.str(p.Topic)
	e.varint(int64(p.Partition))
	e.varint(p.Offset)
}

// themeBin is a theme as stored: its query and filters as they are (a
// stored theme was valid when it was parsed; recovery does not judge it
// again).
type themeBin struct {
	Q string        `json:"q"`
	F query.Filters `json:"f"`
}

func (e *enc) change(c *signals.Change) error {
	var del byte
	if c.Delete {
		del = deleteBit
	}
	switch {
	case c.Truncate != "":
		e.head(kindTruncate, c.Version)
		e.str(c.Truncate)
	case c.Seller != nil:
		e.head(kindSeller|del, c.Version)
		e.str(c.Seller.ID)
		e.str(c.Seller.Username)
		e.str(c.Seller.DisplayName)
		e.str(c.Seller.Status)
	case c.Follow != nil:
		e.head(kindFollow|del, c.Version)
		e.edge(c.Follow.Follower, c.Follow.Seller, c.Follow.At)
	case c.Block != nil:
		e.head(kindBlock|del, c.Version)
		e.edge(c.Block.User, c.Block.Seller, c.Block.At)
	case c.Like != nil:
		e.head(kindLike|del, c.Version)
		e.edge(c.Like.User, c.Like.Listing, c.Like.At)
	case c.Share != nil:
		e.head(kindShare|del, c.Version)
		e.varint(c.Share.ID)
		e.str(c.Share.User)
		e.str(c.Share.Listing)
		e.str(c.Share.Party)
		e.time(c.Share.At)
	case c.Party != nil:
		th, err := json.Marshal(themeBin{c.Party.Theme.Query, c.Party.Theme.Filters})
		if err != nil {
			return fmt.Errorf("memory: party %s: %w", c.Party.ID, err)
		}
		e.head(kindParty|del, c.Version)
		e.str(c.Party.ID)
		e.str(c.Party.Name)
		e.str(string(th))
		e.time(c.Party.StartsAt)
		e.time(c.Party.EndsAt)
	default:
		return fmt.Errorf("memory: a change with no row and no truncate (version %d)", c.Version)
	}
	return nil
}

type dec struct {
	b   []byte
	err error
}

// corrupt marks the record corrupt: every later read yields zero values.
func (d *dec) corrupt() { d.err, d.b = errCorrupt, nil }

// skip consumes the n bytes of a varint just read; binary.Uvarint and
// binary.Varint report a short or overlong one (value 0) with n <= 0.
func (d *dec) skip(n int) {
	if n <= 0 {
		d.corrupt()
		return
	}
	d.b = d.b[n:]
}

func (d *dec) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	d.skip(n)
	return v
}

func (d *dec) varint() int64 {
	v, n := binary.Varint(d.b)
	d.skip(n)
	return v
}

func (d *dec) str() string {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.corrupt()
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *dec) time() time.Time { return msTime(d.varint()) }

// next decodes one change or position: exactly one of the results is set.
func (d *dec) next() (*signals.Change, *signals.Position, error) {
	if len(d.b) == 0 {
		return nil, nil, errCorrupt
	}
	tag := d.b[0]
	d.b = d.b[1:]
	if tag == kindPosition {
		p := &signals.Position{Topic: d.str(), Partition: int(d.varint()), Offset: d.varint()}
		return nil, p, d.err
	}
	c := &signals.Change{Delete: tag&deleteBit != 0, Version: d.uvarint()}
	switch tag &^ deleteBit {
	case kindTruncate:
		c.Truncate = d.str()
	case kindSeller:
		c.Seller = &signals.Seller{ID: d.str(), Username: d.str(), DisplayName: d.str(), Status: d.str()}
	case kindFollow:
		c.Follow = &signals.Follow{Follower: d.str(), Seller: d.str(), At: d.time()}
	case kindBlock:
		c.Block = &signals.Block{User: d.str(), Seller: d.str(), At: d.time()}
	case kindLike:
		c.Like = &signals.Like{User: d.str(), Listing: d.str(), At: d.time()}
	case kindShare:
		c.Share = &signals.Share{ID: d.varint(), User: d.str(), Listing: d.str(), Party: d.str(), At: d.time()}
	case kindParty:
		p := &signals.Party{ID: d.str(), Name: d.str()}
		var th themeBin
		if err := json.Unmarshal([]byte(d.str()), &th); err != nil && d.err == nil {
			d.err = fmt.Errorf("%w: party %s theme: %v", errCorrupt, p.ID, err)
		}
		p.Theme = signals.Theme{Query: th.Q, Filters: th.F}
		p.StartsAt, p.EndsAt = d.time(), d.time()
		c.Party = p
	default:
		return nil, nil, fmt.Errorf("%w: tag %#x", errCorrupt, tag)
	}
	return c, nil, d.err
}
