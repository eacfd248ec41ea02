package pgcdc

import (
	"encoding/binary"
	"encoding/json"
	"testing"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5/pgtype"
)

func TestAppendValue(t *testing.T) {
	d := newDecoder()
	for _, tc := range []struct {
		name string
		oid  uint32
		in   string
		want string
	}{
		{"text", pgtype.TextOID, "a \"quoted\"\n\\ é", `"a \"quoted\"\n\\ é"`},
		{"text control", pgtype.TextOID, "\x01", `"\u0001"`},
		{"text invalid utf8", pgtype.TextOID, "a\xffb", `"a\ufffdb"`},
		{"int8", pgtype.Int8OID, "-9223372036854775808", `-9223372036854775808`},
		{"int4", pgtype.Int4OID, "42", `42`},
		{"bool t", pgtype.BoolOID, "t", `true`},
		{"bool f", pgtype.BoolOID, "f", `false`},
		{"numeric", pgtype.NumericOID, "-12.5000", `-12.5000`},
		{"numeric nan", pgtype.NumericOID, "NaN", `"NaN"`},
		{"float8", pgtype.Float8OID, "1.5", `1.5`},
		{"float8 inf", pgtype.Float8OID, "Infinity", `"Infinity"`},
		{"timestamptz", pgtype.TimestamptzOID, "2024-03-01 12:34:56.789+00", `"2024-03-01T12:34:56.789Z"`},
		{"timestamptz offset", pgtype.TimestamptzOID, "2024-03-01 14:34:56+02", `"2024-03-01T12:34:56Z"`},
		{"timestamptz infinity", pgtype.TimestamptzOID, "infinity", `"infinity"`},
		{"text[]", pgtype.TextArrayOID, `{Women,Dresses,"Midi \"x\"",NULL}`, `["Women","Dresses","Midi \"x\"",null]`},
		{"text[] empty", pgtype.TextArrayOID, `{}`, `[]`},
		{"int8[]", pgtype.Int8ArrayOID, `{1,2}`, `[1,2]`},
		{"jsonb", pgtype.JSONBOID, `[{"url": "https://x/1.jpg", "width": 100}]`, `[{"url":"https://x/1.jpg","width":100}]`},
		{"bytea", pgtype.ByteaOID, `\x0102`, `"AQI="`},
		{"uuid", pgtype.UUIDOID, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", `"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"`},
		{"unknown oid", 987654, "happy", `"happy"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := d.appendValue(nil, tc.oid, []byte(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
			if !json.Valid(got) {
				t.Fatalf("invalid JSON %s", got)
			}
		})
	}
	for _, bad := range []struct {
		oid uint32
		in  string
	}{{pgtype.Int8OID, "1.5"}, {pgtype.BoolOID, "yes"}, {pgtype.JSONBOID, "{"}, {pgtype.Float8OID, "abc"}} {
		if _, err := d.appendValue(nil, bad.oid, []byte(bad.in)); err == nil {
			t.Errorf("oid %d %q: want error", bad.oid, bad.in)
		}
	}
}

// fuzzRel is a relation with one column of each kind the schema uses.
var fuzzRel = &relation{id: 1, schema: "public", table: "t", cols: []column{
	{name: "id", oid: pgtype.TextOID, identity: true},
	{name: "n", oid: pgtype.Int8OID},
	{name: "b", oid: pgtype.BoolOID},
	{name: "p", oid: pgtype.NumericOID},
	{name: "at", oid: pgtype.TimestamptzOID},
	{name: "tags", oid: pgtype.TextArrayOID},
	{name: "doc", oid: pgtype.JSONBOID},
	{name: "f", oid: pgtype.Float8OID},
}, key: []int{0}}

// encodeTuple builds pgoutput TupleData bytes: count, then per column a kind
// byte ('n', 'u', 't') and for 't' a length and the text.
func encodeTuple(cols ...*string) []byte {
	b := binary.BigEndian.AppendUint16(nil, uint16(len(cols)))
	for _, c := range cols {
		switch {
		case c == nil:
			b = append(b, 'n')
		case *c == "\x00toast":
			b = append(b, 'u')
		default:
			b = append(b, 't')
			b = binary.BigEndian.AppendUint32(b, uint32(len(*c)))
			b = append(b, *c...)
		}
	}
	return b
}

func sp(s string) *string { return &s }

// FuzzDecodeTuple feeds arbitrary pgoutput tuple bytes through the decoder:
// it must never panic, and whatever it accepts must render valid JSON.
func FuzzDecodeTuple(f *testing.F) {
	f.Add(encodeTuple(sp("l1"), sp("4800"), sp("t"), sp("12.50"), sp("2024-03-01 12:34:56+00"), sp("{a,b}"), sp(`{"k": [1, 2]}`), sp("1.5")))
	f.Add(encodeTuple(sp("l2"), nil, sp("f"), sp("NaN"), sp("infinity"), sp("{}"), sp("null"), sp("-Infinity")))
	f.Add(encodeTuple(sp("l3"), sp("\x00toast"), nil, nil, nil, sp(`{"a \"b\"",NULL}`), sp("[]"), nil))
	f.Add(encodeTuple(sp("\xff\xfe"), sp("-1")))
	f.Fuzz(func(t *testing.T, data []byte) {
		// The tuple travels inside an insert message, as pgoutput sends it.
		msg := append([]byte{'I', 0, 0, 0, 1, 'N'}, data...)
		parsed, err := parsePgoutput(msg)
		if err != nil {
			return
		}
		ins, ok := parsed.(*pglogrepl.InsertMessageV2)
		if !ok {
			t.Fatalf("parsed %T", parsed)
		}
		tup := *ins.Tuple
		d := newDecoder()
		vals, err := d.tuple(fuzzRel, &tup, false)
		if err != nil {
			return
		}
		obj := object(fuzzRel, vals)
		if !json.Valid(obj) {
			t.Fatalf("invalid JSON object %q from %q", obj, data)
		}
		if k := key(fuzzRel, vals); k != nil && !json.Valid(k) {
			t.Fatalf("invalid JSON key %q", k)
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(obj, &m); err != nil {
			t.Fatal(err)
		}
		for i, c := range tup.Columns {
			if c.DataType == pglogrepl.TupleDataTypeToast {
				if _, ok := m[fuzzRel.cols[i].name]; ok {
					t.Fatalf("unchanged toast column %s rendered", fuzzRel.cols[i].name)
				}
			}
		}
	})
}

func TestIsJSONNumber(t *testing.T) {
	for s, want := range map[string]bool{
		"0": true, "-12.5000": true, "12": true, "1e9": true, "1.5E-3": true, "2e+10": true,
		"": false, "-": false, "01": false, "1.": false, ".5": false, "1e": false, "1e+": false,
		"NaN": false, "Infinity": false, "1.2.3": false, "12a": false,
	} {
		if got := isJSONNumber([]byte(s)); got != want {
			t.Errorf("isJSONNumber(%q) = %v, want %v", s, got, want)
		}
	}
}
