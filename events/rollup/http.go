package rollup

import (
	"encoding/csv"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/rummage/rummage/api"
)

// Handlers answer the analytics routes from a Store.
type Handlers struct {
	Store *Store
	// Now is the clock (time.Now).
	Now func() time.Time
}

// Options mounts the analytics routes on the API (admin key).
func (h *Handlers) Options() []api.Option {
	return []api.Option{
		api.WithRoute(http.MethodGet, "/v1/analytics/searches", api.AccessAdmin, h.searches),
		api.WithRoute(http.MethodGet, "/v1/analytics/parties/:id", api.AccessAdmin, h.party),
		api.WithRoute(http.MethodGet, "/v1/analytics/drops", api.AccessAdmin, h.drops),
		api.WithRoute(http.MethodGet, "/v1/analytics/experiments/:name", api.AccessAdmin, h.experiment),
	}
}

// DefaultWindow is the window of a request without from.
const DefaultWindow = 24 * time.Hour

func bad(field, format string, a ...any) *api.Error {
	return &api.Error{Status: http.StatusBadRequest, Code: "invalid_value", Field: field, Message: fmt.Sprintf(format, a...)}
}

// params reads the common parameters: from, to, format, and the extra
// names a route takes.
func (h *Handlers) params(c echo.Context, extra ...string) (url.Values, Window, bool, error) {
	v, err := url.ParseQuery(c.Request().URL.RawQuery)
	if err != nil {
		return nil, Window{}, false, &api.Error{Status: http.StatusBadRequest, Code: api.CodeMalformedQuery, Message: "the query string is not valid URL encoding"}
	}
	for name := range v {
		known := name == "from" || name == "to" || name == "format"
		for _, e := range extra {
			known = known || name == e
		}
		if !known {
			return nil, Window{}, false, &api.Error{Status: http.StatusBadRequest, Code: "unknown_parameter", Field: name,
				Message: fmt.Sprintf("unknown parameter %q; use from, to, format%s", name, strings.Join(append([]string{""}, extra...), ", "))}
		}
	}
	now := time.Now
	if h.Now != nil {
		now = h.Now
	}
	w := Window{To: now().UTC()}
	if s := v.Get("to"); s != "" {
		if w.To, err = time.Parse(time.RFC3339, s); err != nil {
			return nil, Window{}, false, bad("to", "to %q: want an RFC 3339 instant", s)
		}
	}
	w.From = w.To.Add(-DefaultWindow)
	if s := v.Get("from"); s != "" {
		if w.From, err = time.Parse(time.RFC3339, s); err != nil {
			return nil, Window{}, false, bad("from", "from %q: want an RFC 3339 instant", s)
		}
	}
	if !w.From.Before(w.To) {
		return nil, Window{}, false, bad("from", "from must be before to")
	}
	asCSV := false
	switch f := v.Get("format"); f {
	case "csv":
		asCSV = true
	case "json":
	case "":
		asCSV = strings.Contains(c.Request().Header.Get(echo.HeaderAccept), "text/csv")
	default:
		return nil, Window{}, false, bad("format", "format %q: want json or csv", f)
	}
	return v, w, asCSV, nil
}

func writeCSV(c echo.Context, name string, header []string, rows [][]string) error {
	resp := c.Response()
	resp.Header().Set(echo.HeaderContentType, "text/csv; charset=utf-8")
	resp.Header().Set("Content-Disposition", `attachment; filename="`+name+`.csv"`)
	resp.WriteHeader(http.StatusOK)
	w := csv.NewWriter(resp)
	_ = w.Write(header)
	_ = w.WriteAll(rows)
	return w.Error()
}

func i64(n int64) string    { return strconv.FormatInt(n, 10) }
func f64(x float64) string  { return strconv.FormatFloat(x, 'f', 4, 64) }
func ts(t time.Time) string { return t.UTC().Format(time.RFC3339) }

type searchesAnswer struct {
	From    time.Time    `json:"from"`
	To      time.Time    `json:"to"`
	Queries []QueryStats `json:"queries"`
}

