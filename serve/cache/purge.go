package cache

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
)

// Purger hears of the invalidations the cache applies, as Surrogate-Key
// tokens, to purge a CDN in front. Purge must be safe for concurrent use;
// the cache calls it off the request path.
type Purger interface {
	Purge(ctx context.Context, keys []string) error
}

// Webhook is a Purger that POSTs {"surrogate_keys": [...]} to URL (a CDN's
// purge API behind a small adapter of the operator's, docs/cdn.md).
type Webhook struct {
	URL    string
	Header http.Header // e.g. an Authorization for the hook
	Client *http.Client
}

// Purge posts keys; a status other than 2xx is an error.
func (w *Webhook) Purge(ctx context.Context, keys []string) error {
	body, err := json.Marshal(struct {
		Keys []string `json:"surrogate_keys"`
	}{keys})
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("cache: purge hook: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range w.Header {
		req.Header[k] = v
	}
	cl := w.Client
	if cl == nil {
		cl = http.DefaultClient
	}
	resp, err := cl.Do(req)
	if err != nil {
		return fmt.Errorf("cache: purge hook: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("cache: purge hook: %s", resp.Status)
	}
	return nil
}
