package elastic

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/elastic/go-elasticsearch/v8/esapi"
	"github.com/elastic/go-elasticsearch/v8/esutil"

	"github.com/rummage/rummage"
	"github.com/rummage/rummage/query"
)

// ItemError is one change of a batch that Elasticsearch did not apply.
type ItemError struct {
	ID      string
	Version uint64
	Status  int    // HTTP status of the item; 0 when the whole request failed
	Type    string // e.g. mapper_parsing_exception
	Reason  string
}

func (e ItemError) String() string {
	if e.Type != "" {
		return fmt.Sprintf("listing %s (version %d): %s: %s", e.ID, e.Version, e.Type, e.Reason)
	}
	return fmt.Sprintf("listing %s (version %d): %s", e.ID, e.Version, e.Reason)
}

// BulkError is returned by Apply when some changes were neither applied nor
// stale after the retries. The caller must not acknowledge the batch (the
// indexer keeps its Kafka offset) and retries it whole; the changes that did
// go through come back as stale.
type BulkError struct {
	Op     string
	Total  int
	Failed []ItemError
	kind   error // a sentinel shared by all failures, if any
}

func (e *BulkError) Error() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "%s: %d of %d changes failed", e.Op, len(e.Failed), e.Total)
	same := len(e.Failed) > 1
	for _, f := range e.Failed {
		same = same && f.Type == e.Failed[0].Type && f.Reason == e.Failed[0].Reason
	}
	if same { // the whole request failed: say why once
		f := e.Failed[0]
		if f.Type != "" {
			return sb.String() + ": " + f.Type + ": " + f.Reason
		}
		return sb.String() + ": " + f.Reason
	}
	for i, f := range e.Failed {
		if i == 3 {
			fmt.Fprintf(&sb, "; and %d more", len(e.Failed)-3)
			break
		}
		sb.WriteString("; ")
		sb.WriteString(f.String())
	}
	return sb.String()
}

// Unwrap exposes ErrUnauthorized, ErrIndexNotFound, ... when every failure
// had that cause.
func (e *BulkError) Unwrap() error { return e.kind }

// outcome of one bulk item.
type outcome int

const (
	pending outcome = iota
	written
	stale
	retry
	failed
)

// Apply writes a batch with external versions; see the package comment for
// the durability and failure contract. It honours a running reindex: it
// looks the reindex alias up first and, while it exists, writes the batch to
// the index the reindex builds as well (see reindex.go), so that every
// writer (the indexer, serve --data) is reindex-aware without choosing to
// be. A Backend made by ForIndex writes its index only.
func (b *Backend) Apply(ctx context.Context, batch []query.Change) (query.ApplyStats, error) {
	if len(batch) == 0 {
		return query.ApplyStats{}, nil
	}
	bodies, err := encodeBatch(batch)
	if err != nil {
		return query.ApplyStats{}, err
	}
	if !b.requireAlias {
		return b.apply(ctx, batch, bodies)
	}
	next, err := b.reindexTarget(ctx)
	if err != nil {
		return query.ApplyStats{}, err
	}
	st, err := b.apply(ctx, batch, bodies)
	if err != nil || next == "" {
		return st, err
	}
	if _, err := b.ForIndex(next).apply(ctx, batch, bodies); err != nil {
		return st, fmt.Errorf("reindex target %s: %w", next, err)
	}
	return st, nil
}

// encodeBatch checks every change and encodes the documents, before any
// request: a batch Elasticsearch could not take is refused whole.
func encodeBatch(batch []query.Change) ([][]byte, error) {
	bodies := make([][]byte, len(batch))
	for i := range batch {
		c := &batch[i]
		if err := checkChange(c); err != nil {
			return nil, fmt.Errorf("apply: change %d: %w", i, err)
		}
		if !c.Delete {
			body, err := json.Marshal(newDocument(c.Doc))
			if err != nil {
				return nil, fmt.Errorf("apply: listing %s: %w", c.ID, err)
			}
			bodies[i] = body
		}
	}
	return bodies, nil
}

