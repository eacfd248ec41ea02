package elastic

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/rummage/rummage"
	"github.com/rummage/rummage/query"
)

func bulkOK(index, id string, version int) reply {
	return reply{200, fmt.Sprintf(`{"took": 1, "errors": false, "items": [{"index": {"_index": %q, "_id": %q, "_version": %d, "result": "created",
		"_shards": {"total": 1, "successful": 1, "failed": 0}, "_seq_no": 0, "_primary_term": 1, "status": 201}}]}`, index, id, version)}
}

func change1(id string, v uint64) []query.Change {
	return []query.Change{{ID: id, Version: v, Doc: &rummage.Listing{ID: id, SellerID: "s1", Title: "t", Status: "available"}}}
}

// TestReindexDualWrite walks a whole reindex on canned answers: create the
// next index with the reindex alias, an indexer batch written to the write
// alias and to the new index by name, the backfill to the new index, one
// _aliases request moving read and write and dropping the reindex alias,
// the old index deleted, and the next batch written once.
func TestReindexDualWrite(t *testing.T) {
	v1Live := `{"rummage-listings-v000001": {"aliases": {"rummage-listings": {}, "rummage-listings-write": {"is_write_index": true}}}}`
	both := `{"rummage-listings-v000001": {"aliases": {"rummage-listings": {}, "rummage-listings-write": {"is_write_index": true}}},
	          "rummage-listings-v000002": {"aliases": {"rummage-listings-reindex": {}}}}`
	v2Live := `{"rummage-listings-v000001": {"aliases": {}},
	            "rummage-listings-v000002": {"aliases": {"rummage-listings": {}, "rummage-listings-write": {"is_write_index": true}}}}`
	f := newFake(t, map[string][]reply{
		"GET /rummage-listings-v*/_alias": {
			{200, v1Live}, // EnsureIndex
			{200, v1Live}, // CreateIndex
			{200, both},   // Switch
			{200, v2Live}, // DeleteIndex
		},
		"GET /_cat/aliases/rummage-listings-reindex": {
			{200, "cat_aliases_none.json"},    // Begin: no reindex yet
			{200, "cat_aliases_reindex.json"}, // indexer batch during the reindex
			{200, "cat_aliases_none.json"},    // indexer batch after it
		},
		"PUT /_index_template/rummage-listings": {{200, "acknowledged.json"}},
		"PUT /rummage-listings-v000002":         {{200, `{"acknowledged": true, "shards_acknowledged": true, "index": "rummage-listings-v000002"}`}},
		"POST /_aliases":                        {{200, "acknowledged.json"}},
		"POST /rummage-listings-write/_bulk": {
			bulkOK("rummage-listings-v000001", "l-1", 20),
			bulkOK("rummage-listings-v000002", "l-3", 40),
		},
		"POST /rummage-listings-v000002/_bulk": {
			bulkOK("rummage-listings-v000002", "l-1", 20),
			bulkOK("rummage-listings-v000002", "l-2", 29),
		},
		"DELETE /rummage-listings-v000001": {{200, "acknowledged.json"}},
	})
	b := f.backend(t, nil)
	ctx := context.Background()

	r := b.NewReindex()
	nb, err := r.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if r.Name() != "rummage-listings-v000002" {
		t.Fatalf("new index %q", r.Name())
	}
	if _, err := b.Apply(ctx, change1("l-1", 20)); err != nil { // the stream, dual-written
		t.Fatal(err)
	}
	if st, err := nb.Apply(ctx, change1("l-2", 29)); err != nil || st.Written != 1 { // the backfill
		t.Fatalf("backfill: %+v %v", st, err)
	}
	if err := r.Switch(ctx); err != nil {
		t.Fatal(err)
	}
	if err := r.Finish(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Apply(ctx, change1("l-3", 40)); err != nil { // after: one write
		t.Fatal(err)
	}

	var seq strings.Builder
	aliases := 0
	for _, q := range f.requests() {
		fmt.Fprintf(&seq, "%s %s\n", q.Method, q.Path)
		if q.Path == "/_aliases" {
			aliases++
			goldenRequest(t, fmt.Sprintf("requests/reindex_aliases_%d.json", aliases), q)
		}
		if strings.HasSuffix(q.Path, "/_bulk") && !strings.Contains(q.Query, "version_type") && !strings.Contains(q.Body, `"version_type":"external_gte"`) {
			t.Errorf("bulk without external versions: %s?%s %s", q.Path, q.Query, q.Body)
		}
	}
	golden(t, "requests/reindex_sequence.txt", []byte(seq.String()))
}

// TestReindexBeginRefusesSecond: an existing reindex alias means another
// reindex runs, or one was interrupted; Begin creates nothing.
func TestReindexBeginRefusesSecond(t *testing.T) {
	f := newFake(t, map[string][]reply{
		"GET /rummage-listings-v*/_alias": {{200, `{"rummage-listings-v000001": {"aliases": {"rummage-listings": {}, "rummage-listings-write": {"is_write_index": true}}},
			"rummage-listings-v000002": {"aliases": {"rummage-listings-reindex": {}}}}`}},
		"GET /_cat/aliases/rummage-listings-reindex": {{200, "cat_aliases_reindex.json"}},
	})
	_, err := f.backend(t, nil).NewReindex().Begin(context.Background())
	if err == nil || !strings.Contains(err.Error(), "rummage-listings-v000002") {
		t.Fatalf("err = %v", err)
	}
	for _, q := range f.requests() {
		if q.Method != "GET" {
			t.Errorf("Begin sent %s %s", q.Method, q.Path)
		}
	}
}
