package api

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/rummage/rummage/feed"
	"github.com/rummage/rummage/internal/metric"
)

// schedule answers GET /v1/schedule: the party starts and drops to come,
// for autoscalers that pre-scale before each (deploy/k8s).
func (s *Server) schedule(c echo.Context) error {
	f, err := s.paramlessFeeds(c, "/v1/schedule")
	if err != nil {
		return err
	}
	sch, err := f.Schedule(c.Request().Context(), time.Time{})
	if err != nil {
		return fmt.Errorf("schedule: %w", err)
	}
	return c.JSON(http.StatusOK, sch)
}

// nextEventDesc is rummage_next_event_seconds{kind}.
var nextEventDesc = prometheus.NewDesc(metric.Namespace+"_next_event_seconds",
	"Seconds until the next scheduled event of the kind (party: a party starts; drop: listings become visible), read from the schedule at scrape; absent when none is scheduled within the drops horizon.",
	[]string{"kind"}, nil)

// scheduleCollector exports the time to the next event of each kind.
type scheduleCollector struct{ s *Server }

func (scheduleCollector) Describe(ch chan<- *prometheus.Desc) { ch <- nextEventDesc }

func (sc scheduleCollector) Collect(ch chan<- prometheus.Metric) {
	f, err := sc.s.feeds()
	if err != nil {
		return // no social state or still loading: nothing scheduled
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	sch, err := f.Schedule(ctx, time.Time{})
	if err != nil {
		sc.s.log.Warn("schedule for /metrics", "err", err)
		return
	}
	for _, kind := range []string{feed.EventParty, feed.EventDrop} {
		if at, ok := sch.Next()[kind]; ok {
			ch <- prometheus.MustNewConstMetric(nextEventDesc, prometheus.GaugeValue, at.Sub(sch.ServerTime).Seconds(), kind)
		}
	}
}
