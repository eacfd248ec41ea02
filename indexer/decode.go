package indexer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	gojson "github.com/goccy/go-json"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/rummage/rummage"
	"github.com/rummage/rummage/indexer/change"
)

// ErrTombstone is returned by DecodeEvent for a message with a null value
// (Debezium follows every delete with one, for log compaction). It carries no
// change and is skipped.
var ErrTombstone = change.ErrTombstone

// DecodeEvent decodes a message into a change event: the envelope this
// project's CDC writes and the Debezium Postgres connector's output, with or
// without the JSON converter's schema wrapper. Errors wrap change.ErrInvalid
// (or are ErrTombstone). Besides the envelope's own checks it requires a
// source table (taken from the topic's last dot-separated part when the
// envelope has none) and a non-zero source.lsn, the event's version.
func DecodeEvent(topic string, key, value []byte) (change.Event, error) {
	e, err := unmarshalEvent(key, value)
	if err != nil {
		return e, err
	}
	if e.Source.Table == "" {
		if i := strings.LastIndexByte(topic, '.'); i >= 0 && i < len(topic)-1 {
			e.Source.Table = topic[i+1:]
		}
	}
	if e.Source.Table == "" {
		return e, fmt.Errorf("%w: no source.table and topic %q names none", change.ErrInvalid, topic)
	}
	if e.Source.LSN == 0 {
		return e, fmt.Errorf("%w: source.lsn is missing or 0: the event has no version", change.ErrInvalid)
	}
	return e, nil
}

// envelope is the schema wrapper's two fields and the plain envelope in one
// struct, so that the plain form (this project's CDC writes it) is decoded in
// one pass: change.Unmarshal first decodes the value to look for the wrapper
// and then again as the event, and JSON scanning is most of the indexer's
// CPU.
type envelope struct {
	Schema  json.RawMessage `json:"schema"`
	Payload json.RawMessage `json:"payload"`
	change.Event
}

// unmarshalEvent is change.Unmarshal, with the plain envelope decoded in one
// pass. Anything unusual (the wrapper, a decoding error) goes to
// change.Unmarshal itself, so results and errors are the same (the fuzz test
// compares them).
func unmarshalEvent(key, value []byte) (change.Event, error) {
	v := bytes.TrimSpace(value)
	if len(v) == 0 || v[0] != '{' {
		return change.Unmarshal(key, value)
	}
	var env envelope
	if err := gojson.Unmarshal(v, &env); err != nil || env.Schema != nil && env.Payload != nil {
		return change.Unmarshal(key, value)
	}
	e := env.Event
	if !e.Op.Valid() {
		return e, fmt.Errorf("%w: op %q", change.ErrInvalid, e.Op)
	}
	if isNull(e.Before) {
		e.Before = nil
	}
	if isNull(e.After) {
		e.After = nil
	}
	switch e.Op {
	case change.OpCreate, change.OpRead, change.OpUpdate:
		if e.After == nil {
			return e, fmt.Errorf("%w: op %q without after", change.ErrInvalid, e.Op)
		}
	case change.OpDelete:
		if e.Before == nil {
			return e, fmt.Errorf("%w: delete without before", change.ErrInvalid)
		}
	}
	if k := bytes.TrimSpace(key); len(k) > 0 && string(k) != "null" {
		var w struct {
			Schema  json.RawMessage `json:"schema"`
			Payload json.RawMessage `json:"payload"`
		}
		if err := gojson.Unmarshal(k, &w); err != nil {
			return e, fmt.Errorf("%w: %v", change.ErrInvalid, err)
		}
		if w.Schema != nil && w.Payload != nil {
			k = w.Payload
		}
		e.Key = append(json.RawMessage(nil), k...)
	}
	return e, nil
}

// TransformError reports a row that does not map to a listing document.
type TransformError struct {
	Field string
	Err   error
}

func (e *TransformError) Error() string { return "column " + e.Field + ": " + e.Err.Error() }

func (e *TransformError) Unwrap() error { return e.Err }

