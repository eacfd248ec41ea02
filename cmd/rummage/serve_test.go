package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rummage/rummage/api/apitest"
	"github.com/rummage/rummage/internal/testkit"
)

func TestServeHelp(t *testing.T) {
	var out bytes.Buffer
	err := serveMain(context.Background(), []string{"--help"}, &out)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("err = %v, want flag.ErrHelp", err)
	}
	for _, want := range []string{"Usage: rummage serve", "-addr", "-index-dir", "-data", "-seed-count", "-aliases", "-log-level", "-strict", "-rebuild", "-backend", "Bad lines", "/readyz"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("help lacks %q:\n%s", want, out.String())
		}
	}
}

func TestServeBadFlags(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--no-such-flag"}, "no-such-flag"},
		{[]string{"--seed-count", "many"}, "seed-count"},
		{[]string{"--seed-count", "0"}, "--seed-count"},
		{[]string{"--log-level", "loud"}, "--log-level"},
		{[]string{"--data", "x.jsonl", "--seed-count", "5"}, "exclude"},
		{[]string{"--backend", "solr"}, "solr"},
		{[]string{"--request-timeout", "-1s"}, "negative"},
		{[]string{"stray"}, "unexpected argument"},
	}
	for _, tt := range tests {
		var out bytes.Buffer
		err := serveMain(context.Background(), tt.args, &out)
		if !errors.Is(err, errUsage) {
			t.Errorf("%v: err = %v, want errUsage", tt.args, err)
		}
		if !strings.Contains(out.String(), tt.want) {
			t.Errorf("%v: output lacks %q:\n%s", tt.args, tt.want, out.String())
		}
	}
}

var listeningRE = regexp.MustCompile(`msg=listening addr=(\S+)`)

