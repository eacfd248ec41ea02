package spikebench

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// ServerSide is what the service's own /metrics says of the overload run:
// the load tool shares a core with its own queue, so its latencies grow
// with its lag; these do not.
type ServerSide struct {
	// HealthzP99MS and AdmittedP99MS are from the request histogram
	// (handler start to answer): /healthz, and the /v1 reads answered
	// 200/304. SchedP99MS is the Go scheduler's wait (runnable to
	// running), which every request pays before its handler runs.
	HealthzP99MS  float64 `json:"healthz_p99_ms"`
	AdmittedP99MS float64 `json:"admitted_p99_ms"`
	SchedP99MS    float64 `json:"sched_p99_ms"`
	// Shed counts the 503s of the scheduling shed, the front door and
	// admission.
	Shed float64 `json:"shed"`
}

// Metric names read from the service.
const (
	metricRequests = "rummage_http_request_duration_seconds"
	metricSched    = "go_sched_latencies_seconds"
)

// shedMetrics are the counters of shed requests.
var shedMetrics = []string{"rummage_sched_shed_total", "rummage_frontdoor_shed_total", "rummage_admission_shed_total"}

// scrape reads the service's /metrics.
func scrape(ctx context.Context, base string) (map[string]*dto.MetricFamily, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics: %d", resp.StatusCode)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	return p.TextToMetricFamilies(resp.Body)
}

// serverSide compares two scrapes, before and after the run.
func serverSide(before, after map[string]*dto.MetricFamily) *ServerSide {
	label := func(m *dto.Metric, name string) string {
		for _, l := range m.GetLabel() {
			if l.GetName() == name {
				return l.GetValue()
			}
		}
		return ""
	}
	healthz := func(m *dto.Metric) bool { return label(m, "route") == "/healthz" }
	admitted := func(m *dto.Metric) bool {
		s := label(m, "status")
		return strings.HasPrefix(label(m, "route"), "/v1/") && (s == "200" || s == "304")
	}
	all := func(*dto.Metric) bool { return true }
	ss := &ServerSide{
		HealthzP99MS:  1000 * histQuantile(before[metricRequests], after[metricRequests], healthz, 0.99),
		AdmittedP99MS: 1000 * histQuantile(before[metricRequests], after[metricRequests], admitted, 0.99),
		SchedP99MS:    1000 * histQuantile(before[metricSched], after[metricSched], all, 0.99),
	}
	for _, name := range shedMetrics {
		ss.Shed += counterSum(after[name]) - counterSum(before[name])
	}
	return ss
}

func counterSum(mf *dto.MetricFamily) float64 {
	var v float64
	for _, m := range mf.GetMetric() {
		v += m.GetCounter().GetValue()
	}
	return v
}

// histQuantile is the q-quantile of the observations added between two
// scrapes of a histogram, summed over the series keep selects, linearly
// interpolated inside its bucket as PromQL's histogram_quantile does (NaN
// without observations).
func histQuantile(before, after *dto.MetricFamily, keep func(*dto.Metric) bool, q float64) float64 {
	cum := func(mf *dto.MetricFamily) map[float64]float64 {
		out := map[float64]float64{}
		for _, m := range mf.GetMetric() {
			if !keep(m) || m.GetHistogram() == nil {
				continue
			}
			for _, b := range m.GetHistogram().GetBucket() {
				if !math.IsInf(b.GetUpperBound(), 1) { // the sample count is that bucket
					out[b.GetUpperBound()] += float64(b.GetCumulativeCount())
				}
			}
			out[math.Inf(1)] += float64(m.GetHistogram().GetSampleCount())
		}
		return out
	}
	a, b := cum(after), cum(before)
	bounds := make([]float64, 0, len(a))
	for ub := range a {
		bounds = append(bounds, ub)
	}
	slices.Sort(bounds)
	if len(bounds) == 0 {
		return math.NaN()
	}
	total := a[math.Inf(1)] - b[math.Inf(1)]
	if total <= 0 {
		return math.NaN()
	}
	rank := q * total
	prevUB, prevCum := 0.0, 0.0
	for _, ub := range bounds {
		c := a[ub] - b[ub]
		if c >= rank {
			if math.IsInf(ub, 1) {
				return prevUB
			}
			if c == prevCum {
				return ub
			}
			return prevUB + (ub-prevUB)*(rank-prevCum)/(c-prevCum)
		}
		prevUB, prevCum = ub, c
	}
	return prevUB
}
