package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rummage/rummage/api/apitest"
	"github.com/rummage/rummage/indexer/reindex"
	"github.com/rummage/rummage/internal/devpg"
	"github.com/rummage/rummage/internal/testkit"
	"github.com/rummage/rummage/internal/testpg"
	"github.com/rummage/rummage/query/embedded"
)

// devRun is one devMain running in the test.
type devRun struct {
	base, broker string
	out          *testkit.SyncBuffer
	stop         func() error
}

func startDev(t *testing.T, args ...string) *devRun {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out := &testkit.SyncBuffer{}
	type addrs struct{ api, broker string }
	started := make(chan addrs, 1)
	done := make(chan error, 1)
	go func() {
		done <- devMain(ctx, args, out, devHooks{started: func(a, b string) { started <- addrs{a, b} }})
	}()
	var stopped bool
	stop := func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(30 * time.Second):
			return fmt.Errorf("dev did not stop in 30s")
		}
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("dev: %v", err)
		}
		if t.Failed() {
			t.Logf("dev output:\n%s", out.String())
		}
	})
	select {
	case a := <-started:
		return &devRun{base: "http://" + a.api, broker: a.broker, out: out, stop: stop}
	case err := <-done:
		t.Fatalf("dev stopped before it started: %v\n%s", err, out.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("dev did not start in 60s:\n%s", out.String())
	}
	return nil
}

// devGet gets u through apitest, which checks the answer against the
// API's OpenAPI document.
func devGet(t *testing.T, u string, v any) int {
	t.Helper()
	p, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	r := apitest.NewRemote(t, p.Scheme+"://"+p.Host, "").Get(t, p.RequestURI())
	if v != nil && r.Status == http.StatusOK {
		if err := json.Unmarshal(r.Body, v); err != nil {
			t.Fatalf("GET %s: %v: %s", u, err, r.Body)
		}
	}
	return r.Status
}

type devSearch struct {
	Total int `json:"total"`
	Hits  []struct {
		ID         string `json:"id"`
		PriceCents int64  `json:"price_cents"`
	} `json:"hits"`
}

func (d *devRun) search(t *testing.T, params url.Values) devSearch {
	t.Helper()
	var r devSearch
	if code := devGet(t, d.base+"/v1/search?"+params.Encode(), &r); code != http.StatusOK {
		t.Fatalf("search %v: HTTP %d", params, code)
	}
	return r
}