// apply writes an encoded batch to b.write only.
func (b *Backend) apply(ctx context.Context, batch []query.Change, bodies [][]byte) (query.ApplyStats, error) {
	var st query.ApplyStats
	ctx, cancel := context.WithTimeout(ctx, b.cfg.BulkTimeout)
	defer cancel()

	op := "apply to " + b.write
	todo := make([]int, len(batch))
	for i := range todo {
		todo[i] = i
	}
	var errs []ItemError
	for attempt := 0; len(todo) > 0; attempt++ {
		if attempt > 0 {
			if err := sleep(ctx, backoff(attempt)); err != nil {
				return st, fmt.Errorf("%s: %w", op, err)
			}
		}
		res, itemErrs, err := b.bulk(ctx, op, batch, bodies, todo)
		if err != nil {
			return st, err
		}
		var again []int
		errs = errs[:0]
		for k, i := range todo {
			switch res[k] {
			case written:
				st.Written++
			case stale:
				st.Stale++
			case retry:
				again = append(again, i)
				errs = append(errs, itemErrs[k])
			case failed:
				errs = append(errs, itemErrs[k])
			}
		}
		if len(errs) > len(again) || attempt >= b.cfg.MaxRetries {
			// a permanent failure, or out of retries: report every item
			// that did not make it.
			break
		}
		todo = again
	}
	if len(errs) > 0 {
		return st, &BulkError{Op: op, Total: len(batch), Failed: append([]ItemError(nil), errs...), kind: commonKind(errs)}
	}
	return st, nil
}

// checkChange rejects a change Elasticsearch could not take as is.
func checkChange(c *query.Change) error {
	switch {
	case c.ID == "":
		return errors.New("empty id")
	case c.Version > math.MaxInt64:
		return fmt.Errorf("listing %s: version %d is above Elasticsearch's limit of 2^63-1", c.ID, c.Version)
	case !c.Delete && c.Doc == nil:
		return fmt.Errorf("listing %s: an upsert without a document", c.ID)
	case !c.Delete && c.Doc.ID != c.ID:
		return fmt.Errorf("listing %s: the document's id is %q", c.ID, c.Doc.ID)
	}
	return nil
}

// bulk sends the changes at positions todo through one BulkIndexer and
// returns the outcome of each (indexed like todo). It fails as a whole only
// when the context ends.
func (b *Backend) bulk(ctx context.Context, op string, batch []query.Change, bodies [][]byte, todo []int) ([]outcome, []ItemError, error) {
	bi, err := esutil.NewBulkIndexer(esutil.BulkIndexerConfig{
		Client:       b.es,
		Index:        b.write,
		NumWorkers:   b.cfg.BulkWorkers,
		FlushBytes:   b.cfg.FlushBytes,
		Refresh:      b.cfg.Refresh,
		RequireAlias: b.requireAlias,
		// never flush on a timer: Close flushes everything
		FlushInterval: time.Hour,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", op, err)
	}
	res := make([]outcome, len(todo))
	itemErrs := make([]ItemError, len(todo))
	var mu sync.Mutex // the callbacks run on the workers
	set := func(k int, o outcome, e ItemError) {
		mu.Lock()
		res[k], itemErrs[k] = o, e
		mu.Unlock()
	}
	for k, i := range todo {
		c := &batch[i]
		v := int64(c.Version)
		item := esutil.BulkIndexerItem{
			Action:      "index",
			DocumentID:  c.ID,
			Version:     &v,
			VersionType: "external_gte",
			OnSuccess: func(context.Context, esutil.BulkIndexerItem, esutil.BulkIndexerResponseItem) {
				set(k, written, ItemError{})
			},
			OnFailure: func(_ context.Context, _ esutil.BulkIndexerItem, r esutil.BulkIndexerResponseItem, err error) {
				o, e := classify(r, err, b.cfg.URLs)
				e.ID, e.Version = c.ID, c.Version
				set(k, o, e)
			},
		}
		if c.Delete {
			item.Action = "delete"
		} else {
			item.Body = bytes.NewReader(bodies[i])
		}
		if err := bi.Add(ctx, item); err != nil {
			_ = bi.Close(ctx)
			return nil, nil, fmt.Errorf("%s: %w", op, err)
		}
	}
	if err := bi.Close(ctx); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", op, err)
	}
	for k := range res {
		if res[k] == pending { // the answer had fewer items than the request
			res[k], itemErrs[k] = retry, ItemError{Reason: "no result for this item in the bulk answer"}
			itemErrs[k].ID, itemErrs[k].Version = batch[todo[k]].ID, batch[todo[k]].Version
		}
	}
	return res, itemErrs, nil
}

