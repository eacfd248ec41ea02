package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/rummage/rummage/api/apitest"
	"github.com/rummage/rummage/events"
	"github.com/rummage/rummage/indexer/change"
)

// TestServeEvents: rummage serve --events-brokers takes POST /v1/events
// with an events key into <prefix>.events on the cluster (kfake, the real
// protocol), beside an impression of each answer it served, the user
// pseudonymized; without a pseudonym key it refuses to start.
func TestServeEvents(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.AllowAutoTopicCreation())
	if err != nil {
		t.Fatalf("kfake: %v", err)
	}
	defer c.Close()
	broker := c.ListenAddrs()[0]
	dir := t.TempDir()
	file := filepath.Join(dir, "keys.json")
	secret := strings.TrimSpace(keysRun(t, create, "--kind", "events", "--name", "e", "--keys-file", file))

	t.Setenv(pseudonymKeyEnv, "")
	var usage strings.Builder
	if _, err := parseServe([]string{"--events-brokers", broker}, &usage); !errors.Is(err, errUsage) || !strings.Contains(usage.String(), "--pseudonym-key") {
		t.Fatalf("--events-brokers without a pseudonym key: %v %s", err, usage.String())
	}

	key := strings.Repeat("ab", 32)
	base, out, stop := startServe(t, "--index-dir", filepath.Join(dir, "index"), "--seed-count", "50", "--keys-file", file,
		"--events-brokers", broker, "--pseudonym-key", key)
	defer func() {
		if err := stop(); err != nil {
			t.Errorf("serve: %v\n%s", err, out)
		}
	}()
	waitReady(t, base, out)
	var sr struct {
		QueryID string `json:"query_id"`
		Hits    []struct {
			ID string `json:"id"`
		} `json:"hits"`
	}
	r := apitest.NewRemote(t, base, "").Get(t, "/v1/search?limit=5")
	if err := json.Unmarshal(r.Body, &sr); err != nil || sr.QueryID == "" || len(sr.Hits) == 0 {
		t.Fatalf("search: %d %v %s", r.Status, err, r.Body)
	}
	body := fmt.Sprintf(`{"events":[{"type":"click","user":"u1","listing_id":%q,"query_id":%q,"position":1,"surface":"search"}]}`, sr.Hits[0].ID, sr.QueryID)
	if r := apitest.NewRemote(t, base, secret).Do(t, http.MethodPost, "/v1/events", []byte(body)); r.Status != http.StatusAccepted {
		t.Fatalf("POST /v1/events: %d %s", r.Status, r.Body)
	}

	ps, err := pseudonymizer(key, "")
	if err != nil {
		t.Fatal(err)
	}
	rd := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{broker}, Topic: events.Topic(change.DefaultTopicPrefix), GroupID: "serve-events-test",
		StartOffset: kafka.FirstOffset, MaxWait: 100 * time.Millisecond})
	defer rd.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var click, impression bool
	for !click || !impression {
		m, err := rd.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("reading the events topic (click %v, impression %v): %v", click, impression, err)
		}
		var ev struct {
			Type    string `json:"type"`
			User    string `json:"user"`
			QueryID string `json:"query_id"`
		}
		if err := json.Unmarshal(m.Value, &ev); err != nil {
			t.Fatalf("%v: %s", err, m.Value)
		}
		switch {
		case ev.Type == "click" && ev.QueryID == sr.QueryID:
			if ev.User != ps.Of("u1") {
				t.Errorf("the click's user %q, want the pseudonym %q", ev.User, ps.Of("u1"))
			}
			click = true
		case ev.Type == "impression" && ev.QueryID == sr.QueryID:
			impression = true
		}
	}
}
