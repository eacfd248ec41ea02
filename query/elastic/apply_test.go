package elastic

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rummage/rummage"
	"github.com/rummage/rummage/query"
)

func listing(id string, price int64) *rummage.Listing {
	created := time.Date(2025, 5, 20, 10, 0, 0, 0, time.UTC)
	shared := created.Add(48 * time.Hour)
	return &rummage.Listing{
		ID: id, SellerID: "s-1", Title: "Nike Air Max " + id, Brand: "Nike",
		Category: []string{"Men", "Shoes", "Sneakers"}, Size: "10", Condition: rummage.ConditionGood,
		PriceCents: price, Colors: []string{"white"}, Status: rummage.StatusAvailable,
		CreatedAt: created, UpdatedAt: created, LikeCount: 300, ShareCount: 200, LastSharedAt: &shared,
	}
}

// bulkRoutes answers the bulk requests with replies, and Apply's look-up
// of the reindex alias with "no reindex runs".
func bulkRoutes(replies ...reply) map[string][]reply {
	return map[string][]reply{
		"GET /_cat/aliases/rummage-listings-reindex": {{200, "cat_aliases_none.json"}},
		"POST /rummage-listings-write/_bulk":         replies,
	}
}

// bulkRequests are the bulk requests f received (Apply's alias look-ups
// left out).
func bulkRequests(f *fakeES) []recorded {
	var out []recorded
	for _, r := range f.requests() {
		if strings.HasSuffix(r.Path, "/_bulk") {
			out = append(out, r)
		}
	}
	return out
}

// mixedBatch matches responses/bulk_mixed.json item for item.
func mixedBatch() []query.Change {
	return []query.Change{
		{ID: "l-1", Version: 101, Doc: listing("l-1", 4800)},
		{ID: "l-2", Version: 102, Doc: listing("l-2", 5200)},
		{ID: "l-3", Version: 103, Doc: listing("l-3", 900)},
		{ID: "l-4", Version: 104, Delete: true},
		{ID: "l-5", Version: 105, Delete: true},
		{ID: "l-6", Version: 106, Doc: listing("l-6", 1)},
	}
}

// TestBulkRequestGolden pins the bulk body: one action line per change with
// the external version, the derived fields in each document, deletes with
// versions too, the write alias required.
func TestBulkRequestGolden(t *testing.T) {
	for _, refresh := range []string{RefreshFalse, RefreshWaitFor} {
		t.Run(refresh, func(t *testing.T) {
			f := newFake(t, bulkRoutes(reply{200, "bulk_mixed.json"}))
			b := f.backend(t, func(c *Config) { c.Refresh = refresh; c.BulkWorkers = 1 })
			_, _ = b.Apply(context.Background(), mixedBatch())
			reqs := bulkRequests(f)
			if len(reqs) != 1 {
				t.Fatalf("%d requests, want 1", len(reqs))
			}
			r := reqs[0]
			golden(t, "requests/bulk_"+refresh+".ndjson", []byte(r.Method+" "+r.Path+"?"+r.Query+"\n"+r.Body))
		})
	}
}

// TestApplyMixedItems: created, updated and deleted items are written; a
// delete of an unknown id is written (its version is recorded); a version
// conflict is stale; a rejected document is a failure that makes Apply
// return an error naming it, so the indexer does not commit its offset.
func TestApplyMixedItems(t *testing.T) {
	f := newFake(t, bulkRoutes(reply{200, "bulk_mixed.json"}))
	b := f.backend(t, func(c *Config) { c.BulkWorkers = 1 })
	st, err := b.Apply(context.Background(), mixedBatch())
	if st.Written != 4 || st.Stale != 1 {
		t.Errorf("stats %+v, want 4 written and 1 stale", st)
	}
	var be *BulkError
	if !errors.As(err, &be) {
		t.Fatalf("err = %v, want a *BulkError", err)
	}
	if len(be.Failed) != 1 || be.Failed[0].ID != "l-6" || be.Failed[0].Version != 106 || be.Failed[0].Status != 400 ||
		be.Failed[0].Type != "document_parsing_exception" {
		t.Errorf("failed items %+v, want l-6 v106 document_parsing_exception", be.Failed)
	}
	for _, want := range []string{"1 of 6 changes failed", "listing l-6 (version 106)", "out of range for a long"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if n := len(bulkRequests(f)); n != 1 {
		t.Errorf("%d bulk requests, want 1: a permanent failure is not retried", n)
	}
}

// TestFailedItemHoldsTheOffset plays the indexer's loop: the offset only
// advances past a batch when Apply returns nil. A version conflict alone
// lets it advance; one real failure does not.
func TestFailedItemHoldsTheOffset(t *testing.T) {
	conflictOnly := `{"took":1,"errors":true,"items":[{"index":{"_index":"rummage-listings-v000001","_id":"l-3","status":409,"error":{"type":"version_conflict_engine_exception","reason":"[l-3]: version conflict, current version [120] is higher or equal to the one provided [103]"}}}]}`
	cases := []struct {
		name    string
		resp    string
		batch   []query.Change
		advance bool
	}{
		{"version conflict", conflictOnly, []query.Change{{ID: "l-3", Version: 103, Doc: listing("l-3", 900)}}, true},
		{"real failure", "bulk_mixed.json", mixedBatch(), false},
		{"alias missing", "bulk_no_alias.json", []query.Change{{ID: "l-1", Version: 1, Doc: listing("l-1", 1)}}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFake(t, bulkRoutes(reply{200, c.resp}))
			b := f.backend(t, nil)
			offset := int64(41)
			if _, err := b.Apply(context.Background(), c.batch); err == nil {
				offset++ // commit
			} else if c.advance {
				t.Errorf("Apply: %v", err)
			}
			if got := offset == 42; got != c.advance {
				t.Errorf("offset advanced = %v, want %v", got, c.advance)
			}
		})
	}
}

