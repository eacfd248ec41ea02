package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rummage/rummage/internal/testkit"
	"github.com/rummage/rummage/internal/testpg"
)

// browserTools finds what the browser tests need: node, Chromium and
// playwright-core (npm ci in web/app; scripts/test runs it). Missing ones
// skip the test, or fail it under CI=true.
func browserTools(t *testing.T) (node, chromium, app string) {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		testpg.Unavailable(t, "the browser tests need node (apt-get install nodejs)")
	}
	chromium = os.Getenv("RUMMAGE_CHROMIUM")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	if _, err := os.Stat(chromium); err != nil {
		testpg.Unavailable(t, "the browser tests need Chromium at %s (apt-get install chromium; scripts/test installs it as root; or set RUMMAGE_CHROMIUM)", chromium)
	}
	app, err = filepath.Abs(filepath.Join("..", "..", "web", "app"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(app, "node_modules", "playwright-core")); err != nil {
		testpg.Unavailable(t, "the browser tests need playwright-core: run npm ci in web/app (scripts/test does)")
	}
	return node, chromium, app
}

var picPath = regexp.MustCompile(`^/pic/\w+_(\d+)\.png$`)

// picServer serves square PNG pictures at /pic/<name>_<width>.png: the
// browser test's own listing pictures, so the test checks that a picture
// loads whatever host the generated catalog's pictures are on.
func picServer(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m := picPath.FindStringSubmatch(r.URL.Path)
		if m == nil {
			http.NotFound(w, r)
			return
		}
		size, err := strconv.Atoi(m[1])
		if err != nil || size < 1 || size > 1200 {
			http.NotFound(w, r)
			return
		}
		img := image.NewRGBA(image.Rect(0, 0, size, size))
		for y := range size {
			for x := range size {
				img.Set(x, y, color.RGBA{uint8(180 + x*60/size), uint8(90 + y*80/size), 70, 255})
			}
		}
		w.Header().Set("Content-Type", "image/png")
		w.Header().Set("Cache-Control", "public, max-age=3600")
		png.Encode(w, img)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestBrowser runs the shopper app and the dashboard in a real browser
// (web/app/e2e/browser.mjs: Debian's Chromium, playwright-core) against the
// real stack: rummage dev on a private database, the CDC, the in-process
// broker and the indexer. The script asks; this test makes the changes in
// Postgres (a share into a live party, a drop a few seconds ahead).
// Screenshots go to a folder the test prints; times are logged, not
// asserted.
func TestBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the browser test starts the whole stack and Chromium")
	}
	node, chromium, app := browserTools(t)
	db := testpg.New(t, testpg.Options{Logical: true})
	pics := picServer(t)
	slot := fmt.Sprintf("rummage_webtest_%08x", rand.Uint32())
	d := startDev(t, "--database-url", db, "--index-dir", filepath.Join(t.TempDir(), "index"), "--addr", "127.0.0.1:0",
		"--kafka-addr", "127.0.0.1:0", "--admin-addr", "", "--seed-count", "1500", "--slot", slot, "--partitions", "2", "--log-level", "warn")
	testkit.Eventually(t, "ready after the snapshot", 60*time.Second, func() bool { return devGet(t, d.base+"/readyz", nil) == http.StatusOK })
	keys := printedKeys(d.out.String())
	if keys["admin"] == "" || keys["search"] == "" || keys["public"] == "" {
		t.Fatalf("dev printed keys %v", keys)
	}

	ctx := context.Background()
	conn := testpg.Connect(t, db)
	sql := func(q string, args ...any) { t.Helper(); testpg.Exec(t, conn, q, args...) }

	// A listing with pictures of its own, in a closet a test shopper follows.
	pic := func(w int) map[string]any {
		return map[string]any{"url": fmt.Sprintf("%s/pic/webtest_%d.png", pics.URL, w), "width": w, "height": w}
	}
	images, _ := json.Marshal([]any{pic(150), pic(600), pic(1200)})
	const title = "Webtest Quokka Corduroy Jacket"
	sql(`INSERT INTO sellers (id, username) VALUES ('webtest-s', 'webtest')`)
	sql(`INSERT INTO listings (id, seller_id, title, brand, category, size, condition, price_cents, images) VALUES ('webtest-pic', 'webtest-s', $1, 'Quokkawear', '{Women,Clothing}', 'M', 'good', 4500, $2)`, title, string(images))
	sql(`INSERT INTO follows (follower_id, seller_id) VALUES ('webtest-u', 'webtest-s')`)

	// A live party with three shares, one minute apart.
	var partyFeed []string
	rows, err := conn.Query(ctx, `SELECT id FROM listings WHERE status = 'available' AND (available_at IS NULL OR available_at < now()) AND id <> 'webtest-pic' ORDER BY id LIMIT 4`)
	if err != nil {
		t.Fatal(err)
	}
	var candidates []string
	for rows.Next() {
		var id string
		rows.Scan(&id)
		candidates = append(candidates, id)
	}
	rows.Close()
	if len(candidates) < 4 {
		t.Fatalf("the seeded catalog has %d visible listings", len(candidates))
	}
	sql(`INSERT INTO parties (id, name, theme, starts_at, ends_at) VALUES ('webtest-party', 'Webtest Wombat Party', '{}', now() - interval '10 minutes', now() + interval '1 hour')`)
	for i, id := range candidates[:3] {
		sql(`INSERT INTO shares (user_id, listing_id, party_id, created_at) VALUES ('webtest-sharer', $1, 'webtest-party', now() - make_interval(mins => $2))`, id, 3-i)
		partyFeed = append([]string{id}, partyFeed...)
	}
	testkit.Eventually(t, "the test rows served", 20*time.Second, func() bool {
		var feed devSearch
		return d.search(t, url.Values{"q": {title}}).Total == 1 &&
			devGet(t, d.base+"/v1/parties/webtest-party/feed", &feed) == http.StatusOK && feed.Total == 3
	})
	var facets struct {
		Facets struct {
			Brand []struct {
				Value string `json:"value"`
				Count int    `json:"count"`
			} `json:"brand"`
		} `json:"facets"`
	}
	devGet(t, d.base+"/v1/search?facets=brand&limit=1", &facets)
	if len(facets.Facets.Brand) < 2 {
		t.Fatalf("fewer than two brands: %+v", facets)
	}
	b1, b2 := facets.Facets.Brand[0], facets.Facets.Brand[1]

	shots, err := os.MkdirTemp("", "rummage-browser-")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots: %s", shots)
	cfg, _ := json.Marshal(map[string]any{
		"base": d.base, "chromium": chromium, "shots": shots, "pageSize": 24,
		"adminKey": keys["admin"], "searchKey": keys["search"], "publicKey": keys["public"],
		"brands": []string{b1.Value, b2.Value}, "brandCounts": []int{b1.Count, b2.Count},
		"picListing": map[string]any{"id": "webtest-pic", "title": title, "thumbnail": pic(150)["url"], "large": []any{pic(600)["url"], pic(1200)["url"]}},
		"party":      map[string]any{"id": "webtest-party", "name": "Webtest Wombat Party", "feed": partyFeed},
		"follower":   map[string]any{"user": "webtest-u", "seller": "webtest-s", "first": "webtest-pic"},
	})

	cmd := exec.Command(node, filepath.Join(app, "e2e", "browser.mjs"))
	cmd.Dir = app
	cmd.Env = append(os.Environ(), "E2E="+string(cfg))
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	timer := time.AfterFunc(5*time.Minute, func() { cmd.Process.Kill() })
	defer timer.Stop()
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			name, _, isStep := strings.Cut(strings.TrimPrefix(line, "STEP "), " ")
			if !strings.HasPrefix(line, "STEP ") || !isStep {
				t.Log(line)
				continue
			}
			answer := browserStep(d, conn, name, candidates[3])
			b, _ := json.Marshal(answer)
			io.WriteString(stdin, string(b)+"\n")
		}
	}()
	<-done
	err = cmd.Wait()
	if stderr.Len() > 0 {
		t.Logf("stderr:\n%s", stderr.String())
	}
	if err != nil {
		t.Fatalf("the browser tests failed (%v); screenshots in %s", err, shots)
	}
}

