package spikebench

import (
	"math"
	"strconv"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

func parse(t *testing.T, text string) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	return mfs
}

// TestServerSide reads the run's quantiles from two scrapes: only what
// was added between them counts, /healthz apart from the /v1 reads
// answered 200/304, interpolated inside the bucket.
func TestServerSide(t *testing.T) {
	const head = "# TYPE rummage_http_request_duration_seconds histogram\n# TYPE go_sched_latencies_seconds histogram\n# TYPE rummage_sched_shed_total counter\n"
	series := func(route, status string, le1, le10, inf float64) string {
		l := `route="` + route + `",status="` + status + `"`
		return "rummage_http_request_duration_seconds_bucket{" + l + `,le="0.001"} ` + ftoa(le1) + "\n" +
			"rummage_http_request_duration_seconds_bucket{" + l + `,le="0.01"} ` + ftoa(le10) + "\n" +
			"rummage_http_request_duration_seconds_bucket{" + l + `,le="+Inf"} ` + ftoa(inf) + "\n" +
			"rummage_http_request_duration_seconds_count{" + l + "} " + ftoa(inf) + "\n" +
			"rummage_http_request_duration_seconds_sum{" + l + "} 0\n"
	}
	sched := func(le1, inf float64) string {
		return `go_sched_latencies_seconds_bucket{le="0.001"} ` + ftoa(le1) + "\n" + `go_sched_latencies_seconds_bucket{le="+Inf"} ` + ftoa(inf) + "\n" +
			"go_sched_latencies_seconds_count " + ftoa(inf) + "\ngo_sched_latencies_seconds_sum 0\n"
	}
	before := parse(t, head+series("/healthz", "200", 1000, 1000, 1000)+series("/v1/search", "200", 50, 50, 50)+series("/v1/search", "503", 0, 0, 0)+sched(10, 10)+"rummage_sched_shed_total{page=\"first\"} 5\n")
	// Added: /healthz 100 under 1 ms; /v1 200s: 50 under 1 ms, 50 in (1, 10] ms; 900 503s in (1, 10].
	after := parse(t, head+series("/healthz", "200", 1100, 1100, 1100)+series("/v1/search", "200", 100, 150, 150)+series("/v1/search", "503", 0, 900, 900)+sched(110, 110)+"rummage_sched_shed_total{page=\"first\"} 905\n")
	ss := serverSide(before, after)
	if math.Abs(ss.HealthzP99MS-0.99) > 1e-9 {
		t.Errorf("/healthz p99 %.4f ms, want 0.99 (interpolated in [0, 1] ms)", ss.HealthzP99MS)
	}
	// Rank 99 of 100: 49 into the second bucket's 50 → 1 + 9·49/50 ms.
	if want := 1 + 9*49.0/50; math.Abs(ss.AdmittedP99MS-want) > 1e-9 {
		t.Errorf("admitted p99 %.4f ms, want %.4f (the 503s do not count)", ss.AdmittedP99MS, want)
	}
	if math.Abs(ss.SchedP99MS-0.99) > 1e-9 {
		t.Errorf("scheduler p99 %.4f ms, want 0.99", ss.SchedP99MS)
	}
	if ss.Shed != 900 {
		t.Errorf("shed %.0f, want 900", ss.Shed)
	}
	if q := histQuantile(before[metricSched], before[metricSched], func(*dto.Metric) bool { return true }, 0.99); !math.IsNaN(q) {
		t.Errorf("no observation added: %v, want NaN", q)
	}
}

func ftoa(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }
