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
		e.b = append(e.b, kindTruncate)
		e.uvarint(c.Version)
		e.str(c.Truncate)
	case c.Seller != nil:
		e.b = append(e.b, kindSeller|del)
		e.uvarint(c.Version)
		e.str(c.Seller.ID)
		e.str(c.Seller.Username)
		e.str(c.Seller.DisplayName)
		e.str(c.Seller.Status)
	case c.Follow != nil:
		e.b = append(e.b, kindFollow|del)
		e.uvarint(c.Version)
		e.str(c.Follow.Follower)
		e.str(c.Follow.Seller)
		e.time(c.Follow.At)
	case c.Block != nil:
		e.b = append(e.b, kindBlock|del)
		e.uvarint(c.Version)
		e.str(c.Block.User)
		e.str(c.Block.Seller)
		e.time(c.Block.At)
	case c.Like != nil:
		e.b = append(e.b, kindLike|del)
		e.uvarint(c.Version)
		e.str(c.Like.User)
		e.str(c.Like.Listing)
		e.time(c.Like.At)
	case c.Share != nil:
		e.b = append(e.b, kindShare|del)
		e.uvarint(c.Version)
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
		e.b = append(e.b, kindParty|del)
		e.uvarint(c.Version)
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

func (d *dec) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err, d.b = errCorrupt, nil
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *dec) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err, d.b = errCorrupt, nil
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *dec) str() string {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.err, d.b = errCorrupt, nil
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
