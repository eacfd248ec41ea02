package main

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rummage/rummage/api"
	"github.com/rummage/rummage/api/apitest"
	"github.com/rummage/rummage/audit"
)

// TestAdminReindexIsAudited: a reindex started with an admin key is one
// audit line naming the key; a refused request (a search key) reaches no
// handler and records nothing; reads are not recorded.
func TestAdminReindexIsAudited(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	ks := apitest.Shared()
	admin, err := ks.Ring.Lookup(ks.Admin)
	if err != nil {
		t.Fatal(err)
	}
	h := api.Auth{Keys: ks.Ring}.Protect(auditedAdmin(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			w.WriteHeader(http.StatusAccepted)
		}
	}), audit.Logger(log), log))
	send := func(method, secret string) int {
		req := httptest.NewRequest(method, "/admin/reindex", strings.NewReader("{}"))
		req.Header.Set("Authorization", "Bearer "+secret)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w.Code
	}
	if got := send(http.MethodPost, ks.Search); got != http.StatusForbidden {
		t.Errorf("POST with a search key: %d", got)
	}
	if got := send(http.MethodGet, ks.Admin); got != http.StatusOK {
		t.Errorf("GET: %d", got)
	}
	if got := send(http.MethodPost, ks.Admin); got != http.StatusAccepted {
		t.Errorf("POST: %d", got)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("want one audit line, got %q", buf.String())
	}
	var line map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &line); err != nil {
		t.Fatal(err)
	}
	if line["msg"] != "audit" || line["action"] != "reindex.start" || line["actor"] != "key:"+admin.ID || line["outcome"] != "ok" {
		t.Errorf("audit line %s", lines[0])
	}
}
