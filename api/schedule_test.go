package api_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rummage/rummage/api/apitest"
	"github.com/rummage/rummage/feed"
	"github.com/rummage/rummage/feed/feedtest"
)

// TestSchedule: /v1/schedule lists the upcoming party (p2, not the live p1
// nor the ended p0) and the drop, soonest first, and /metrics exports the
// seconds to each kind's next event; both answers match the spec.
func TestSchedule(t *testing.T) {
	h := socialServer(t)
	c := apitest.NewClient(t, h, apitest.Shared().Search)
	r := c.Get(t, "/v1/schedule")
	if r.Status != 200 {
		t.Fatalf("/v1/schedule: %d %s", r.Status, r.Body)
	}
	var sch feed.Schedule
	r.Decode(t, &sch)
	if !sch.ServerTime.Equal(feedtest.Now) {
		t.Errorf("server_time %v, want %v", sch.ServerTime, feedtest.Now)
	}
	var got []string
	for _, e := range sch.Events {
		got = append(got, fmt.Sprintf("%s@%s:%s:%d", e.Kind, e.At.Sub(feedtest.Now), e.PartyID, e.Listings))
	}
	want := []string{"drop@1h0m0s::2", "party@6h0m0s:p2:0"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("events %v, want %v", got, want)
	}
	if e := sch.Events[1]; e.Name != "Denim Party" || e.EndsAt == nil || e.EndsAt.Sub(e.At) != 4*time.Hour {
		t.Errorf("party event %+v", e)
	}
	if r := c.Get(t, "/v1/schedule?from=now"); r.Status != 400 {
		t.Errorf("/v1/schedule?from=now: %d, want 400", r.Status)
	}

	m := c.Get(t, "/metrics")
	for _, line := range []string{
		`rummage_next_event_seconds{kind="drop"} 3600`,
		`rummage_next_event_seconds{kind="party"} 21600`,
	} {
		if !strings.Contains(string(m.Body), line+"\n") {
			t.Errorf("/metrics lacks %q", line)
		}
	}
}
