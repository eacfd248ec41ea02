package pgcdc

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5/pgtype"
)

// column is one column of a relation as pgoutput (or a snapshot query)
// describes it.
type column struct {
	name     string
	oid      uint32
	identity bool // part of the replica identity (pgoutput flag 1)
}

// relation is the cached shape of a published table. A new RelationMessage
// for the same id replaces it (ALTER TABLE while running).
type relation struct {
	id            uint32
	schema, table string
	cols          []column
	key           []int // indexes into cols of the primary key, in key order
	full          bool  // REPLICA IDENTITY FULL: updates and deletes carry the whole old row
}

// value is one decoded column: JSON bytes, or absent (an unchanged TOASTed
// value that could not be recovered, or a column not in a key-only tuple).
type value struct {
	json    []byte
	present bool
}

// decoder turns text-format tuple data into JSON values by type OID.
type decoder struct {
	types *pgtype.Map
}

func newDecoder() *decoder { return &decoder{types: pgtype.NewMap()} }

// errToastUnchanged marks a 'u' column; the caller fills it from the old row.
var errToastUnchanged = errors.New("pgcdc: unchanged toast value")

// tuple decodes a pgoutput tuple against rel. keyOnly keeps only the replica
// identity columns (an old tuple of kind 'K'). Unchanged TOASTed values come
// back absent; the caller fills them.
func (d *decoder) tuple(rel *relation, tup *pglogrepl.TupleData, keyOnly bool) ([]value, error) {
	if tup == nil {
		return nil, nil
	}
	if len(tup.Columns) > len(rel.cols) {
		return nil, fmt.Errorf("pgcdc: %s.%s: tuple has %d columns, relation %d", rel.schema, rel.table, len(tup.Columns), len(rel.cols))
	}
	vals := make([]value, len(rel.cols))
	for i, c := range tup.Columns {
		col := rel.cols[i]
		if keyOnly && !col.identity {
			continue
		}
		switch c.DataType {
		case pglogrepl.TupleDataTypeNull:
			vals[i] = value{json: []byte("null"), present: true}
		case pglogrepl.TupleDataTypeToast:
			// absent: filled from the before-image by the caller
		case pglogrepl.TupleDataTypeText:
			b, err := d.appendValue(nil, col.oid, c.Data)
			if err != nil {
				return nil, fmt.Errorf("pgcdc: %s.%s.%s: %w", rel.schema, rel.table, col.name, err)
			}
			vals[i] = value{json: b, present: true}
		case pglogrepl.TupleDataTypeBinary:
			return nil, fmt.Errorf("pgcdc: %s.%s.%s: binary tuple data not requested", rel.schema, rel.table, col.name)
		default:
			return nil, fmt.Errorf("pgcdc: %s.%s.%s: unknown tuple data type %q", rel.schema, rel.table, col.name, c.DataType)
		}
	}
	return vals, nil
}