func (h *Handlers) searches(c echo.Context) error {
	v, w, asCSV, err := h.params(c, "limit", "zero_results")
	if err != nil {
		return err
	}
	limit := 100
	if s := v.Get("limit"); s != "" {
		if limit, err = strconv.Atoi(s); err != nil || limit < 1 || limit > 1000 {
			return bad("limit", "limit %q: want 1..1000", s)
		}
	}
	zero := false
	switch s := v.Get("zero_results"); s {
	case "", "false":
	case "true":
		zero = true
	default:
		return bad("zero_results", "zero_results %q: want true or false", s)
	}
	qs, err := h.Store.Searches(c.Request().Context(), w, limit, zero)
	if err != nil {
		return err
	}
	if !asCSV {
		return c.JSON(http.StatusOK, searchesAnswer{From: w.From, To: w.To, Queries: qs})
	}
	rows := make([][]string, len(qs))
	for i, q := range qs {
		rows[i] = []string{q.Query, i64(q.Searches), i64(q.ZeroResults), i64(q.Clicks), f64(q.CTR), i64(q.AddToCarts), i64(q.Purchases)}
	}
	return writeCSV(c, "searches", []string{"query", "searches", "zero_results", "clicks", "ctr", "add_to_carts", "purchases"}, rows)
}

func (h *Handlers) party(c echo.Context) error {
	_, w, asCSV, err := h.params(c)
	if err != nil {
		return err
	}
	p, err := h.Store.Party(c.Request().Context(), c.Param("id"), w)
	if err != nil {
		return err
	}
	if !asCSV {
		return c.JSON(http.StatusOK, p)
	}
	rows := make([][]string, len(p.Minutes))
	for i, m := range p.Minutes {
		rows[i] = []string{ts(m.Minute), i64(m.Viewers), i64(m.Views), i64(m.Impressions), i64(m.Clicks), i64(m.Shares), i64(m.ShareEvents), i64(m.AddToCarts), i64(m.Purchases)}
	}
	return writeCSV(c, "party", []string{"minute", "viewers", "views", "impressions", "clicks", "shares", "share_events", "add_to_carts", "purchases"}, rows)
}

type dropsAnswer struct {
	From  time.Time   `json:"from"`
	To    time.Time   `json:"to"`
	Drops []DropStats `json:"drops"`
}

func (h *Handlers) drops(c echo.Context) error {
	_, w, asCSV, err := h.params(c)
	if err != nil {
		return err
	}
	ds, err := h.Store.Drops(c.Request().Context(), w)
	if err != nil {
		return err
	}
	if !asCSV {
		return c.JSON(http.StatusOK, dropsAnswer{From: w.From, To: w.To, Drops: ds})
	}
	var rows [][]string
	for _, d := range ds {
		sell := ""
		if d.SoldOutSec != nil {
			sell = f64(*d.SoldOutSec)
		}
		for _, s := range d.PerSecond {
			rows = append(rows, []string{ts(d.At), i64(d.Listings), i64(d.Sold), sell, ts(s.Second), i64(s.Arrivals)})
		}
		if len(d.PerSecond) == 0 {
			rows = append(rows, []string{ts(d.At), i64(d.Listings), i64(d.Sold), sell, "", "0"})
		}
	}
	return writeCSV(c, "drops", []string{"at", "listings", "sold", "time_to_sell_out_s", "second", "arrivals"}, rows)
}

func (h *Handlers) experiment(c echo.Context) error {
	_, w, asCSV, err := h.params(c)
	if err != nil {
		return err
	}
	x, err := h.Store.Experiment(c.Request().Context(), c.Param("name"), w)
	if err != nil {
		return err
	}
	if !asCSV {
		return c.JSON(http.StatusOK, x)
	}
	rows := make([][]string, len(x.Variants))
	for i, v := range x.Variants {
		rows[i] = []string{v.Variant, strconv.Itoa(v.Users), i64(v.Impressions), i64(v.Clicks), i64(v.Purchases), f64(v.CTR), f64(v.CTRCI.Low), f64(v.CTRCI.High),
			f64(v.PurchasesPerUser), f64(v.PurchasesPerUserCI.Low), f64(v.PurchasesPerUserCI.High)}
	}
	return writeCSV(c, "experiment", []string{"variant", "users", "impressions", "clicks", "purchases", "ctr", "ctr_low", "ctr_high",
		"purchases_per_user", "purchases_per_user_low", "purchases_per_user_high"}, rows)
}