// DecodeListing maps a listings row (column name → JSON value, as in the
// envelope's before/after) to the canonical document. It accepts both
// encodings in use: this project's CDC and Debezium's (timestamptz as ISO-8601
// strings, io.debezium.time.ZonedTimestamp; text[] as JSON arrays; jsonb as a
// JSON string, io.debezium.data.Json, or as inline JSON; bigint as numbers).
// Null means absent. Unknown columns are ignored, so a column added while
// running flows through harmlessly. The result is normalized, not validated.
func DecodeListing(row []byte) (rummage.Listing, error) {
	var l rummage.Listing
	// One pass into the known columns (the rest are skipped), then each
	// column on its own: decoding into a map first and then each value again
	// cost twice the JSON scanning, and decoding is most of the indexer's CPU.
	var r listingRow
	if err := gojson.Unmarshal(row, &r); err != nil {
		return l, &TransformError{Field: "(row)", Err: fmt.Errorf("not a JSON object: %w", err)}
	}
	if isNull(row) {
		return l, &TransformError{Field: "(row)", Err: errors.New("row is null")}
	}
	cols := r.columns()
	var err error
	set := func(col int, f func(json.RawMessage) error) {
		if err != nil {
			return
		}
		v := cols[col]
		if isNull(v) {
			return
		}
		if e := f(v); e != nil {
			err = &TransformError{Field: columnNames[col], Err: e}
		}
	}
	str := func(dst *string) func(json.RawMessage) error {
		return func(v json.RawMessage) error {
			if s, ok := plainString(v); ok {
				*dst = s
				return nil
			}
			return gojson.Unmarshal(v, dst)
		}
	}
	num := func(dst *int64) func(json.RawMessage) error {
		return func(v json.RawMessage) (e error) { *dst, e = decodeInt(v); return e }
	}
	strs := func(dst *[]string) func(json.RawMessage) error {
		return func(v json.RawMessage) error { return decodeStrings(v, dst) }
	}
	ts := func(dst *time.Time) func(json.RawMessage) error {
		return func(v json.RawMessage) (e error) { *dst, e = decodeTime(v); return e }
	}
	tsp := func(dst **time.Time) func(json.RawMessage) error {
		return func(v json.RawMessage) error {
			t, e := decodeTime(v)
			if e == nil {
				*dst = &t
			}
			return e
		}
	}
	set(colID, str(&l.ID))
	set(colSellerID, str(&l.SellerID))
	set(colTitle, str(&l.Title))
	set(colDescription, str(&l.Description))
	set(colBrand, str(&l.Brand))
	set(colCategory, strs(&l.Category))
	set(colSize, str(&l.Size))
	set(colCondition, str(&l.Condition))
	set(colPriceCents, num(&l.PriceCents))
	set(colOriginalPriceCents, num(&l.OriginalPriceCents))
	set(colColors, strs(&l.Colors))
	set(colTags, strs(&l.Tags))
	set(colImages, func(v json.RawMessage) error { return decodeImages(v, &l.Images) })
	set(colStatus, str(&l.Status))
	set(colCreatedAt, ts(&l.CreatedAt))
	set(colUpdatedAt, ts(&l.UpdatedAt))
	set(colAvailableAt, tsp(&l.AvailableAt))
	set(colLikeCount, num(&l.LikeCount))
	set(colShareCount, num(&l.ShareCount))
	set(colLastSharedAt, tsp(&l.LastSharedAt))
	if err != nil {
		return rummage.Listing{}, err
	}
	l.Normalize()
	return l, nil
}

// listingRow holds the columns of a listings row that map to the document,
// undecoded. encoding/json matches object keys to these field names
// case-insensitively; Postgres column names are lower case.
type listingRow struct {
	ID                 json.RawMessage `json:"id"`
	SellerID           json.RawMessage `json:"seller_id"`
	Title              json.RawMessage `json:"title"`
	Description        json.RawMessage `json:"description"`
	Brand              json.RawMessage `json:"brand"`
	Category           json.RawMessage `json:"category"`
	Size               json.RawMessage `json:"size"`
	Condition          json.RawMessage `json:"condition"`
	PriceCents         json.RawMessage `json:"price_cents"`
	OriginalPriceCents json.RawMessage `json:"original_price_cents"`
	Colors             json.RawMessage `json:"colors"`
	Tags               json.RawMessage `json:"tags"`
	Images             json.RawMessage `json:"images"`
	Status             json.RawMessage `json:"status"`
	CreatedAt          json.RawMessage `json:"created_at"`
	UpdatedAt          json.RawMessage `json:"updated_at"`
	AvailableAt        json.RawMessage `json:"available_at"`
	LikeCount          json.RawMessage `json:"like_count"`
	ShareCount         json.RawMessage `json:"share_count"`
	LastSharedAt       json.RawMessage `json:"last_shared_at"`
}

const (
	colID = iota
	colSellerID
	colTitle
	colDescription
	colBrand
	colCategory
	colSize
	colCondition
	colPriceCents
	colOriginalPriceCents
	colColors
	colTags
	colImages
	colStatus
	colCreatedAt
	colUpdatedAt
	colAvailableAt
	colLikeCount
	colShareCount
	colLastSharedAt
	numColumns
)

var columnNames = [numColumns]string{"id", "seller_id", "title", "description", "brand", "category", "size",
	"condition", "price_cents", "original_price_cents", "colors", "tags", "images", "status", "created_at",
	"updated_at", "available_at", "like_count", "share_count", "last_shared_at"}

