package benchkit

import (
	"context"
	"time"
)

// Due is when arrival k of an open-loop run at rate per second from start
// is due: start + k/rate.
func Due(start time.Time, rate float64, k int) time.Time {
	return start.Add(time.Duration(float64(k) / rate * float64(time.Second)))
}

// Offer sends 0, 1, …, n-1 on the returned channel, each at its Due
// instant, and closes it after the last or when ctx ends. It is the open
// loop of a rate sweep: the channel holds every arrival, so busy workers
// make arrivals late (their due instants stay the schedule's) instead of
// lowering the offered rate.
func Offer(ctx context.Context, start time.Time, rate float64, n int) <-chan int {
	due := make(chan int, n)
	go func() {
		defer close(due)
		for k := 0; k < n; {
			now := time.Now()
			for ; k < n && !Due(start, rate, k).After(now); k++ {
				due <- k
			}
			if k < n {
				select {
				case <-ctx.Done():
					return
				case <-time.After(time.Until(Due(start, rate, k))):
				}
			}
		}
	}()
	return due
}
