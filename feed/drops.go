package feed

import (
	"context"
	"errors"
	"time"

	"github.com/rummage/rummage/query"
)

// ErrNoDrops is a backend that cannot list drops.
var ErrNoDrops = errors.New("feed: the backend does not list drops")

// Drops are the drops to come, with the server's clock so that countdowns
// agree.
type Drops struct {
	ServerTime time.Time           `json:"server_time"`
	Drops      []query.DropInstant `json:"drops"`
}

// Drops lists the upcoming drop instants of the next DropsHorizon, soonest
// first, with their counts and brands — never a listing's id or title.
// Suspended sellers' drops are left out.
func (f *Feeds) Drops(ctx context.Context, now time.Time) (*Drops, error) {
	dl, ok := f.r.(query.DropLister)
	if !ok {
		return nil, ErrNoDrops
	}
	if now.IsZero() {
		now = f.cursors().Now()
	}
	sus, err := f.suspendedSellers(ctx)
	if err != nil {
		return nil, err
	}
	ds, err := dl.Drops(ctx, &query.DropsRequest{From: now, To: now.Add(f.cfg.DropsHorizon), ExcludeSellers: sus})
	if err != nil {
		return nil, err
	}
	if ds == nil {
		ds = []query.DropInstant{}
	}
	return &Drops{ServerTime: now, Drops: ds}, nil
}
