package reindex

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rummage/rummage/internal/testkit"
	"github.com/rummage/rummage/query"
)

// blockingTarget's Begin waits until its context ends.
type blockingTarget struct{ began, aborted atomic.Bool }

func (b *blockingTarget) Begin(ctx context.Context) (query.Backend, error) {
	b.began.Store(true)
	<-ctx.Done()
	return nil, ctx.Err()
}
func (b *blockingTarget) Switch(context.Context) error { return errors.New("unreachable") }
func (b *blockingTarget) Finish(context.Context) error { return nil }
func (b *blockingTarget) Abort(context.Context) error  { b.aborted.Store(true); return nil }

func post(h http.Handler, body string, header ...string) *httptest.ResponseRecorder {
	return testkit.Serve(h, http.MethodPost, AdminPath, strings.NewReader(body), header...)
}

// TestAdminNeverTakesADatabaseURL: the reindex snapshots the process's own
// database; a request naming another is refused before anything starts.
func TestAdminNeverTakesADatabaseURL(t *testing.T) {
	tg := &blockingTarget{}
	m := NewManager(ManagerConfig{DatabaseURL: "postgres://own/db", NewTarget: func() Target { return tg }})
	defer m.Close()
	rec := post(m.Handler(), `{"database_url":"postgres://attacker/db"}`)
	if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "database_url") {
		t.Fatalf("a request with database_url: %d %s", rec.Code, rec.Body)
	}
	if tg.began.Load() || m.Status().Phase != PhaseIdle {
		t.Fatal("a reindex started")
	}
}

// TestAdminAuthorize: Authorize sees every request first (the seam for
// admin keys); its refusal is answered with its status.
func TestAdminAuthorize(t *testing.T) {
	tg := &blockingTarget{}
	m := NewManager(ManagerConfig{DatabaseURL: "postgres://own/db", NewTarget: func() Target { return tg },
		Authorize: func(r *http.Request) error {
			switch r.Header.Get("Authorization") {
			case "":
				return errors.New("an admin key is required")
			case "Bearer search-key":
				return &AuthError{Status: http.StatusForbidden, Message: "this key may not reindex"}
			}
			return nil
		}})
	defer m.Close()
	if rec := post(m.Handler(), ""); rec.Code != http.StatusUnauthorized {
		t.Errorf("no key: %d %s", rec.Code, rec.Body)
	}
	if rec := post(m.Handler(), "", "Authorization", "Bearer search-key"); rec.Code != http.StatusForbidden {
		t.Errorf("a search key: %d %s", rec.Code, rec.Body)
	}
	if tg.began.Load() {
		t.Fatal("a refused request started a reindex")
	}
	if rec := post(m.Handler(), "", "Authorization", "Bearer admin-key"); rec.Code != http.StatusAccepted {
		t.Errorf("an admin key: %d %s", rec.Code, rec.Body)
	}
}

// TestManagerClose abandons a running reindex (Abort runs) and refuses new
// ones.
func TestManagerClose(t *testing.T) {
	tg := &blockingTarget{}
	m := NewManager(ManagerConfig{DatabaseURL: "postgres://own/db", NewTarget: func() Target { return tg }})
	if _, err := m.Start(Request{}); err != nil {
		t.Fatal(err)
	}
	for !tg.began.Load() {
		time.Sleep(time.Millisecond)
	}
	m.Close()
	if st := m.Status(); st.Phase != PhaseFailed {
		t.Errorf("after Close: %+v", st)
	}
	if _, err := m.Start(Request{}); err == nil {
		t.Error("Start after Close")
	}
}