// TestApplyRetriesRejections: a 429 item is retried alone, and the batch
// succeeds once it goes through.
func TestApplyRetriesRejections(t *testing.T) {
	f := newFake(t, bulkRoutes(reply{200, "bulk_rejected.json"}, reply{200, "bulk_retry_ok.json"}))
	b := f.backend(t, func(c *Config) { c.MaxRetries = 2; c.BulkWorkers = 1 })
	st, err := b.Apply(context.Background(), []query.Change{
		{ID: "l-1", Version: 7, Doc: listing("l-1", 100)},
		{ID: "l-2", Version: 8, Doc: listing("l-2", 200)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if st.Written != 2 {
		t.Errorf("stats %+v, want 2 written", st)
	}
	reqs := bulkRequests(f)
	if len(reqs) != 2 || strings.Contains(reqs[1].Body, `"l-1"`) || !strings.Contains(reqs[1].Body, `"l-2"`) {
		t.Errorf("retry sent %d requests; second body:\n%s", len(reqs), reqs[len(reqs)-1].Body)
	}
}

// TestApplyRejectionsExhausted: still rejected after the retries is an error.
func TestApplyRejectionsExhausted(t *testing.T) {
	rejected := `{"took":1,"errors":true,"items":[{"index":{"_index":"rummage-listings-v000001","_id":"l-2","status":429,"error":{"type":"es_rejected_execution_exception","reason":"rejected execution of coordinating operation"}}}]}`
	f := newFake(t, bulkRoutes(reply{200, "bulk_rejected.json"}, reply{200, rejected}))
	b := f.backend(t, func(c *Config) { c.MaxRetries = 1 })
	_, err := b.Apply(context.Background(), []query.Change{
		{ID: "l-1", Version: 7, Doc: listing("l-1", 100)},
		{ID: "l-2", Version: 8, Doc: listing("l-2", 200)},
	})
	var be *BulkError
	if !errors.As(err, &be) || len(be.Failed) != 1 || be.Failed[0].ID != "l-2" || be.Failed[0].Status != 429 {
		t.Fatalf("err = %v, want a *BulkError for l-2", err)
	}
	if n := len(bulkRequests(f)); n != 2 {
		t.Errorf("%d bulk requests, want 2", n)
	}
}

// TestApplyWholeRequestFailures: a bulk request that fails as a whole (auth,
// unreachable cluster) fails the batch with the mapped sentinel.
func TestApplyWholeRequestFailures(t *testing.T) {
	t.Run("401", func(t *testing.T) {
		f := newFake(t, bulkRoutes(reply{401, "unauthorized.json"}))
		b := f.backend(t, nil)
		_, err := b.Apply(context.Background(), mixedBatch())
		if !errors.Is(err, ErrUnauthorized) {
			t.Fatalf("err = %v, want ErrUnauthorized", err)
		}
	})
	t.Run("403", func(t *testing.T) {
		f := newFake(t, bulkRoutes(reply{403, "forbidden.json"}))
		b := f.backend(t, nil)
		_, err := b.Apply(context.Background(), mixedBatch())
		if !errors.Is(err, ErrForbidden) || !strings.Contains(err.Error(), "lacks a privilege") {
			t.Fatalf("err = %v, want ErrForbidden", err)
		}
	})
	t.Run("refused", func(t *testing.T) {
		b, err := New(Config{URLs: []string{closedURL(t)}, MaxRetries: -1}, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, err = b.Apply(context.Background(), mixedBatch())
		if !errors.Is(err, ErrUnreachable) {
			t.Fatalf("err = %v, want ErrUnreachable", err)
		}
	})
}

func TestApplyRejectsBadChanges(t *testing.T) {
	f := newFake(t, nil)
	b := f.backend(t, nil)
	cases := []struct {
		name string
		c    query.Change
		want string
	}{
		{"no id", query.Change{Version: 1, Delete: true}, "empty id"},
		{"version too big", query.Change{ID: "a", Version: 1 << 63, Delete: true}, "above Elasticsearch's limit"},
		{"no doc", query.Change{ID: "a", Version: 1}, "without a document"},
		{"id mismatch", query.Change{ID: "a", Version: 1, Doc: listing("b", 1)}, `document's id is "b"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := b.Apply(context.Background(), []query.Change{c.c})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %v, want %q", err, c.want)
			}
		})
	}
	if n := len(f.requests()); n != 0 {
		t.Errorf("%d requests sent for invalid batches", n)
	}
}

func TestNewDocument(t *testing.T) {
	l := listing("l-1", 100)
	d := newDocument(l)
	if want := []string{"Men", "Men/Shoes", "Men/Shoes/Sneakers"}; strings.Join(d.CategoryPath, "|") != strings.Join(want, "|") {
		t.Errorf("category_path %v, want %v", d.CategoryPath, want)
	}
	if d.Lvl0 != "Men" || d.Lvl2 != "Men/Shoes/Sneakers" || d.Lvl3 != "" {
		t.Errorf("levels %q %q %q", d.Lvl0, d.Lvl2, d.Lvl3)
	}
	if !d.ListedAt.Equal(l.CreatedAt) || d.SharedMs != l.LastSharedAt.UnixMilli() {
		t.Errorf("listed_at %v shared %d", d.ListedAt, d.SharedMs)
	}
	l2 := listing("l-2", 1)
	drop := l2.CreatedAt.Add(72 * time.Hour)
	l2.LastSharedAt, l2.Category, l2.AvailableAt = nil, nil, &drop
	d2 := newDocument(l2)
	if d2.SharedMs != 0 || !d2.ListedAt.Equal(drop) || d2.CategoryPath != nil {
		t.Errorf("unshared drop doc: %+v", d2)
	}
}

// TestApplyCountersGolden: the counters are read with the documents'
// versions (realtime _mget on the write alias), and only a document whose
// counters differ is indexed again, whole, at the version it holds; an
// unknown id is skipped. No partial update: it would bump the external
// version past the next commit LSN.
func TestApplyCountersGolden(t *testing.T) {
	routes := bulkRoutes(reply{200, `{"took":1,"errors":false,"items":[{"index":{"_index":"rummage-listings-v000001","_id":"l-1","_version":101,"result":"updated","status":200}}]}`})
	routes["POST /rummage-listings-write/_mget"] = []reply{{200, "mget_counters.json"}}
	f := newFake(t, routes)
	b := f.backend(t, nil)
	at := time.Date(2025, 6, 1, 9, 30, 0, 0, time.UTC)
	err := b.ApplyCounters(context.Background(), []query.Counters{
		{ID: "l-1", Likes: 301, Shares: 250, LastSharedAt: &at},
		{ID: "l-2", Likes: 7},
		{ID: "l-3", Likes: 1, Shares: 1, LastSharedAt: &at},
	})
	if err != nil {
		t.Fatal(err)
	}
	var mget []recorded
	for _, r := range f.requests() {
		if strings.HasSuffix(r.Path, "/_mget") {
			mget = append(mget, r)
		}
	}
	if len(mget) != 1 {
		t.Fatalf("%d mget requests, want 1", len(mget))
	}
	goldenRequest(t, "requests/counters_mget.json", mget[0])
	reqs := bulkRequests(f)
	if len(reqs) != 1 {
		t.Fatalf("%d bulk requests, want 1", len(reqs))
	}
	r := reqs[0]
	golden(t, "requests/counters_bulk.ndjson", []byte(r.Method+" "+r.Path+"?"+r.Query+"\n"+r.Body))
}

// TestApplyCountersUnchanged: counters already held write nothing.
func TestApplyCountersUnchanged(t *testing.T) {
	f := newFake(t, map[string][]reply{"POST /rummage-listings-write/_mget": {{200, "mget_counters.json"}}})
	b := f.backend(t, nil)
	if err := b.ApplyCounters(context.Background(), []query.Counters{{ID: "l-2", Likes: 7}, {ID: "l-3"}}); err != nil {
		t.Fatal(err)
	}
	if n := len(bulkRequests(f)); n != 0 {
		t.Errorf("%d bulk requests, want none", n)
	}
}
