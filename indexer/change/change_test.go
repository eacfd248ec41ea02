package change

import (
	"encoding/json"
	"errors"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	e := Event{
		After:  json.RawMessage(`{"id":"l1","price_cents":4800}`),
		Op:     OpCreate,
		TsMs:   1700000000123,
		Source: Source{Version: "rummage", Connector: "postgresql", Name: "rummage", Schema: "public", Table: "listings", Snapshot: SnapshotFalse, TxID: 42, LSN: 0x16B374D848},
		Key:    json.RawMessage(`{"id":"l1"}`),
	}
	b, err := e.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	want := `{"before":null,"after":{"id":"l1","price_cents":4800},"op":"c","ts_ms":1700000000123,"source":{"version":"rummage","connector":"postgresql","name":"rummage","ts_ms":0,"snapshot":"false","schema":"public","table":"listings","txId":42,"lsn":97500059720}}`
	if string(b) != want {
		t.Fatalf("marshal:\n got %s\nwant %s", b, want)
	}
	got, err := Unmarshal(e.Key, b)
	if err != nil {
		t.Fatal(err)
	}
	if got.Version() != e.Source.LSN || got.Op != OpCreate || string(got.After) != string(e.After) || got.Before != nil || string(got.Key) != `{"id":"l1"}` {
		t.Fatalf("unmarshal: %+v", got)
	}
	if got.Topic("rummage") != "rummage.public.listings" {
		t.Fatalf("topic %q", got.Topic("rummage"))
	}
}

func TestUnmarshal(t *testing.T) {
	for _, tc := range []struct {
		name, key, value string
		err              error
		op               Op
		snap             Snapshot
		row              string
	}{
		{name: "plain delete", value: `{"before":{"id":"a"},"after":null,"op":"d","source":{"lsn":7}}`, op: OpDelete, row: `{"id":"a"}`, snap: ""},
		{name: "bool snapshot", value: `{"after":{"id":"a"},"op":"r","source":{"snapshot":true}}`, op: OpRead, snap: SnapshotTrue, row: `{"id":"a"}`},
		{name: "last snapshot", value: `{"after":{"id":"a"},"op":"r","source":{"snapshot":"last"}}`, op: OpRead, snap: SnapshotLast, row: `{"id":"a"}`},
		{name: "schema wrapper", key: `{"schema":{"type":"struct"},"payload":{"id":"a"}}`, value: `{"schema":{"type":"struct"},"payload":{"before":null,"after":{"id":"a"},"op":"u","source":{"snapshot":"false"}}}`, op: OpUpdate, snap: SnapshotFalse, row: `{"id":"a"}`},
		{name: "truncate", value: `{"before":null,"after":null,"op":"t","source":{}}`, op: OpTruncate},
		{name: "tombstone", value: ``, err: ErrTombstone},
		{name: "null tombstone", value: `null`, err: ErrTombstone},
		{name: "bad op", value: `{"op":"x"}`, err: ErrInvalid},
		{name: "create without after", value: `{"op":"c"}`, err: ErrInvalid},
		{name: "delete without before", value: `{"op":"d","after":null}`, err: ErrInvalid},
		{name: "not json", value: `{"op":`, err: ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, err := Unmarshal([]byte(tc.key), []byte(tc.value))
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err = %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if e.Op != tc.op || e.Source.Snapshot != tc.snap || string(e.Row()) != tc.row {
				t.Fatalf("got op %q snap %q row %s", e.Op, e.Source.Snapshot, e.Row())
			}
			if tc.key != "" && string(e.Key) != `{"id":"a"}` {
				t.Fatalf("key %s", e.Key)
			}
		})
	}
}

func TestFormatLSN(t *testing.T) {
	if got := FormatLSN(0x16B374D848); got != "16/B374D848" {
		t.Fatal(got)
	}
}
