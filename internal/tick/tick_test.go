package tick

import (
	"context"
	"testing"
	"time"
)

// TestEveryWakesAndStops: a wake calls do at once (the interval is far
// off), and Every returns once ctx is done.
func TestEveryWakesAndStops(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	wake := make(chan struct{})
	calls := make(chan struct{})
	returned := make(chan struct{})
	go func() {
		Every(ctx, time.Hour, wake, func() { calls <- struct{}{} })
		close(returned)
	}()
	for range 2 {
		wake <- struct{}{}
		<-calls
	}
	cancel()
	<-returned
}
