package elastic

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/elastic/go-elasticsearch/v8/esapi"

	"github.com/rummage/rummage/fixtures"
	"github.com/rummage/rummage/query"
	"github.com/rummage/rummage/query/conformance"
)

// The tests in this file need a real Elasticsearch 8 cluster: they run when
// ELASTICSEARCH_URL is set (ELASTICSEARCH_API_KEY, ELASTICSEARCH_USERNAME,
// ELASTICSEARCH_PASSWORD and ELASTICSEARCH_CA_CERT are read too), e.g.
//
//	ELASTICSEARCH_URL=http://localhost:9200 go test ./query/elastic/...
//
// Each backend gets its own index prefix and is deleted afterwards.

func clusterConfig(t *testing.T) Config {
	t.Helper()
	url := os.Getenv("ELASTICSEARCH_URL")
	if url == "" {
		t.Skip("ELASTICSEARCH_URL is not set: no Elasticsearch can run on this machine, so the real-cluster suite is skipped " +
			"(the request/response contract tests above ran); run it with ELASTICSEARCH_URL=http://localhost:9200 go test ./query/elastic/...")
	}
	aliases, err := query.LoadAliases("", fixtures.BrandAliases())
	if err != nil {
		t.Fatal(err)
	}
	return Config{
		Aliases:    aliases, // the shipped ones, as rummage serve loads them
		URLs:       []string{url},
		APIKey:     os.Getenv("ELASTICSEARCH_API_KEY"),
		Username:   os.Getenv("ELASTICSEARCH_USERNAME"),
		Password:   os.Getenv("ELASTICSEARCH_PASSWORD"),
		CACertFile: os.Getenv("ELASTICSEARCH_CA_CERT"),
		// writes must be searchable when Apply returns
		Refresh: RefreshWaitFor,
	}
}

var prefixSeq atomic.Int64

// openCluster opens a backend on a fresh index prefix and drops its indices
// and template when the test ends.
func openCluster(t *testing.T) *Backend {
	t.Helper()
	cfg := clusterConfig(t)
	cfg.IndexPrefix = fmt.Sprintf("rummage-test-%d-%d", time.Now().UnixNano(), prefixSeq.Add(1))
	ctx := context.Background()
	b, err := Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { drop(t, b) })
	return b
}

// drop deletes every index of the backend's prefix and its template.
func drop(t *testing.T, b *Backend) {
	ctx := context.Background()
	if _, err := b.do(ctx, "drop test indices", esapi.IndicesDeleteRequest{Index: []string{b.cfg.IndexPrefix + "-v*"}}, nil, 404); err != nil {
		t.Errorf("cleanup: %v", err)
	}
	if _, err := b.do(ctx, "drop test template", esapi.IndicesDeleteIndexTemplateRequest{Name: b.cfg.TemplateName()}, nil, 404); err != nil {
		t.Errorf("cleanup: %v", err)
	}
}

// TestClusterConformance runs the shared suite every backend passes.
func TestClusterConformance(t *testing.T) {
	clusterConfig(t)
	conformance.Run(t, func(t *testing.T) query.Backend { return openCluster(t) })
}

// TestClusterReindex walks the zero-downtime reindex sequence on a real
// cluster: the old index serves until the swap, the new one after it.
func TestClusterReindex(t *testing.T) {
	b := openCluster(t)
	ctx := context.Background()
	docs, err := conformance.Listings()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Apply(ctx, []query.Change{{ID: docs[0].ID, Version: 1, Doc: &docs[0]}}); err != nil {
		t.Fatal(err)
	}
	name, err := b.CreateIndex(ctx)
	if err != nil {
		t.Fatal(err)
	}
	nb := b.ForIndex(name)
	if err := conformance.Load(ctx, nb); err != nil {
		t.Fatal(err)
	}
	if st, err := b.Stats(ctx); err != nil || st.Documents != 1 {
		t.Fatalf("before the swap the read alias sees %+v, %v; want the old index's 1 document", st, err)
	}
	old, err := b.SwapAliases(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := b.Stats(ctx); err != nil || st.Documents != int64(len(docs)) {
		t.Fatalf("after the swap the read alias sees %+v, %v; want %d", st, err, len(docs))
	}
	// a replayed, older write through the write alias is stale on the new index
	st, err := b.Apply(ctx, []query.Change{{ID: docs[0].ID, Version: 0, Doc: &docs[0]}})
	if err != nil || st.Stale != 1 {
		t.Fatalf("replay: %+v, %v; want stale", st, err)
	}
	for _, o := range old {
		if err := b.DeleteIndex(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.DeleteIndex(ctx, name); err == nil {
		t.Fatal("deleted the live index")
	}
}
