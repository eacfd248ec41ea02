package admit_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/rummage/rummage/api/apitest"
	"github.com/rummage/rummage/query"
	"github.com/rummage/rummage/serve/admit"
)

// TestFrontDoor: with the cap's requests held inside, the next /v1 read is
// shed with 503 overloaded and Retry-After (checked against the OpenAPI
// document), probes still answer, and once one leaves a read gets in.
func TestFrontDoor(t *testing.T) {
	fd, err := admit.NewFrontDoor(2, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	entered := make(chan struct{}, 2)
	release := make(chan struct{})
	b := &backend{hold: func(ctx context.Context, r *query.Retrieval) error {
		entered <- struct{}{}
		<-release
		return nil
	}}
	_, c := server(t, b, fd.Middleware)
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if r := c.Get(t, "/v1/search?q=held"); r.Status != http.StatusOK {
				t.Errorf("held request: %d", r.Status)
			}
		}()
	}
	<-entered
	<-entered
	r := c.Get(t, "/v1/search?q=third")
	var body struct {
		Error struct{ Code, Message, Field string }
	}
	r.Decode(t, &body)
	if r.Status != http.StatusServiceUnavailable || body.Error.Code != admit.CodeOverloaded || r.Header.Get("Retry-After") != "1" {
		t.Fatalf("past the cap: %d %q Retry-After %q", r.Status, body.Error.Code, r.Header.Get("Retry-After"))
	}
	if r := c.Get(t, "/healthz"); r.Status != http.StatusOK {
		t.Fatalf("/healthz past the cap: %d", r.Status)
	}
	b.mu.Lock()
	b.hold = nil
	b.mu.Unlock()
	release <- struct{}{} // one leaves
	release <- struct{}{}
	wg.Wait()
	if fd.InFlight() != 0 {
		t.Fatalf("%d in flight after all left", fd.InFlight())
	}
	if r := c.Get(t, "/v1/search?q=after"); r.Status != http.StatusOK {
		t.Fatalf("after: %d", r.Status)
	}
	if _, err := admit.NewFrontDoor(0, 0, nil); err == nil {
		t.Fatal("a cap of 0 was accepted")
	}
}

// BenchmarkFrontDoorShed is the server CPU of one request shed at the
// front door, the whole way through the API (routing, authorization, the
// 503 JSON body): the cap full.
func BenchmarkFrontDoorShed(b *testing.B) {
	fd, err := admit.NewFrontDoor(1, 0, nil)
	if err != nil {
		b.Fatal(err)
	}
	hold := make(chan struct{})
	entered := make(chan struct{})
	s, _ := server(b, &backend{hold: func(context.Context, *query.Retrieval) error { close(entered); <-hold; return nil }}, fd.Middleware)
	go s.ServeHTTP(httptest.NewRecorder(), authorized("/v1/search?q=held"))
	<-entered
	defer close(hold)
	benchServe(b, s, authorized("/v1/search?q=dress&facets=brand"), http.StatusServiceUnavailable)
}

func authorized(target string) *http.Request {
	req := httptest.NewRequest(http.MethodGet, target, nil)
	req.Header.Set("Authorization", "Bearer "+apitest.Shared().Search)
	return req
}
