package reindex

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
)

// AdminPath is where Handler serves: POST starts a reindex, GET reports it.
const AdminPath = "/admin/reindex"

// Request is the body of POST /admin/reindex.
type Request struct {
	// DatabaseURL of the Postgres to snapshot; empty means the manager's
	// default.
	DatabaseURL string `json:"database_url,omitempty"`
	// Tables to snapshot (only listings become documents); empty means
	// listings.
	Tables []string `json:"tables,omitempty"`
}

// ErrRunning is returned by Start while a reindex is in progress.
var ErrRunning = errors.New("a reindex is already running")

// ManagerConfig configures a Manager.
type ManagerConfig struct {
	// NewTarget returns the target of one reindex (for the embedded
	// backend, an *Embedded over the process's live backend).
	NewTarget func() Target
	// DatabaseURL is the default source; a request may name another.
	DatabaseURL string
	Logger      *slog.Logger
}

// Manager runs at most one reindex at a time in the background of a
// process that applies the stream (rummage indexer, rummage dev), and
// serves its progress.
type Manager struct {
	ctx  context.Context
	cfg  ManagerConfig
	mu   sync.Mutex
	st   Status
	busy bool
	done chan struct{}
}

// NewManager returns a manager whose reindexes run under ctx: when ctx ends
// a running reindex is abandoned (the new index removed, the old one kept).
func NewManager(ctx context.Context, cfg ManagerConfig) *Manager {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Manager{ctx: ctx, cfg: cfg, st: Status{Phase: PhaseIdle}}
}

// Start begins a reindex in the background and returns its first status.
func (m *Manager) Start(req Request) (Status, error) {
	dsn := req.DatabaseURL
	if dsn == "" {
		dsn = m.cfg.DatabaseURL
	}
	if dsn == "" {
		return Status{}, errors.New("no database URL: pass database_url")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.busy {
		return m.st, ErrRunning
	}
	m.busy = true
	m.done = make(chan struct{})
	m.st = Status{Phase: PhaseBegin}
	t := m.cfg.NewTarget()
	go func() {
		defer close(m.done)
		st, _ := Run(m.ctx, t, Options{
			Snapshot: PostgresSnapshot(dsn, req.Tables),
			Logger:   m.cfg.Logger,
			Progress: func(s Status) {
				m.mu.Lock()
				m.st = s
				m.mu.Unlock()
			},
		})
		m.mu.Lock()
		m.st, m.busy = st, false
		m.mu.Unlock()
	}()
	return m.st, nil
}

// Status returns the progress of the running or last reindex.
func (m *Manager) Status() Status {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.st
}

// Wait blocks until the running reindex, if any, has ended.
func (m *Manager) Wait() {
	m.mu.Lock()
	done := m.done
	m.mu.Unlock()
	if done != nil {
		<-done
	}
}

// Handler serves AdminPath: POST (a JSON Request body, possibly empty)
// starts a reindex and answers 202 with its status, 409 if one is running;
// GET answers 200 with the status. Mount it only on an administrative
// listener (loopback by default), behind an admin key (cmd/rummage wraps it
// with api.Auth.Protect): it takes a database URL and rebuilds the index.
func (m *Manager) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet:
			writeJSON(w, http.StatusOK, m.Status())
		case http.MethodPost:
			var req Request
			body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
			if err == nil && len(bytes.TrimSpace(body)) > 0 {
				err = json.Unmarshal(body, &req)
			}
			if err != nil {
				writeJSON(w, http.StatusBadRequest, errorBody{err.Error()})
				return
			}
			st, err := m.Start(req)
			switch {
			case errors.Is(err, ErrRunning):
				writeJSON(w, http.StatusConflict, errorBody{err.Error()})
			case err != nil:
				writeJSON(w, http.StatusBadRequest, errorBody{err.Error()})
			default:
				writeJSON(w, http.StatusAccepted, st)
			}
		default:
			w.Header().Set("Allow", "GET, POST")
			writeJSON(w, http.StatusMethodNotAllowed, errorBody{"use GET or POST"})
		}
	})
}

type errorBody struct {
	Error string `json:"error"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

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