// object renders values as a JSON object in column order, skipping absent
// ones. A nil vals renders nil (JSON null in the envelope).
func object(rel *relation, vals []value) json.RawMessage {
	if vals == nil {
		return nil
	}
	n := 2
	for i := range vals {
		n += len(vals[i].json) + len(rel.cols[i].name) + 4
	}
	b := make([]byte, 0, n)
	b = append(b, '{')
	first := true
	for i, v := range vals {
		if !v.present {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = appendString(b, rel.cols[i].name)
		b = append(b, ':')
		b = append(b, v.json...)
	}
	return append(b, '}')
}

// key renders the primary key columns of vals as a JSON object, or nil if a
// key column is missing.
func key(rel *relation, vals []value) json.RawMessage {
	if len(rel.key) == 0 || vals == nil {
		return nil
	}
	b := []byte{'{'}
	for n, i := range rel.key {
		if i >= len(vals) || !vals[i].present {
			return nil
		}
		if n > 0 {
			b = append(b, ',')
		}
		b = appendString(b, rel.cols[i].name)
		b = append(b, ':')
		b = append(b, vals[i].json...)
	}
	return append(b, '}')
}

// appendValue appends the JSON form of one text-format Postgres value.
// Integers, floats, numeric and booleans become numbers and booleans;
// timestamptz becomes RFC 3339 in UTC; json and jsonb are embedded as they
// are; arrays become JSON arrays; bytea becomes base64 (as Debezium does);
// anything else is its text form as a JSON string.
func (d *decoder) appendValue(b []byte, oid uint32, src []byte) ([]byte, error) {
	switch oid {
	case pgtype.BoolOID:
		switch string(src) {
		case "t", "true":
			return append(b, "true"...), nil
		case "f", "false":
			return append(b, "false"...), nil
		}
		return nil, fmt.Errorf("bad bool %q", src)
	case pgtype.Int2OID, pgtype.Int4OID, pgtype.Int8OID, pgtype.OIDOID, pgtype.XIDOID:
		n, err := strconv.ParseInt(string(src), 10, 64)
		if err != nil {
			if u, uerr := strconv.ParseUint(string(src), 10, 64); uerr == nil {
				return strconv.AppendUint(b, u, 10), nil
			}
			return nil, fmt.Errorf("bad integer %q", src)
		}
		return strconv.AppendInt(b, n, 10), nil
	case pgtype.Float4OID, pgtype.Float8OID:
		f, err := strconv.ParseFloat(string(src), 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			if err != nil && !isSpecialFloat(src) {
				return nil, fmt.Errorf("bad float %q", src)
			}
			return appendString(b, string(src)), nil // NaN, Infinity, -Infinity
		}
		return strconv.AppendFloat(b, f, 'g', -1, 64), nil
	case pgtype.NumericOID:
		if isJSONNumber(src) {
			return append(b, src...), nil
		}
		return appendString(b, string(src)), nil // NaN, Infinity
	case pgtype.JSONOID, pgtype.JSONBOID:
		var buf bytes.Buffer
		if err := json.Compact(&buf, src); err != nil {
			return nil, fmt.Errorf("bad json: %w", err)
		}
		return append(b, buf.Bytes()...), nil
	case pgtype.TextOID, pgtype.VarcharOID, pgtype.BPCharOID, pgtype.NameOID, pgtype.UUIDOID, pgtype.DateOID:
		return appendString(b, string(src)), nil
	}
	t, ok := d.types.TypeForOID(oid)
	if !ok {
		return appendString(b, string(src)), nil // enums, domains, unknown types: text
	}
	v, err := t.Codec.DecodeValue(d.types, oid, pgtype.TextFormatCode, src)
	if err != nil {
		return nil, err
	}
	return appendAny(b, v)
}

func isSpecialFloat(src []byte) bool {
	switch string(src) {
	case "NaN", "Infinity", "-Infinity":
		return true
	}
	return false
}

// appendAny renders a value pgtype decoded (arrays, timestamps, bytea, ...).
func appendAny(b []byte, v any) ([]byte, error) {
	switch v := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case time.Time:
		return appendString(b, v.UTC().Format(time.RFC3339Nano)), nil
	case pgtype.InfinityModifier:
		return appendString(b, v.String()), nil
	case []byte:
		return appendString(b, base64.StdEncoding.EncodeToString(v)), nil
	case string:
		return appendString(b, v), nil
	case []any:
		b = append(b, '[')
		for i, e := range v {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = appendAny(b, e); err != nil {
				return nil, err
			}
		}
		return append(b, ']'), nil
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return appendString(b, strconv.FormatFloat(v, 'g', -1, 64)), nil
		}
		return strconv.AppendFloat(b, v, 'g', -1, 64), nil
	case float32:
		return appendAny(b, float64(v))
	case pgtype.Numeric:
		t, err := v.MarshalJSON()
		if err != nil {
			return nil, err
		}
		return append(b, t...), nil
	case fmt.Stringer:
		if t, err := json.Marshal(v); err == nil && json.Valid(t) {
			return append(b, t...), nil
		}
		return appendString(b, v.String()), nil
	}
	t, err := json.Marshal(v)
	if err != nil {
		return appendString(b, fmt.Sprint(v)), nil
	}
	return append(b, t...), nil
}

// isJSONNumber reports whether s is a number in JSON syntax (Postgres prints
// numeric as [-]digits[.digits], which is).
func isJSONNumber(s []byte) bool {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	start := i
	i = digits(s, i)
	if i == start || (s[start] == '0' && i-start > 1) {
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		f := i
		if i = digits(s, i); i == f {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		f := i
		if i = digits(s, i); i == f {
			return false
		}
	}
	return i == len(s)
}

// digits returns the index past the run of ASCII digits of s at i.
func digits(s []byte, i int) int {
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return i
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string; invalid UTF-8 becomes U+FFFD.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// parsePgoutput parses one pgoutput message (protocol v2, no streaming). The
// parser indexes its input without bounds checks, so a malformed message
// becomes an error here instead of a crash.
func parsePgoutput(data []byte) (m pglogrepl.Message, err error) {
	defer func() {
		if r := recover(); r != nil {
			m, err = nil, fmt.Errorf("pgcdc: malformed pgoutput message (%d bytes): %v", len(data), r)
		}
	}()
	return pglogrepl.ParseV2(data, false)
}
