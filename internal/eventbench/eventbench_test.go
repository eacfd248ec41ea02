package eventbench

import (
	"context"
	"testing"
	"time"
)

// TestRunSmall: a short run reports both scenarios with what it posted,
// each event acknowledged counted once.
func TestRunSmall(t *testing.T) {
	res, err := Run(context.Background(), Config{Batch: 10, Clients: 2, Duration: 200 * time.Millisecond, Partitions: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Scenarios) != 2 || res.Lag != nil {
		t.Fatalf("result %+v", res)
	}
	for _, s := range res.Scenarios {
		if s.Acked == 0 || s.Acked != int64(s.Requests.N)*10 || s.EventsPerSec <= 0 {
			t.Errorf("scenario %+v", s)
		}
	}
	if res.Ratio <= 0 {
		t.Errorf("ratio %v", res.Ratio)
	}
}
