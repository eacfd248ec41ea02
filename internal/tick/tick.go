package tick

import (
	"context"
	"time"
)

// Every calls do every interval, and at once on each receive from wake
// (nil: never woken), until ctx is done. do runs on the caller's
// goroutine, so calls never overlap.
func Every(ctx context.Context, interval time.Duration, wake <-chan struct{}, do func()) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-wake:
		}
		do()
	}
}
