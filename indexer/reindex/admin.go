package reindex

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"sync"

	"github.com/rummage/rummage/indexer"
)

// AdminPath is where Handler serves: POST starts a reindex, GET reports it.
const AdminPath = "/admin/reindex"

// Request is the body of POST /admin/reindex. The database snapshotted is
// always the process's own (ManagerConfig.DatabaseURL): a request cannot
// point a reindex at another database, and one that names one
// (database_url) is refused.
type Request struct {
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
	// DatabaseURL is the Postgres every reindex snapshots: the process's
	// own (--database-url).
	DatabaseURL string
	// Authorize, when set, decides each request to the handler: an error
	// answers 401 with its message (an *AuthError chooses its status). Nil
	// lets every request through: mount the handler on a loopback
	// listener only. API keys plug in here.
	Authorize func(*http.Request) error
	// Counters, when set, fills the new index's counters (Options.Counters).
	Counters indexer.CounterSource
	Logger   *slog.Logger
}

// AuthError is an Authorize refusal with its HTTP status (401 or 403).
type AuthError struct {
	Status  int
	Message string
}

func (e *AuthError) Error() string { return e.Message }

// Manager runs at most one reindex at a time in the background of a
// process that applies the stream (rummage indexer, rummage dev), and
// serves its progress.
type Manager struct {
	cfg    ManagerConfig
	mu     sync.Mutex
	st     Status
	busy   bool
	closed bool
	cancel context.CancelFunc // abandons the running reindex
	done   chan struct{}      // closed when the running (or last) reindex ended
}

// NewManager returns a manager; Close abandons a running reindex (the new
// index removed, the old one kept).
func NewManager(cfg ManagerConfig) *Manager {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Manager{cfg: cfg, st: Status{Phase: PhaseIdle}}
}

// Close abandons a running reindex, waits until it has cleaned up, and
// refuses later ones.
func (m *Manager) Close() {
	m.mu.Lock()
	m.closed = true
	cancel, done := m.cancel, m.done
	m.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}

// Start begins a reindex in the background and returns its first status.
func (m *Manager) Start(req Request) (Status, error) {
	dsn := m.cfg.DatabaseURL
	if dsn == "" {
		return Status{}, errors.New("no database to snapshot: the process runs without --database-url")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.busy {
		return m.st, ErrRunning
	}
	if m.closed {
		return m.st, errors.New("the process is shutting down")
	}
	// The reindex outlives the request that starts it: its context is its
	// own, ended by Close.
	ctx, cancel := context.WithCancel(context.Background())
	m.busy, m.cancel = true, cancel
	done := make(chan struct{})
	m.done = done
	m.st = Status{Phase: PhaseBegin}
	t := m.cfg.NewTarget()
	go func() {
		defer close(done)
		defer cancel()
		st, _ := Run(ctx, t, Options{
			Snapshot: PostgresSnapshot(dsn, req.Tables),
			Counters: m.cfg.Counters,
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

// Handler serves AdminPath: POST (a JSON Request body, possibly empty)
// starts a reindex and answers 202 with its status, 409 if one is running;
// GET answers 200 with the status. Mount it only on an administrative
// listener (loopback by default), behind an admin key (cmd/rummage wraps it
// with api.Auth.Protect); ManagerConfig.Authorize, when set, is asked first
// too. It rebuilds the index.
func (m *Manager) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if m.cfg.Authorize != nil {
			if err := m.cfg.Authorize(r); err != nil {
				code := http.StatusUnauthorized
				var ae *AuthError
				if errors.As(err, &ae) && ae.Status != 0 {
					code = ae.Status
				}
				writeJSON(w, code, errorBody{err.Error()})
				return
			}
		}
		switch r.Method {
		case http.MethodGet:
			writeJSON(w, http.StatusOK, m.Status())
		case http.MethodPost:
			var req Request
			body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
			if err == nil && len(bytes.TrimSpace(body)) > 0 {
				dec := json.NewDecoder(bytes.NewReader(body))
				dec.DisallowUnknownFields() // database_url above all: the process snapshots its own
				err = dec.Decode(&req)
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