// startServe runs serve until the returned stop is called; it waits until
// the server listens and returns its base URL.
func startServe(t *testing.T, args ...string) (base string, out *testkit.SyncBuffer, stop func() error) {
	t.Helper()
	out = &testkit.SyncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serveMain(ctx, append([]string{"--addr", "127.0.0.1:0"}, args...), out) }()
	stop = func() error {
		cancel()
		return <-done
	}
	for {
		if m := listeningRE.FindStringSubmatch(out.String()); m != nil {
			return "http://" + m[1], out, stop
		}
		select {
		case err := <-done:
			t.Fatalf("serve ended before listening: %v\n%s", err, out)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// waitReady polls /readyz; serve keeps answering /healthz meanwhile.
func waitReady(t *testing.T, base string, out *testkit.SyncBuffer) {
	t.Helper()
	for i := 0; ; i++ {
		resp, err := http.Get(base + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == 200 {
			return
		}
		if resp.StatusCode != 503 {
			t.Fatalf("/readyz: %d", resp.StatusCode)
		}
		if i > 12000 { // a minute: only a broken load takes this long
			t.Fatalf("never ready:\n%s", out)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func total(t *testing.T, base, params string) int {
	t.Helper()
	r := apitest.NewRemote(t, base, "").Get(t, "/v1/search?"+params)
	var body struct{ Total int }
	if err := json.Unmarshal(r.Body, &body); err != nil || r.Status != 200 {
		t.Fatalf("search %s: %d %v", params, r.Status, err)
	}
	return body.Total
}

// TestServeSeedThenReopen: the first run builds the seed catalog while
// /healthz already answers; the second reopens without reindexing; a run
// asking for another catalog refuses to replace it without --rebuild.
func TestServeSeedThenReopen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "index")
	base, out, stop := startServe(t, "--index-dir", dir, "--seed-count", "300")
	resp, err := http.Get(base + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("/healthz at start: %v %v", resp, err)
	}
	resp.Body.Close()
	waitReady(t, base, out)
	if n := total(t, base, "limit=1"); n == 0 || n > 300 {
		t.Errorf("total %d after seeding 300", n)
	}
	// serve serves the browser app too (package web).
	for _, p := range []string{"/", "/parties/p1", "/admin"} {
		resp, err := http.Get(base + p)
		if err != nil {
			t.Fatal(err)
		}
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || !bytes.Contains(page, []byte("/assets/")) {
			t.Errorf("GET %s: %d %s %.100s, want the app's page", p, resp.StatusCode, resp.Header.Get("Content-Type"), page)
		}
	}
	if err := stop(); err != nil {
		t.Fatalf("serve: %v\n%s", err, out)
	}
	for _, want := range []string{"building the index", "index built", "listings=300", "msg=ready", "shutting down"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("first run log lacks %q:\n%s", want, out)
		}
	}

	base, out, stop = startServe(t, "--index-dir", dir, "--seed-count", "300")
	waitReady(t, base, out)
	if err := stop(); err != nil {
		t.Fatalf("second serve: %v\n%s", err, out)
	}
	if !strings.Contains(out.String(), "reusing the index") || strings.Contains(out.String(), "building the index") {
		t.Errorf("second run reindexed:\n%s", out)
	}

	var buf bytes.Buffer
	err = serveMain(context.Background(), []string{"--addr", "127.0.0.1:0", "--index-dir", dir, "--seed-count", "301"}, &buf)
	if err == nil || !strings.Contains(err.Error(), "--rebuild") {
		t.Errorf("another catalog over the index: err = %v, want a hint at --rebuild\n%s", err, buf.String())
	}
}

const goodLine = `{"id":"%s","seller_id":"s1","title":"Blue denim jacket","brand":"Levi's","price_cents":4000,"created_at":"2025-01-01T00:00:00Z"}`

func jsonl(lines ...string) string { return strings.Join(lines, "\n") + "\n" }

func TestServeDataFile(t *testing.T) {
	line := func(id string) string { return strings.Replace(goodLine, "%s", id, 1) }
	data := filepath.Join(t.TempDir(), "listings.jsonl")
	content := jsonl(line("a"), `{"id":"b","seller_id":"s1","title":"x","price_cents":"cheap"}`, line("c"),
		`{not json`, line("d"), `{"id":"e","seller_id":"s1","title":"x","price_cents":-5}`)
	if err := os.WriteFile(data, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}

	t.Run("bad lines are reported and skipped", func(t *testing.T) {
		base, out, stop := startServe(t, "--index-dir", filepath.Join(t.TempDir(), "index"), "--data", data)
		waitReady(t, base, out)
		if n := total(t, base, "q=jacket"); n != 3 {
			t.Errorf("total %d, want the 3 good lines", n)
		}
		if err := stop(); err != nil {
			t.Fatalf("serve: %v\n%s", err, out)
		}
		for _, want := range []string{
			`msg="skipping bad line"`, "line=2 field=price_cents", "line=4 field=\"\"", "line=6 field=price_cents",
			`msg="bad lines skipped"`, "bad_lines=3", "listings=3",
		} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("log lacks %q:\n%s", want, out)
			}
		}
	})

	t.Run("strict stops at the first bad line", func(t *testing.T) {
		var out testkit.SyncBuffer
		err := serveMain(context.Background(), []string{"--addr", "127.0.0.1:0", "--index-dir", filepath.Join(t.TempDir(), "index"), "--data", data, "--strict"}, &out)
		if err == nil || !strings.Contains(err.Error(), "line 2") || !strings.Contains(err.Error(), "price_cents") {
			t.Errorf("err = %v, want line 2, field price_cents", err)
		}
	})

	t.Run("a file with no good line is an error", func(t *testing.T) {
		bad := filepath.Join(t.TempDir(), "bad.jsonl")
		os.WriteFile(bad, []byte(jsonl("{", "[]")), 0o644)
		var out testkit.SyncBuffer
		err := serveMain(context.Background(), []string{"--addr", "127.0.0.1:0", "--index-dir", filepath.Join(t.TempDir(), "index"), "--data", bad}, &out)
		if err == nil || !strings.Contains(err.Error(), "no valid listing") {
			t.Errorf("err = %v", err)
		}
	})

	t.Run("missing file", func(t *testing.T) {
		var out testkit.SyncBuffer
		err := serveMain(context.Background(), []string{"--addr", "127.0.0.1:0", "--index-dir", filepath.Join(t.TempDir(), "index"), "--data", "/nonexistent.jsonl"}, &out)
		if err == nil || !strings.Contains(err.Error(), "--data") {
			t.Errorf("err = %v", err)
		}
	})
}

// TestCursorKeyKept: without --cursor-key a process keeps its key beside
// the index, so its cursors survive a restart; --cursor-key wins, and a
// rotation accepts the previous key.
func TestCursorKeyKept(t *testing.T) {
	keep := filepath.Join(t.TempDir(), "sub", "index.cursor-key")
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	a, err := (&cursorFlags{}).codec(keep, log)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(keep); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("kept key: %v %v", fi, err)
	}
	old, _ := os.ReadFile(keep)
	b, err := (&cursorFlags{}).codec(keep, log)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := os.ReadFile(keep); string(again) != string(old) || len(old) < 64 {
		t.Errorf("the kept key changed on the second start: %q then %q", old, again)
	}
	for _, c := range []struct {
		name string
		f    cursorFlags
		ok   bool
	}{
		{"bad key", cursorFlags{key: "nope"}, false},
		{"short key", cursorFlags{key: "abcd"}, false},
		{"rotation", cursorFlags{key: strings.Repeat("ab", 32), previous: strings.TrimSpace(string(old))}, true},
	} {
		if _, err := c.f.codec(keep, log); (err == nil) != c.ok {
			t.Errorf("%s: %v", c.name, err)
		}
	}
	if a == nil || b == nil {
		t.Fatal("no codec")
	}
}