// classify decides what a failed bulk item means.
func classify(r esutil.BulkIndexerResponseItem, err error, urls []string) (outcome, ItemError) {
	if err != nil { // the whole request failed
		e := ItemError{Reason: flushError(err, urls).Error()}
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return failed, e
		}
		var ee *Error
		if errors.As(flushError(err, urls), &ee) && ee.Status != 429 && ee.Status < 500 {
			e.Status = ee.Status
			return failed, e
		}
		return retry, e
	}
	e := ItemError{Status: r.Status, Type: r.Error.Type, Reason: r.Error.Reason}
	if r.Error.Cause.Reason != "" {
		e.Reason += " (" + r.Error.Cause.Type + ": " + r.Error.Cause.Reason + ")"
	}
	switch {
	case r.Status == 409 || r.Error.Type == "version_conflict_engine_exception":
		// the index holds this version or a newer one
		return stale, ItemError{}
	case r.Status == 404 && r.Result == "not_found" && r.Error.Type == "":
		// a delete of a listing the index never had: Elasticsearch still
		// records the delete's version, which is all that matters
		return written, ItemError{}
	case r.Status == 429 || r.Status >= 500:
		return retry, e
	}
	return failed, e
}

var flushStatusRE = regexp.MustCompile(`(?s)^flush: \[(\d{3}) [^\]]*\] (.*)$`)

// flushError turns the BulkIndexer's whole-request failure into this
// package's errors: "flush: [401 Unauthorized] {...}" becomes an *Error
// wrapping ErrUnauthorized, a network failure wraps ErrUnreachable.
func flushError(err error, urls []string) error {
	if m := flushStatusRE.FindStringSubmatch(err.Error()); m != nil {
		status, _ := strconv.Atoi(m[1])
		res := &esapi.Response{StatusCode: status, Body: nopCloser{strings.NewReader(m[2])}}
		return responseError("bulk", res)
	}
	return transportError("bulk", urls, err)
}

type nopCloser struct{ *strings.Reader }

func (nopCloser) Close() error { return nil }

