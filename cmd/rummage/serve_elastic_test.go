package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// TestServePlan: with the embedded backend serve builds its catalog as
// before; with Elasticsearch it serves the cluster's index as it is, loads
// --data when given, and refuses the flags that would seed or delete.
func TestServePlan(t *testing.T) {
	tests := []struct {
		kind      string
		data      string
		rebuild   bool
		seedFlags bool
		want      serveLoad
		err       string
	}{
		{kind: backendEmbedded, want: loadCatalog},
		{kind: backendEmbedded, data: "x.jsonl", want: loadCatalog},
		{kind: backendEmbedded, rebuild: true, seedFlags: true, want: loadCatalog},
		{kind: backendElasticsearch, want: loadNothing},
		{kind: backendElasticsearch, data: "x.jsonl", want: loadDataFile},
		{kind: backendElasticsearch, seedFlags: true, err: "embedded index only"},
		{kind: backendElasticsearch, data: "x.jsonl", rebuild: true, err: "rummage reindex"},
	}
	for _, tt := range tests {
		got, err := servePlan(tt.kind, tt.data, tt.rebuild, tt.seedFlags)
		switch {
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("%+v: err = %v, want one saying %q", tt, err, tt.err)
		case tt.err == "" && (err != nil || got != tt.want):
			t.Errorf("%+v: = %v, %v; want %v", tt, got, err, tt.want)
		}
	}
}

func TestServeElasticsearchBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--backend", "elasticsearch", "--seed-count", "5"},
		{"--backend", "elasticsearch", "--seed", "2"},
		{"--backend", "elasticsearch", "--rebuild"},
	} {
		var out bytes.Buffer
		if err := serveMain(context.Background(), args, &out); !errors.Is(err, errUsage) {
			t.Errorf("%v: err = %v, want errUsage\n%s", args, err, out.String())
		}
	}
}

// fakeCluster answers the requests serve makes to open and count an
// Elasticsearch 8 index whose aliases exist and which holds count
// documents; any other request (a _bulk above all) gets a 400 and is
// recorded.
type fakeCluster struct {
	mu    sync.Mutex
	reqs  []string
	count string
	// reindexing: the reindex alias names rummage-test-v000002, and bulk
	// writes are answered.
	reindexing bool
}

func (f *fakeCluster) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, r.Body)
	f.mu.Lock()
	f.reqs = append(f.reqs, r.Method+" "+r.URL.Path)
	f.mu.Unlock()
	w.Header().Set("X-Elastic-Product", "Elasticsearch")
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.Method == "GET" && r.URL.Path == "/":
		io.WriteString(w, `{"name":"n1","cluster_name":"c","version":{"number":"8.19.7","build_flavor":"default"},"tagline":"You Know, for Search"}`)
	case r.Method == "GET" && r.URL.Path == "/rummage-test-v*/_alias":
		io.WriteString(w, `{"rummage-test-v000001":{"aliases":{"rummage-test":{},"rummage-test-write":{"is_write_index":true}}}}`)
	case f.reindexing && r.Method == "GET" && r.URL.Path == "/_cat/aliases/rummage-test-reindex":
		io.WriteString(w, `[{"alias":"rummage-test-reindex","index":"rummage-test-v000002"}]`)
	case f.reindexing && r.Method == "POST" && strings.HasSuffix(r.URL.Path, "/_bulk"):
		index := strings.TrimPrefix(strings.TrimSuffix(r.URL.Path, "/_bulk"), "/")
		io.WriteString(w, `{"took":1,"errors":false,"items":[{"index":{"_index":"`+index+`","_id":"a","_version":1,"result":"created","status":201}}]}`)
	case strings.HasSuffix(r.URL.Path, "/_count"):
		io.WriteString(w, `{"count":`+f.count+`,"_shards":{"total":1,"successful":1,"skipped":0,"failed":0}}`)
	default:
		w.WriteHeader(400)
		io.WriteString(w, `{"error":{"type":"illegal_argument_exception","reason":"fake: unexpected request"},"status":400}`)
	}
}

func (f *fakeCluster) requests() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.reqs...)
}

// TestServeElasticsearchDoesNotSeed: on an empty cluster index serve
// becomes ready without writing anything (the embedded backend would build
// the seed catalog), says why, and leaves --index-dir alone.
func TestServeElasticsearchDoesNotSeed(t *testing.T) {
	f := &fakeCluster{count: "0"}
	srv := httptest.NewServer(f)
	defer srv.Close()
	dir := filepath.Join(t.TempDir(), "index")
	base, out, stop := startServe(t, "--backend", "elasticsearch", "--es-url", srv.URL, "--es-index-prefix", "rummage-test", "--index-dir", dir)
	waitReady(t, base, out)
	if err := stop(); err != nil {
		t.Fatalf("serve: %v\n%s", err, out)
	}
	for _, r := range f.requests() {
		if strings.Contains(r, "_bulk") || strings.HasPrefix(r, "PUT ") || strings.HasPrefix(r, "POST /rummage-test-write") {
			t.Errorf("serve wrote to the cluster: %s\n%s", r, out)
		}
	}
	if !strings.Contains(out.String(), "serve does not seed a cluster") {
		t.Errorf("no word on the empty cluster index:\n%s", out)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("--index-dir %s was touched: %v", dir, err)
	}
}

// TestServeElasticsearchDataDuringReindex: serve --data writes through
// the reindex-aware Apply, so a file loaded while a reindex runs reaches the
// index being built too, not only the one about to be replaced.
func TestServeElasticsearchDataDuringReindex(t *testing.T) {
	f := &fakeCluster{count: "0", reindexing: true}
	srv := httptest.NewServer(f)
	defer srv.Close()
	data := filepath.Join(t.TempDir(), "one.jsonl")
	if err := os.WriteFile(data, []byte(strings.Replace(goodLine, "%s", "a", 1)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	base, out, stop := startServe(t, "--backend", "elasticsearch", "--es-url", srv.URL, "--es-index-prefix", "rummage-test", "--data", data,
		"--signals-dir", filepath.Join(t.TempDir(), "signals"))
	waitReady(t, base, out)
	if err := stop(); err != nil {
		t.Fatalf("serve: %v\n%s", err, out)
	}
	var wrote []string
	for _, r := range f.requests() {
		if strings.HasSuffix(r, "/_bulk") {
			wrote = append(wrote, r)
		}
	}
	if strings.Join(wrote, ",") != "POST /rummage-test-write/_bulk,POST /rummage-test-v000002/_bulk" {
		t.Errorf("bulk writes %v, want the write alias and the index the reindex builds\n%s", wrote, out)
	}
}