// TestDevEndToEnd runs `rummage dev` against a fresh database: snapshot,
// then insert, update (price; status → sold) and delete in Postgres, each
// seen in /v1/search over HTTP; one /metrics for every role; kcat lists and
// consumes the broker; a restart resumes and picks up a change made while
// it was down.
func TestDevEndToEnd(t *testing.T) {
	db := testpg.New(t, testpg.Options{Logical: true})
	dir := t.TempDir()
	slot := fmt.Sprintf("rummage_devtest_%08x", rand.Uint32())
	adminAddr := testkit.FreeAddr(t)
	args := []string{"--database-url", db, "--index-dir", filepath.Join(dir, "index"), "--addr", "127.0.0.1:0",
		"--kafka-addr", "127.0.0.1:0", "--admin-addr", adminAddr, "--seed-count", "300", "--slot", slot, "--partitions", "2", "--log-level", "warn"}
	d := startDev(t, args...)

	testkit.Eventually(t, "ready after the snapshot", 60*time.Second, func() bool { return devGet(t, d.base+"/readyz", nil) == http.StatusOK })
	var snap devSearch
	devGet(t, d.base+"/v1/search?limit=1", &snap)
	if snap.Total == 0 {
		t.Fatalf("no listings after the snapshot of 300")
	}

	ctx := context.Background()
	conn := testpg.Connect(t, db)
	exec := func(sql string, args ...any) { t.Helper(); testpg.Exec(t, conn, sql, args...) }
	q := url.Values{"q": {"quixotic zebra"}}

	exec(`INSERT INTO listings (id, seller_id, title, brand, price_cents) VALUES ('devt1', 's0000001', 'Quixotic zebra blazer', 'Zara', 4200)`)
	took := testkit.Eventually(t, "insert searchable", 10*time.Second, func() bool { return d.search(t, q).Total == 1 })
	t.Logf("insert → searchable in %v", took)

	exec(`UPDATE listings SET price_cents = 1234, updated_at = now() WHERE id = 'devt1'`)
	took = testkit.Eventually(t, "price update searchable", 10*time.Second, func() bool {
		r := d.search(t, url.Values{"q": q["q"], "price_min": {"1234"}, "price_max": {"1234"}})
		return r.Total == 1 && r.Hits[0].PriceCents == 1234
	})
	t.Logf("price update → searchable in %v", took)

	exec(`UPDATE listings SET status = 'sold' WHERE id = 'devt1'`)
	took = testkit.Eventually(t, "sold listing leaves search", 10*time.Second, func() bool { return d.search(t, q).Total == 0 })
	t.Logf("status sold → gone from search in %v", took)
	var got struct {
		Status string `json:"status"`
	}
	if devGet(t, d.base+"/v1/listings/devt1", &got); got.Status != "sold" {
		t.Errorf("listing status = %q, want sold", got.Status)
	}

	exec(`UPDATE listings SET status = 'available' WHERE id = 'devt1'`)
	testkit.Eventually(t, "available again", 10*time.Second, func() bool { return d.search(t, q).Total == 1 })
	exec(`DELETE FROM listings WHERE id = 'devt1'`)
	took = testkit.Eventually(t, "delete gone", 10*time.Second, func() bool {
		return d.search(t, q).Total == 0 && devGet(t, d.base+"/v1/listings/devt1", nil) == http.StatusNotFound
	})
	t.Logf("delete → gone in %v", took)

	resp, err := http.Get(d.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, m := range []string{"rummage_http_request_duration_seconds", "rummage_index_documents", "rummage_cdc_events_total",
		"rummage_cdc_replication_lag_bytes", "rummage_indexer_", "rummage_kafka_reader_", "go_goroutines"} {
		if !bytes.Contains(metrics, []byte(m)) {
			t.Errorf("/metrics lacks %s", m)
		}
	}

	// A zero-downtime reindex through the admin endpoint, as `rummage
	// reindex` asks for it: afterwards the new generation serves, and the
	// stream writes into it.
	// The first start printed a key of each kind; the admin endpoint takes
	// the admin key only.
	printed := printedKeys(d.out.String())
	if len(printed) != 4 {
		t.Fatalf("dev printed keys %v, want one of each kind:\n%s", printed, d.out)
	}
	if _, err := (&reindex.Client{URL: "http://" + adminAddr, Key: printed["search"]}).Status(ctx); err == nil || !strings.Contains(err.Error(), "wrong_key_kind") {
		t.Errorf("the admin endpoint with a search key: %v, want 403 wrong_key_kind", err)
	}
	if _, err := (&reindex.Client{URL: "http://" + adminAddr}).Start(ctx, reindex.Request{}); err == nil || !strings.Contains(err.Error(), "missing_key") {
		t.Errorf("the admin endpoint without a key: %v, want 401 missing_key", err)
	}
	admin := &reindex.Client{URL: "http://" + adminAddr, Key: printed["admin"]}
	if _, err := admin.Start(ctx, reindex.Request{}); err != nil {
		t.Fatalf("start reindex: %v", err)
	}
	testkit.Eventually(t, "reindex done", 60*time.Second, func() bool {
		st, err := admin.Status(ctx)
		return err == nil && st.Ended()
	})
	if st, _ := admin.Status(ctx); st.Phase != reindex.PhaseDone {
		t.Fatalf("reindex ended in %+v", st)
	}
	if cur, err := os.ReadFile(filepath.Join(dir, "index") + embedded.CurrentSuffix); err != nil || !strings.Contains(string(cur), "g000002") {
		t.Fatalf("after the reindex CURRENT = %q (%v), want generation 2", cur, err)
	}
	var after devSearch
	devGet(t, d.base+"/v1/search?limit=1", &after)
	if after.Total != snap.Total {
		t.Errorf("after the reindex: %d listings, want %d", after.Total, snap.Total)
	}
	exec(`INSERT INTO listings (id, seller_id, title, price_cents) VALUES ('devt3', 's0000001', 'Quixotic zebra scarf', 700)`)
	testkit.Eventually(t, "insert after the reindex searchable", 10*time.Second, func() bool { return d.search(t, q).Total == 1 })
	exec(`DELETE FROM listings WHERE id = 'devt3'`)
	testkit.Eventually(t, "delete after the reindex", 10*time.Second, func() bool { return d.search(t, q).Total == 0 })

	// The social tables reach the signals store, and the API answers
	// from it: a party, a listing matching its theme, a share into it.
	exec(`INSERT INTO parties (id, name, theme, starts_at, ends_at) VALUES ('devp1', 'Xylophone night', '{"q":"xylophone"}', now() - interval '1 minute', now() + interval '1 hour')`)
	exec(`INSERT INTO listings (id, seller_id, title, price_cents) VALUES ('devt4', 's0000001', 'Xylophone tote', 800)`)
	exec(`INSERT INTO shares (user_id, listing_id, party_id) VALUES ('u1', 'devt4', 'devp1')`)
	took = testkit.Eventually(t, "share in the party feed", 10*time.Second, func() bool {
		var feed devSearch
		return devGet(t, d.base+"/v1/parties/devp1/feed", &feed) == http.StatusOK && feed.Total == 1 && feed.Hits[0].ID == "devt4"
	})
	t.Logf("share → party feed in %v", took)

	devEventsFlow(t, d, "xylophone", printed)

	t.Run("kcat", func(t *testing.T) { devKcat(t, d.broker) })

	if err := d.stop(); err != nil {
		t.Fatalf("dev shutdown: %v", err)
	}

	// Restart: the index, the broker's log and the CDC position are kept; a
	// change made while dev was down arrives, and it is ready at once.
	exec(`INSERT INTO listings (id, seller_id, title, price_cents) VALUES ('devt2', 's0000001', 'Quixotic zebra loafers', 900)`)
	d = startDev(t, args...)
	if out := d.out.String(); strings.Contains(out, "rk_") || !strings.Contains(out, "api keys: 4 active") {
		t.Errorf("a restart prints keys again, or not their count:\n%s", out)
	}
	// The index answers at once; /readyz says ready, with the lag, once
	// the indexer applied what the broker held at start.
	var ready struct {
		Status string `json:"status"`
		Lag    *struct {
			Events int64 `json:"events"`
		} `json:"lag"`
	}
	testkit.Eventually(t, "ready after the restart", 30*time.Second, func() bool { return devGet(t, d.base+"/readyz", &ready) == http.StatusOK })
	if ready.Status != "ready" || ready.Lag == nil {
		t.Errorf("/readyz after catching up: %+v, want ready with the lag", ready)
	}
	testkit.Eventually(t, "change made while down", 10*time.Second, func() bool { return d.search(t, q).Total == 1 })
}

func devKcat(t *testing.T, broker string) {
	if _, err := exec.LookPath("kcat"); err != nil {
		testpg.Unavailable(t, "kcat is not installed (Debian package kcat; scripts/test installs it)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "kcat", "-b", broker, "-L").CombinedOutput()
	if err != nil {
		t.Fatalf("kcat -L: %v\n%s", err, out)
	}
	for _, topic := range []string{"rummage.public.listings", "rummage.public.sellers", "rummage.dlq"} {
		if !strings.Contains(string(out), `"`+topic+`"`) {
			t.Errorf("kcat -L does not list %s:\n%s", topic, out)
		}
	}
	out, err = exec.CommandContext(ctx, "kcat", "-b", broker, "-C", "-t", "rummage.public.listings", "-o", "beginning", "-e", "-q",
		"-f", "%k\t%s\n").Output()
	if err != nil {
		t.Fatalf("kcat -C: %v\n%s", err, out)
	}
	ops := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		key, value, _ := strings.Cut(line, "\t")
		var e struct {
			Op     string `json:"op"`
			Source struct {
				Table string `json:"table"`
			} `json:"source"`
		}
		if err := json.Unmarshal([]byte(value), &e); err != nil {
			t.Fatalf("kcat -C: not a change event: %v: %q", err, line)
		}
		if e.Source.Table != "listings" {
			t.Errorf("event of table %q on the listings topic", e.Source.Table)
		}
		if strings.Contains(key, "devt1") {
			ops[e.Op]++
		}
	}
	// devt1: insert, price, sold, available, delete.
	if ops["c"] != 1 || ops["u"] != 3 || ops["d"] != 1 {
		t.Errorf("kcat -C: events of devt1 by op = %v, want c:1 u:3 d:1", ops)
	}
	t.Logf("kcat consumed %d listing events", strings.Count(string(out), "\n"))
}

func TestDevFlags(t *testing.T) {
	t.Setenv("DATABASE_URL", "")
	out := &testkit.SyncBuffer{}
	if err := devMain(context.Background(), []string{"--help"}, out, devHooks{}); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("--help: err = %v, want flag.ErrHelp", err)
	}
	for _, want := range []string{"kcat -b ADDR -L", "--seed-count", "--kafka-addr", "--index-dir", "/readyz"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("--help does not mention %q", want)
		}
	}
	for _, args := range [][]string{
		{"--database-url", "x", "--backend", "elasticsearch"}, // dev is embedded only
		{"--database-url", "x", "--seed-count", "-1"},
	} {
		if err := devMain(context.Background(), args, &testkit.SyncBuffer{}, devHooks{}); !errors.Is(err, errUsage) {
			t.Errorf("%q: err = %v, want a usage error", args, err)
		}
	}
}

