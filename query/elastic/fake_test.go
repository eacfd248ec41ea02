package elastic

import (
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"

	goldenfile "github.com/rummage/rummage/internal/golden"
)

// reply is one canned answer: a status and a file under testdata/responses
// (or a literal body when file starts with '{').
type reply struct {
	status int
	file   string
}

// recorded is one request the fake cluster received.
type recorded struct {
	Method string `json:"method"`
	Path   string `json:"path"`
	Query  string `json:"query,omitempty"`
	Body   string `json:"-"`
}

// fakeES is an httptest server that answers like an Elasticsearch 8 node:
// each route ("METHOD /path") has a queue of replies, the last of which
// repeats. Unknown routes get a 400 so a test never passes by accident.
type fakeES struct {
	t       *testing.T
	srv     *httptest.Server
	mu      sync.Mutex
	routes  map[string][]reply
	reqs    []recorded
	product bool // send X-Elastic-Product
}

func newFake(t *testing.T, routes map[string][]reply) *fakeES {
	t.Helper()
	f := &fakeES{t: t, routes: routes, product: true}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	f.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeES) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	key := r.Method + " " + r.URL.Path
	f.mu.Lock()
	f.reqs = append(f.reqs, recorded{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Body: string(body)})
	q := f.routes[key]
	var rep reply
	if len(q) > 0 {
		rep = q[0]
		if len(q) > 1 {
			f.routes[key] = q[1:]
		}
	}
	f.mu.Unlock()
	if f.product {
		w.Header().Set("X-Elastic-Product", "Elasticsearch")
	}
	w.Header().Set("Content-Type", "application/json")
	if rep.status == 0 {
		w.WriteHeader(400)
		io.WriteString(w, `{"error":{"type":"illegal_argument_exception","reason":"fake: no route for `+key+`"},"status":400}`)
		return
	}
	b := []byte(rep.file)
	if len(rep.file) > 0 && rep.file[0] != '{' {
		var err error
		if b, err = os.ReadFile(filepath.Join("testdata", "responses", rep.file)); err != nil {
			f.t.Errorf("fake: %v", err)
		}
	}
	w.WriteHeader(rep.status)
	w.Write(b)
}

// requests returns what the fake received so far.
func (f *fakeES) requests() []recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]recorded(nil), f.reqs...)
}

// backend returns a Backend talking to the fake, without retries of its own
// unless the test sets them.
func (f *fakeES) backend(t *testing.T, mod func(*Config)) *Backend {
	t.Helper()
	// One bulk worker: the canned bulk answers list every item of the
	// batch, and esutil's worker panics on an answer longer than its request.
	cfg := Config{URLs: []string{f.srv.URL}, MaxRetries: -1, BulkWorkers: 1}
	if mod != nil {
		mod(&cfg)
	}
	b, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// golden compares got with testdata/<name>, or rewrites it under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	goldenfile.Check(t, filepath.Join("testdata", name), got)
}

func goldenRequest(t *testing.T, name string, r recorded) {
	t.Helper()
	var body any
	if r.Body != "" {
		if err := json.Unmarshal([]byte(r.Body), &body); err != nil {
			t.Fatalf("request body is not JSON: %v\n%s", err, r.Body)
		}
	}
	doc := struct {
		Method string `json:"method"`
		Path   string `json:"path"`
		Query  string `json:"query,omitempty"`
		Body   any    `json:"body,omitempty"`
	}{r.Method, r.Path, r.Query, elideLong(body)}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden(t, name, append(b, '\n'))
}

// elideLong replaces arrays of more than 20 strings in a decoded JSON
// document by a readable summary, so a golden request with a list of 70,000
// ids stays short: "<70000 values: l-00000 … l-69999>".
func elideLong(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = elideLong(e)
		}
	case []any:
		if len(x) > 20 {
			first, ok1 := x[0].(string)
			last, ok2 := x[len(x)-1].(string)
			if ok1 && ok2 {
				return fmt.Sprintf("<%d values: %s … %s>", len(x), first, last)
			}
		}
		for i, e := range x {
			x[i] = elideLong(e)
		}
	}
	return v
}
