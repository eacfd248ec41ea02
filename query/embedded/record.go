package embedded

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"

	"github.com/rummage/rummage"
)

// The stored field of every Bleve document is a record: a short binary
// header with the version and the column values, then the listing as JSON.
// Reopening an index decodes only the header, which is what makes it fast;
// hits and Get decode the JSON.
//
//	byte     format (recordFormat)
//	uvarint  version
//	byte     flags (flagDeleted, flagShared, flagAvail)
//	-- only when not deleted --
//	str      brand, size
//	byte     condition code, status code
//	uvarint  n, n × str colors
//	uvarint  n, n × str category path
//	varint   price, created ms, last shared ms, available at ms
//	uvarint  likes, shares
//	rest     the listing as JSON
//
// str is a uvarint length and the bytes.
const recordFormat = 1

const (
	flagDeleted = 1 << iota
	flagShared
	flagAvail
)

// noTime marks an absent optional time in a column.
const noTime = math.MinInt64

// Status codes in columns. Zero is "no document" (an ordinal assigned before
// its write landed, or a tombstone).
const (
	stNone uint8 = iota
	stAvailable
	stReserved
	stSold
	stRemoved
)

func statusCode(s string) uint8 {
	switch s {
	case rummage.StatusAvailable, "":
		return stAvailable
	case rummage.StatusReserved:
		return stReserved
	case rummage.StatusSold:
		return stSold
	case rummage.StatusRemoved:
		return stRemoved
	}
	return stRemoved // Validate rejects others; never show an unknown status
}

// conditionCode is 1 + the index in rummage.Conditions, 0 for none.
func conditionCode(c string) uint8 {
	for i, x := range rummage.Conditions {
		if x == c {
			return uint8(i + 1)
		}
	}
	return 0
}

// colRecord is what the columns hold of one listing.
type colRecord struct {
	version  uint64
	deleted  bool
	brand    string
	size     string
	cond     uint8
	status   uint8
	colors   []string
	category []string
	price    int64
	created  int64
	shared   int64 // noTime when never shared
	avail    int64 // noTime when not a drop
	likes    uint64
	shares   uint64
}

func recordOf(l *rummage.Listing, version uint64) colRecord {
	r := colRecord{
		version:  version,
		brand:    l.Brand,
		size:     l.Size,
		cond:     conditionCode(l.Condition),
		status:   statusCode(l.Status),
		colors:   l.Colors,
		category: l.Category,
		price:    l.PriceCents,
		created:  l.CreatedAt.UnixMilli(),
		shared:   noTime,
		avail:    noTime,
		likes:    uint64(max(l.LikeCount, 0)),
		shares:   uint64(max(l.ShareCount, 0)),
	}
	if l.LastSharedAt != nil {
		r.shared = l.LastSharedAt.UnixMilli()
	}
	if l.AvailableAt != nil {
		r.avail = l.AvailableAt.UnixMilli()
	}
	return r
}

// encodeRecord appends the stored record of l (nil for a tombstone).
func encodeRecord(dst []byte, l *rummage.Listing, version uint64) ([]byte, error) {
	dst = append(dst, recordFormat)
	dst = binary.AppendUvarint(dst, version)
	if l == nil {
		return append(dst, flagDeleted), nil
	}
	r := recordOf(l, version)
	var flags byte
	if r.shared != noTime {
		flags |= flagShared
	}
	if r.avail != noTime {
		flags |= flagAvail
	}
	dst = append(dst, flags)
	dst = appendStr(dst, r.brand)
	dst = appendStr(dst, r.size)
	dst = append(dst, r.cond, r.status)
	dst = binary.AppendUvarint(dst, uint64(len(r.colors)))
	for _, c := range r.colors {
		dst = appendStr(dst, c)
	}
	dst = binary.AppendUvarint(dst, uint64(len(r.category)))
	for _, c := range r.category {
		dst = appendStr(dst, c)
	}
	dst = binary.AppendVarint(dst, r.price)
	dst = binary.AppendVarint(dst, r.created)
	dst = binary.AppendVarint(dst, timeOr0(r.shared))
	dst = binary.AppendVarint(dst, timeOr0(r.avail))
	dst = binary.AppendUvarint(dst, r.likes)
	dst = binary.AppendUvarint(dst, r.shares)
	js, err := json.Marshal(l)
	if err != nil {
		return nil, fmt.Errorf("encode listing %q: %w", l.ID, err)
	}
	return append(dst, js...), nil
}

func timeOr0(ms int64) int64 {
	if ms == noTime {
		return 0
	}
	return ms
}

func appendStr(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

var errCorrupt = errors.New("corrupt stored record")

// recReader decodes a record; the first error sticks.
type recReader struct {
	b   []byte
	err error
}

func (r *recReader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errCorrupt
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *recReader) varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.err = errCorrupt
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *recReader) byte() byte {
	if r.err != nil || len(r.b) == 0 {
		r.err = errCorrupt
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *recReader) str() string {
	n := r.uvarint()
	if r.err != nil || n > uint64(len(r.b)) {
		r.err = errCorrupt
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

func (r *recReader) strs() []string {
	n := r.uvarint()
	if r.err != nil || n > uint64(len(r.b)) {
		r.err = errCorrupt
		return nil
	}
	if n == 0 {
		return nil
	}
	out := make([]string, n)
	for i := range out {
		out[i] = r.str()
	}
	return out
}

// decodeHeader reads the column part of a record and returns the JSON rest.
func decodeHeader(b []byte) (colRecord, []byte, error) {
	r := recReader{b: b}
	if r.byte() != recordFormat {
		return colRecord{}, nil, fmt.Errorf("%w: unknown format", errCorrupt)
	}
	var c colRecord
	c.version = r.uvarint()
	flags := r.byte()
	if flags&flagDeleted != 0 {
		c.deleted = true
		return c, nil, r.err
	}
	c.brand = r.str()
	c.size = r.str()
	c.cond = r.byte()
	c.status = r.byte()
	c.colors = r.strs()
	c.category = r.strs()
	c.price = r.varint()
	c.created = r.varint()
	c.shared = r.varint()
	c.avail = r.varint()
	c.likes = r.uvarint()
	c.shares = r.uvarint()
	if flags&flagShared == 0 {
		c.shared = noTime
	}
	if flags&flagAvail == 0 {
		c.avail = noTime
	}
	return c, r.b, r.err
}

// decodeListing reads the listing of a record; ok is false for a tombstone.
func decodeListing(b []byte) (l *rummage.Listing, version uint64, ok bool, err error) {
	c, js, err := decodeHeader(b)
	if err != nil || c.deleted {
		return nil, c.version, false, err
	}
	l = new(rummage.Listing)
	if err := json.Unmarshal(js, l); err != nil {
		return nil, 0, false, fmt.Errorf("%w: %v", errCorrupt, err)
	}
	return l, c.version, true, nil
}