// TestDevPrivatePostgres runs `rummage dev` with no database URL: it
// initializes and starts a private Postgres, seeds, snapshots and serves
// it, streams a row inserted over its socket, stops it with dev, and a
// second start reuses it without seeding again.
func TestDevPrivatePostgres(t *testing.T) {
	if _, err := devpg.FindBinDir(context.Background()); err != nil {
		testpg.Unavailable(t, "%v", err)
	}
	t.Setenv("DATABASE_URL", "")
	dir := testpg.OpenDir(t) // the postgres user must reach it when the test runs as root
	args := []string{"--index-dir", filepath.Join(dir, "index"), "--addr", "127.0.0.1:0", "--kafka-addr", "127.0.0.1:0",
		"--admin-addr", "", "--seed-count", "40", "--partitions", "1"}
	d := startDev(t, args...)
	m := regexp.MustCompile(`private Postgres started on socket (\S+)/\.s\.PGSQL\.(\d+)`).FindStringSubmatch(d.out.String())
	if m == nil || !strings.Contains(d.out.String(), "initializing private Postgres in "+filepath.Join(dir, "index-postgres")) {
		t.Fatalf("dev did not say it initialized and started its Postgres in <index-dir>-postgres:\n%s", d.out)
	}
	testkit.Eventually(t, "ready after the snapshot", 60*time.Second, func() bool { return devGet(t, d.base+"/readyz", nil) == http.StatusOK })
	if r := d.search(t, url.Values{"limit": {"1"}}); r.Total == 0 || r.Total > 40 {
		t.Fatalf("%d listings after seeding 40", r.Total)
	}

	ctx := context.Background()
	conn, err := pgx.Connect(ctx, fmt.Sprintf("host=%s port=%s user=postgres dbname=rummage", m[1], m[2]))
	if err != nil {
		t.Fatalf("connect over the socket: %v", err)
	}
	_, err = conn.Exec(ctx, `INSERT INTO listings (id, seller_id, title, price_cents) VALUES ('devpg1', 's0000001', 'Quixotic wombat cardigan', 2500)`)
	conn.Close(ctx)
	if err != nil {
		t.Fatal(err)
	}
	q := url.Values{"q": {"quixotic wombat"}}
	testkit.Eventually(t, "insert searchable", 10*time.Second, func() bool { return d.search(t, q).Total == 1 })
	devEventsFlow(t, d, "quixotic wombat", printedKeys(d.out.String()))

	if err := d.stop(); err != nil {
		t.Fatalf("dev shutdown: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "index-postgres", "data", "postmaster.pid")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Postgres still running after dev stopped (postmaster.pid: %v)", err)
	}

	d = startDev(t, args...)
	if out := d.out.String(); strings.Contains(out, "initializing") || strings.Contains(out, "seeded") || !strings.Contains(out, "private Postgres started on socket") {
		t.Errorf("a second start initialized or seeded again, or did not start the cluster:\n%s", out)
	}
	testkit.Eventually(t, "ready after the restart", 30*time.Second, func() bool { return devGet(t, d.base+"/readyz", nil) == http.StatusOK })
	if r := d.search(t, q); r.Total != 1 {
		t.Errorf("after a restart: %d hits for the inserted listing, want 1", r.Total)
	}
}

