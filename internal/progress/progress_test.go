package progress

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func newTest(total int64) (*Reporter, *bytes.Buffer, *time.Time) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}}))
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	r := New(log, "indexing", total)
	r.now = func() time.Time { return clock }
	r.start, r.last = clock, clock
	return r, &buf, &clock
}

func TestReportEveryInterval(t *testing.T) {
	r, buf, clock := newTest(1000)
	r.Report(10)
	if buf.Len() != 0 {
		t.Fatalf("logged before the interval: %s", buf)
	}
	*clock = clock.Add(DefaultInterval)
	r.Report(200, "phase", "load")
	*clock = clock.Add(time.Second)
	r.Report(300) // within the interval of the last line
	*clock = clock.Add(2 * time.Second)
	r.Done(1000)
	want := "level=INFO msg=indexing done=200 total=1000 percent=20 per_second=100 eta=8s phase=load\n" +
		"level=INFO msg=indexing done=1000 total=1000 percent=100 per_second=200 took=5s\n"
	if buf.String() != want {
		t.Errorf("got\n%s\nwant\n%s", buf, want)
	}
}

func TestUnknownTotal(t *testing.T) {
	r, buf, clock := newTest(0)
	*clock = clock.Add(4 * time.Second)
	r.Report(400)
	if got := buf.String(); got != "level=INFO msg=indexing done=400 per_second=100\n" {
		t.Errorf("got %q", got)
	}
	buf.Reset()
	r.SetTotal(800)
	*clock = clock.Add(4 * time.Second)
	r.Report(600)
	if got := buf.String(); !strings.Contains(got, "total=800 percent=75") {
		t.Errorf("after SetTotal: %q", got)
	}
}

func TestNilLogsNothing(t *testing.T) {
	var r *Reporter
	r.Report(1)
	r.SetTotal(2)
	r.Done(3)
	New(nil, "x", 10).Done(10)
}
