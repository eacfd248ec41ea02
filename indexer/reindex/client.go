package reindex

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// Client talks to a process's admin endpoint (rummage reindex).
type Client struct {
	// URL is the admin listener's base URL, e.g. http://127.0.0.1:9464.
	URL string
	// Key is an admin API key, sent as "Authorization: Bearer <key>"; the
	// endpoint refuses requests without one (401) or with another kind (403).
	Key  string
	HTTP *http.Client // nil is http.DefaultClient
}

func (c *Client) endpoint() string { return strings.TrimRight(c.URL, "/") + AdminPath }

func (c *Client) do(ctx context.Context, method string, body any) (Status, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return Status{}, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.endpoint(), rd)
	if err != nil {
		return Status{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	if c.Key != "" {
		req.Header.Set("Authorization", "Bearer "+c.Key)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	res, err := hc.Do(req)
	if err != nil {
		return Status{}, fmt.Errorf("%s %s: %w (is the process running with its admin endpoint enabled?)", method, c.endpoint(), err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return Status{}, err
	}
	if res.StatusCode/100 != 2 {
		var eb errorBody
		if json.Unmarshal(b, &eb) == nil && eb.Error != "" {
			return Status{}, fmt.Errorf("%s %s: %s: %s", method, c.endpoint(), res.Status, eb.Error)
		}
		var ae struct { // the API's shape, as the key check answers (api.Auth.Protect)
			Error struct{ Code, Message string } `json:"error"`
		}
		if json.Unmarshal(b, &ae) == nil && ae.Error.Message != "" {
			return Status{}, fmt.Errorf("%s %s: %s: %s (%s)", method, c.endpoint(), res.Status, ae.Error.Message, ae.Error.Code)
		}
		return Status{}, fmt.Errorf("%s %s: %s", method, c.endpoint(), res.Status)
	}
	var st Status
	if err := json.Unmarshal(b, &st); err != nil {
		return Status{}, fmt.Errorf("%s %s: unexpected answer: %w", method, c.endpoint(), err)
	}
	return st, nil
}

// Start asks the process to begin a reindex.
func (c *Client) Start(ctx context.Context, req Request) (Status, error) {
	return c.do(ctx, http.MethodPost, req)
}

// Status asks for the progress of the running or last reindex.
func (c *Client) Status(ctx context.Context) (Status, error) {
	return c.do(ctx, http.MethodGet, nil)
}
