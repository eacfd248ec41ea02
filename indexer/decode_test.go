package indexer

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/rummage/rummage"
	"github.com/rummage/rummage/indexer/change"
)

// loadMessage reads a testdata file {"key": ..., "value": ...} as the bytes
// a Kafka message would carry (null → nil).
func loadMessage(t testing.TB, path string) (key, value []byte) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m struct{ Key, Value json.RawMessage }
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if string(m.Key) != "null" {
		key = m.Key
	}
	if string(m.Value) != "null" {
		value = m.Value
	}
	return key, value
}

func ts(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

func tsp(s string) *time.Time { t := ts(s); return &t }

// The listing of testdata/debezium create_* and snapshot_read_*.
var debeziumCreated = rummage.Listing{
	ID: "l-1001", SellerID: "s-17", Title: "Vintage Levi's 501 jeans", Description: "Light wash, straight leg.",
	Brand: "Levi's", Category: []string{"Women", "Jeans", "Straight"}, Size: "28", Condition: "good",
	PriceCents: 4800, OriginalPriceCents: 9800, Colors: []string{"blue"}, Tags: []string{"vintage", "y2k"},
	Images: []rummage.Image{
		{URL: "https://img.example.com/l-1001/large.jpg", Width: 1200, Height: 1600},
		{URL: "https://img.example.com/l-1001/thumb.jpg", Width: 150, Height: 200},
	},
	Status: "available", CreatedAt: ts("2024-03-01T10:15:30.123456Z"), UpdatedAt: ts("2024-03-01T10:15:30.123456Z"),
}

func debeziumUpdated() rummage.Listing {
	l := debeziumCreated
	l.PriceCents = 3900
	l.UpdatedAt = ts("2024-03-02T08:00:00Z")
	l.AvailableAt = tsp("2024-03-05T17:00:00Z")
	l.LikeCount, l.ShareCount = 3, 12
	l.LastSharedAt = tsp("2024-03-02T07:59:58.5Z")
	return l
}

func TestDebeziumEvents(t *testing.T) {
	updated := debeziumUpdated()
	for _, tc := range []struct {
		file      string
		tombstone bool
		op        change.Op
		version   uint64
		reason    string // dead-letter reason, if the change cannot be applied
		want      *rummage.Listing
		deleteID  string
	}{
		{file: "create_wrapped.json", op: change.OpCreate, version: 24023128, want: &debeziumCreated},
		{file: "create_plain.json", op: change.OpCreate, version: 24023128, want: &debeziumCreated},
		{file: "update_wrapped.json", op: change.OpUpdate, version: 24023512, want: &updated},
		{file: "update_plain.json", op: change.OpUpdate, version: 24023512, want: &updated},
		{file: "delete_wrapped.json", op: change.OpDelete, version: 24023760, deleteID: "l-1001"},
		{file: "delete_default_identity_plain.json", op: change.OpDelete, version: 24023760, deleteID: "l-1001"},
		{file: "snapshot_read_plain.json", op: change.OpRead, version: 24000000, want: &debeziumCreated},
		{file: "tombstone_wrapped.json", tombstone: true},
		{file: "tombstone_plain.json", tombstone: true},
		{file: "truncate_wrapped.json", op: change.OpTruncate, version: 24030100, reason: ReasonTruncateUnsupported},
	} {
		t.Run(tc.file, func(t *testing.T) {
			key, value := loadMessage(t, filepath.Join("testdata", "debezium", tc.file))
			e, err := DecodeEvent("dbserver1.public.listings", key, value)
			if tc.tombstone {
				if !errors.Is(err, ErrTombstone) {
					t.Fatalf("err = %v, want a tombstone", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if e.Op != tc.op || e.Version() != tc.version || e.Source.Table != "listings" {
				t.Fatalf("op %q version %d table %q; want %q %d listings", e.Op, e.Version(), e.Source.Table, tc.op, tc.version)
			}
			c, reason, err := listingChange(e)
			if tc.reason != "" {
				if reason != tc.reason || err == nil {
					t.Fatalf("reason %q err %v; want %q", reason, err, tc.reason)
				}
				return
			}
			if err != nil {
				t.Fatalf("%s: %v", reason, err)
			}
			if c.Version != tc.version {
				t.Fatalf("version %d", c.Version)
			}
			if tc.deleteID != "" {
				if !c.Delete || c.ID != tc.deleteID || c.Doc != nil {
					t.Fatalf("got %+v, want a delete of %s", c, tc.deleteID)
				}
				return
			}
			if c.Delete || c.ID != tc.want.ID || !reflect.DeepEqual(*c.Doc, *tc.want) {
				gb, _ := json.Marshal(c.Doc)
				wb, _ := json.Marshal(tc.want)
				t.Fatalf("doc\n got %s\nwant %s", gb, wb)
			}
		})
	}
}

func TestDecodeListingColumns(t *testing.T) {
	for _, tc := range []struct {
		name, row string
		field     string // the column a TransformError names; "" for success
		check     func(rummage.Listing) bool
	}{
		{name: "inline jsonb images and numeric strings", row: `{"id":"a","seller_id":"s","title":"t","price_cents":"1200","images":[{"url":"u","width":1,"height":2}]}`,
			check: func(l rummage.Listing) bool {
				return l.PriceCents == 1200 && len(l.Images) == 1 && l.Status == "available"
			}},
		{name: "null arrays and times", row: `{"id":"a","seller_id":"s","title":"t","category":null,"available_at":null,"images":"null"}`,
			check: func(l rummage.Listing) bool { return l.Category == nil && l.AvailableAt == nil && l.Images == nil }},
		{name: "postgres text timestamp", row: `{"id":"a","created_at":"2024-03-01 10:15:30.5+00"}`,
			check: func(l rummage.Listing) bool { return l.CreatedAt.Equal(ts("2024-03-01T10:15:30.5Z")) }},
		{name: "epoch micros", row: `{"id":"a","created_at":1709288130123456}`,
			check: func(l rummage.Listing) bool { return l.CreatedAt.Equal(ts("2024-03-01T10:15:30.123456Z")) }},
		{name: "unknown column ignored", row: `{"id":"a","new_column":{"x":1}}`, check: func(l rummage.Listing) bool { return l.ID == "a" }},
		{name: "nulls inside arrays dropped", row: `{"id":"a","tags":["x",null,"y"]}`, check: func(l rummage.Listing) bool { return len(l.Tags) == 2 }},
		{name: "price not a number", row: `{"id":"a","price_cents":"cheap"}`, field: "price_cents"},
		{name: "fractional price", row: `{"id":"a","price_cents":12.5}`, field: "price_cents"},
		{name: "category not an array", row: `{"id":"a","category":"Women/Jeans"}`, field: "category"},
		{name: "bad timestamp", row: `{"id":"a","created_at":"yesterday"}`, field: "created_at"},
		{name: "images not images", row: `{"id":"a","images":"{\"url\":1}"}`, field: "images"},
		{name: "id not a string", row: `{"id":7}`, field: "id"},
		{name: "row not an object", row: `[1,2]`, field: "(row)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := DecodeListing([]byte(tc.row))
			if tc.field != "" {
				var te *TransformError
				if !errors.As(err, &te) || te.Field != tc.field {
					t.Fatalf("err = %v, want a TransformError on %s", err, tc.field)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(l) {
				t.Fatalf("unexpected %+v", l)
			}
		})
	}
}

func TestDecodeEventRequiresVersionAndTable(t *testing.T) {
	for _, tc := range []struct{ name, topic, value string }{
		{"no lsn", "p.public.listings", `{"after":{"id":"a"},"op":"c","source":{"table":"listings"}}`},
		{"no table anywhere", "", `{"after":{"id":"a"},"op":"c","source":{"lsn":5}}`},
		{"not json", "p.public.listings", `{"after":`},
		{"unknown op", "p.public.listings", `{"op":"m","source":{"lsn":5}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := DecodeEvent(tc.topic, nil, []byte(tc.value)); !errors.Is(err, change.ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
		})
	}
	e, err := DecodeEvent("p.public.sellers", nil, []byte(`{"after":{"id":"s"},"op":"c","source":{"lsn":5}}`))
	if err != nil || e.Source.Table != "sellers" {
		t.Fatalf("table from topic: %v %q", err, e.Source.Table)
	}
}