// browserStep makes the change the browser script asks for and says what
// it made; an error goes back to the script, which fails.
func browserStep(d *devRun, conn *pgx.Conn, name, spare string) map[string]any {
	ctx := context.Background()
	fail := func(err error) map[string]any { return map[string]any{"error": err.Error()} }
	switch name {
	case "share":
		if _, err := conn.Exec(ctx, `INSERT INTO shares (user_id, listing_id, party_id) VALUES ('webtest-sharer', $1, 'webtest-party')`, spare); err != nil {
			return fail(err)
		}
		return map[string]any{"id": spare}
	case "drop":
		// A few seconds ahead, to the millisecond, as /v1/drops reports it.
		at := time.Now().Add(8 * time.Second).UTC().Truncate(time.Millisecond)
		const title = "Webtest Numbat Drop Sneakers"
		if _, err := conn.Exec(ctx, `INSERT INTO listings (id, seller_id, title, brand, price_cents, available_at) VALUES ('webtest-drop1', 'webtest-s', $1, 'Numbat', 9900, $2), ('webtest-drop2', 'webtest-s', $1 || ' II', 'Numbat', 9900, $2)`, title, at); err != nil {
			return fail(err)
		}
		want := at.Format(time.RFC3339Nano)
		deadline := time.Now().Add(6 * time.Second)
		for time.Now().Before(deadline) {
			var drops struct {
				Drops []struct {
					At    string `json:"at"`
					Count int    `json:"count"`
				} `json:"drops"`
			}
			// Not devGet: this runs on the script's goroutine, where a
			// failure must go back to the script, not stop the test.
			if resp, err := http.Get(d.base + "/v1/drops"); err == nil {
				json.NewDecoder(resp.Body).Decode(&drops)
				resp.Body.Close()
			}
			for _, dr := range drops.Drops {
				if t0, err := time.Parse(time.RFC3339Nano, dr.At); err == nil && t0.Equal(at) && dr.Count == 2 {
					return map[string]any{"at": dr.At, "title": title, "wanted": want}
				}
			}
			time.Sleep(100 * time.Millisecond)
		}
		return fail(fmt.Errorf("the drop at %s is not in /v1/drops", want))
	}
	return fail(fmt.Errorf("unknown step %q", name))
}