// commonKind returns the sentinel every failure shares, or nil.
func commonKind(errs []ItemError) error {
	var kind error
	for i, e := range errs {
		var k error
		switch {
		case e.Status == 401:
			k = ErrUnauthorized
		case e.Status == 403:
			k = ErrForbidden
		case e.Type == "index_not_found_exception":
			k = ErrIndexNotFound
		case strings.Contains(e.Reason, ErrUnreachable.Error()):
			k = ErrUnreachable
		}
		if i > 0 && k != kind {
			return nil
		}
		kind = k
	}
	return kind
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Get returns one listing whatever its status, or query.ErrNotFound.
func (b *Backend) Get(ctx context.Context, id string) (*rummage.Listing, error) {
	var res struct {
		Found  bool            `json:"found"`
		Source json.RawMessage `json:"_source"`
	}
	op := "get " + id + " from " + b.read
	if _, err := b.do(ctx, op, esapi.GetRequest{Index: b.read, DocumentID: id}, &res, 404); err != nil {
		return nil, err
	}
	if !res.Found {
		return nil, query.ErrNotFound
	}
	var l rummage.Listing
	if err := json.Unmarshal(res.Source, &l); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	return &l, nil
}

// Load reads listings by id with one _mget on the read alias; nil for an id
// the index does not hold.
func (b *Backend) Load(ctx context.Context, ids []string) ([]*rummage.Listing, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	op := "mget from " + b.read
	docs, err := b.mget(ctx, op, b.read, ids)
	if err != nil {
		return nil, err
	}
	if len(docs) != len(ids) {
		return nil, fmt.Errorf("%s: %d documents for %d ids", op, len(docs), len(ids))
	}
	out := make([]*rummage.Listing, len(ids))
	for i, d := range docs {
		if !d.Found {
			continue
		}
		var l rummage.Listing
		if err := json.Unmarshal(d.Source, &l); err != nil {
			return nil, fmt.Errorf("%s: %s: %w", op, d.ID, err)
		}
		out[i] = &l
	}
	return out, nil
}

// ApplyCounters is query.CounterWriter. Elasticsearch's partial update
// cannot carry an external version and adds one to the document's: after a
// few thousand shares of a hot listing its version would pass the commit
// LSN of the listing's next change, which would then be refused as stale.
// So the documents are read with their versions (one realtime _mget on the
// write alias) and those whose counters differ are indexed again, whole,
// through Apply at the version they hold (external_gte takes an equal
// one). The indexer is the index's only writer and writes one batch at a
// time, so nothing comes between the read and the write.
func (b *Backend) ApplyCounters(ctx context.Context, cs []query.Counters) error {
	if len(cs) == 0 {
		return nil
	}
	want := make(map[string]query.Counters, len(cs))
	ids := make([]string, 0, len(cs))
	for _, c := range cs {
		if _, dup := want[c.ID]; !dup {
			ids = append(ids, c.ID)
		}
		want[c.ID] = c
	}
	op := "mget counters from " + b.write
	docs, err := b.mget(ctx, op, b.write, ids)
	if err != nil {
		return err
	}
	var batch []query.Change
	for _, d := range docs {
		c, ok := want[d.ID]
		if !d.Found || !ok {
			continue
		}
		var l rummage.Listing
		if err := json.Unmarshal(d.Source, &l); err != nil {
			return fmt.Errorf("%s: %s: %w", op, d.ID, err)
		}
		if c.Set(&l) {
			batch = append(batch, query.Change{ID: d.ID, Version: uint64(d.Version), Doc: &l})
		}
	}
	if _, err := b.Apply(ctx, batch); err != nil {
		return fmt.Errorf("apply counters: %w", err)
	}
	return nil
}

// mgetDoc is one document of an _mget answer.
type mgetDoc struct {
	ID      string          `json:"_id"`
	Found   bool            `json:"found"`
	Version int64           `json:"_version"`
	Source  json.RawMessage `json:"_source"`
}

// mget reads ids from index with one realtime _mget.
func (b *Backend) mget(ctx context.Context, op, index string, ids []string) ([]mgetDoc, error) {
	body, err := json.Marshal(obj{"ids": ids})
	if err != nil {
		return nil, err
	}
	var res struct {
		Docs []mgetDoc `json:"docs"`
	}
	if _, err := b.do(ctx, op, esapi.MgetRequest{Index: index, Body: bytes.NewReader(body)}, &res); err != nil {
		return nil, err
	}
	return res.Docs, nil
}

// Stats counts the documents behind the read alias.
func (b *Backend) Stats(ctx context.Context) (query.Stats, error) {
	var res struct {
		Count int64 `json:"count"`
	}
	if _, err := b.do(ctx, "count "+b.read, esapi.CountRequest{Index: []string{b.read}}, &res); err != nil {
		return query.Stats{}, err
	}
	return query.Stats{Documents: res.Count}, nil
}