// devEventsFlow: a search's query_id and a click on it posted with the
// events key are both rolled up into the analytics the admin key reads.
func devEventsFlow(t *testing.T, d *devRun, query string, printed map[string]string) {
	t.Helper()
	var sr struct {
		QueryID string `json:"query_id"`
		Hits    []struct {
			ID string `json:"id"`
		} `json:"hits"`
	}
	if devGet(t, d.base+"/v1/search?q="+url.QueryEscape(query), &sr); sr.QueryID == "" || len(sr.Hits) == 0 {
		t.Fatalf("a search without a query_id or hits: %+v", sr)
	}
	body := fmt.Sprintf(`{"events":[{"type":"click","user":"u1","listing_id":%q,"query_id":%q,"position":1,"surface":"search"}]}`, sr.Hits[0].ID, sr.QueryID)
	if r := apitest.NewRemote(t, d.base, printed["events"]).Do(t, http.MethodPost, "/v1/events", []byte(body)); r.Status != http.StatusAccepted {
		t.Fatalf("POST /v1/events: %d %s", r.Status, r.Body)
	}
	took := testkit.Eventually(t, "the click in the analytics", 15*time.Second, func() bool {
		var an struct {
			Queries []struct {
				Query    string `json:"query"`
				Searches int    `json:"searches"`
				Clicks   int    `json:"clicks"`
			} `json:"queries"`
		}
		r := apitest.NewRemote(t, d.base, printed["admin"]).Get(t, "/v1/analytics/searches")
		_ = json.Unmarshal(r.Body, &an)
		// The test's earlier searches are impressions too: find ours.
		for _, q := range an.Queries {
			if q.Query == query {
				return q.Searches >= 1 && q.Clicks == 1
			}
		}
		return false
	})
	t.Logf("search and click → analytics in %v", took)
}

// printedKeys are the keys dev printed at its first start, by kind.
func printedKeys(out string) map[string]string {
	printed := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^  (search|public|events|admin) +(rk_\S+)$`).FindAllStringSubmatch(out, -1) {
		printed[m[1]] = m[2]
	}
	return printed
}
