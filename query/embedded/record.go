package embedded

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/rummage/rummage"
)

// The stored field of every Bleve document is a record: a short binary
// header with the version and the column values, then the rest of the
// listing, in binary too.
// Reopening an index decodes only the header, which is what makes it fast;
// hits and Get decode the rest too.
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
//	str      seller id
//	-- the rest of the listing --
//	str      title, description
//	uvarint  n, n × str tags
//	uvarint  n, n × (str url, uvarint width, uvarint height) images
//	varint   original price
//	time     created, updated, [available at], [last shared]
//
// str is a uvarint length and the bytes; time is a varint of Unix seconds
// and a uvarint of nanoseconds (the instant; read back in UTC). A binary
// tail rather than JSON: hits are decoded on every search, and
// encoding/json took 25 µs a listing, most of a text query's CPU.
const recordFormat = 2

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

// statusNames maps a status code back to the status.
var statusNames = [...]string{stAvailable: rummage.StatusAvailable, stReserved: rummage.StatusReserved,
	stSold: rummage.StatusSold, stRemoved: rummage.StatusRemoved}

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

// conditionNames is rummage.Conditions(), read per hit.
var conditionNames = rummage.Conditions()

// conditionCode is 1 + the index in rummage.Conditions(), 0 for none.
func conditionCode(c string) uint8 {
	for i, x := range conditionNames {
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
	seller   string
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
		seller:   l.SellerID,
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
	dst = appendStr(dst, l.SellerID)
	dst = appendStr(dst, l.Title)
	dst = appendStr(dst, l.Description)
	dst = binary.AppendUvarint(dst, uint64(len(l.Tags)))
	for _, t := range l.Tags {
		dst = appendStr(dst, t)
	}
	dst = binary.AppendUvarint(dst, uint64(len(l.Images)))
	for _, im := range l.Images {
		dst = appendStr(dst, im.URL)
		dst = binary.AppendUvarint(dst, uint64(max(im.Width, 0)))
		dst = binary.AppendUvarint(dst, uint64(max(im.Height, 0)))
	}
	dst = binary.AppendVarint(dst, l.OriginalPriceCents)
	dst = appendTime(dst, l.CreatedAt)
	dst = appendTime(dst, l.UpdatedAt)
	if l.AvailableAt != nil {
		dst = appendTime(dst, *l.AvailableAt)
	}
	if l.LastSharedAt != nil {
		dst = appendTime(dst, *l.LastSharedAt)
	}
	return dst, nil
}

func appendTime(dst []byte, t time.Time) []byte {
	dst = binary.AppendVarint(dst, t.Unix())
	return binary.AppendUvarint(dst, uint64(t.Nanosecond()))
}

func (r *recReader) time() time.Time {
	sec := r.varint()
	nsec := r.uvarint()
	if nsec >= 1e9 {
		r.err = errCorrupt
	}
	return time.Unix(sec, int64(nsec)).UTC()
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

// varint is binary.Varint: a zig-zag encoded uvarint.
func (r *recReader) varint() int64 {
	ux := r.uvarint()
	x := int64(ux >> 1)
	if ux&1 != 0 {
		x = ^x
	}
	return x
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

// decodeHeader reads the column part of a record (the seller included) and
// returns the rest.
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
	c.seller = r.str()
	if flags&flagShared == 0 {
		c.shared = noTime
	}
	if flags&flagAvail == 0 {
		c.avail = noTime
	}
	return c, r.b, r.err
}

// decodeListing reads the listing of a record; ok is false for a tombstone.
func decodeListing(id string, b []byte) (l *rummage.Listing, version uint64, ok bool, err error) {
	c, rest, err := decodeHeader(b)
	if err != nil || c.deleted {
		return nil, c.version, false, err
	}
	r := recReader{b: rest}
	l = &rummage.Listing{
		ID:         id,
		SellerID:   c.seller,
		Brand:      c.brand,
		Size:       c.size,
		Category:   c.category,
		PriceCents: c.price,
		Colors:     c.colors,
		LikeCount:  int64(c.likes),
		ShareCount: int64(c.shares),
	}
	if c.cond > 0 && int(c.cond) <= len(conditionNames) {
		l.Condition = conditionNames[c.cond-1]
	}
	if c.status > stNone && int(c.status) < len(statusNames) {
		l.Status = statusNames[c.status]
	}
	l.Title = r.str()
	l.Description = r.str()
	l.Tags = r.strs()
	if n := r.uvarint(); n > 0 && n <= uint64(len(r.b)) {
		l.Images = make([]rummage.Image, n)
		for i := range l.Images {
			l.Images[i] = rummage.Image{URL: r.str(), Width: int(r.uvarint()), Height: int(r.uvarint())}
		}
	} else if n > 0 {
		r.err = errCorrupt
	}
	l.OriginalPriceCents = r.varint()
	l.CreatedAt = r.time()
	l.UpdatedAt = r.time()
	if c.avail != noTime {
		t := r.time()
		l.AvailableAt = &t
	}
	if c.shared != noTime {
		t := r.time()
		l.LastSharedAt = &t
	}
	if r.err != nil {
		return nil, 0, false, r.err
	}
	return l, c.version, true, nil
}