func (r *listingRow) columns() [numColumns]json.RawMessage {
	return [numColumns]json.RawMessage{r.ID, r.SellerID, r.Title, r.Description, r.Brand, r.Category, r.Size,
		r.Condition, r.PriceCents, r.OriginalPriceCents, r.Colors, r.Tags, r.Images, r.Status, r.CreatedAt,
		r.UpdatedAt, r.AvailableAt, r.LikeCount, r.ShareCount, r.LastSharedAt}
}

// plainString returns the value of a JSON string literal without escapes
// (most are), as json.Unmarshal would, without a second scan; ok is false
// for anything else, which the caller decodes the ordinary way. v must be
// valid JSON (it comes from a decoded object).
func plainString(v []byte) (string, bool) {
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return "", false
	}
	body := v[1 : len(v)-1]
	if bytes.IndexByte(body, '\\') >= 0 || !utf8.Valid(body) {
		return "", false
	}
	return string(body), true
}

// keyID returns the "id" of a row or, failing that, of the message key.
func keyID(row, key []byte) (string, error) {
	for _, b := range [][]byte{row, key} {
		var k struct {
			ID json.RawMessage `json:"id"`
		}
		if len(b) == 0 || gojson.Unmarshal(b, &k) != nil || isNull(k.ID) {
			continue
		}
		var s string
		if err := gojson.Unmarshal(k.ID, &s); err != nil {
			return "", &TransformError{Field: "id", Err: err}
		}
		return s, nil
	}
	return "", &TransformError{Field: "id", Err: errors.New("neither the row nor the key has an id")}
}

func isNull(b []byte) bool {
	b = bytes.TrimSpace(b)
	return len(b) == 0 || string(b) == "null"
}

// decodeInt accepts a JSON number (integral) or a string holding one
// (Debezium's decimal.handling.mode=string, or a bigint beyond 2^53 written as
// text).
func decodeInt(v json.RawMessage) (int64, error) {
	if len(v) > 0 && (v[0] == '-' || v[0] >= '0' && v[0] <= '9') {
		if i, err := strconv.ParseInt(string(v), 10, 64); err == nil {
			return i, nil
		}
	}
	var n json.Number
	if err := gojson.Unmarshal(v, &n); err != nil {
		var s string
		if gojson.Unmarshal(v, &s) != nil {
			return 0, fmt.Errorf("want an integer, got %s", abbrev(v))
		}
		n = json.Number(strings.TrimSpace(s))
	}
	i, err := strconv.ParseInt(n.String(), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("want an integer, got %s", abbrev(v))
	}
	return i, nil
}

// decodeStrings accepts a JSON array of strings (nulls inside are dropped).
func decodeStrings(v json.RawMessage, dst *[]string) error {
	var raw []*string
	if err := gojson.Unmarshal(v, &raw); err != nil {
		return fmt.Errorf("want an array of strings, got %s", abbrev(v))
	}
	out := make([]string, 0, len(raw))
	for _, s := range raw {
		if s != nil {
			out = append(out, *s)
		}
	}
	if len(out) == 0 {
		out = nil
	}
	*dst = out
	return nil
}

// decodeImages accepts the jsonb column inline (an array) or as a string
// holding the JSON text (Debezium's io.debezium.data.Json).
func decodeImages(v json.RawMessage, dst *[]rummage.Image) error {
	var s string
	if gojson.Unmarshal(v, &s) == nil {
		if strings.TrimSpace(s) == "" || strings.TrimSpace(s) == "null" {
			return nil
		}
		v = json.RawMessage(s)
	}
	var imgs []rummage.Image
	if err := gojson.Unmarshal(v, &imgs); err != nil {
		return fmt.Errorf("want an array of {url, width, height}, got %s", abbrev(v))
	}
	if len(imgs) == 0 {
		imgs = nil
	}
	*dst = imgs
	return nil
}

// timeLayouts are the string forms a timestamptz arrives in: ISO-8601 as
// Debezium's ZonedTimestamp and this project's CDC write it, and Postgres's
// own text output.
var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999Z07",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999Z07",
}

// decodeTime accepts an ISO-8601 string or a number of microseconds since
// the epoch (Debezium's io.debezium.time.MicroTimestamp, its default for a
// timestamp column).
func decodeTime(v json.RawMessage) (time.Time, error) {
	s, ok := plainString(v)
	if !ok && gojson.Unmarshal(v, &s) == nil {
		ok = true
	}
	if ok {
		for _, layout := range timeLayouts {
			if t, err := time.Parse(layout, s); err == nil {
				return t.UTC(), nil
			}
		}
		return time.Time{}, fmt.Errorf("want an ISO-8601 timestamp, got %s", abbrev(v))
	}
	us, err := decodeInt(v)
	if err != nil {
		return time.Time{}, fmt.Errorf("want an ISO-8601 timestamp or epoch microseconds, got %s", abbrev(v))
	}
	return time.UnixMicro(us).UTC(), nil
}

func abbrev(v []byte) string {
	const max = 40
	if len(v) > max {
		return string(v[:max]) + "…"
	}
	return string(v)
}
