package memory

import (
	"context"
	"time"

	"github.com/rummage/rummage/signals"
)

// Forget implements signals.Forgetter: the user's live follows, blocks,
// likes and shares become deletes at their versions, applied through
// Apply (logged, durable) with the positions unchanged.
func (s *Store) Forget(ctx context.Context, user string) (int, error) {
	changes, err := read(s, func(st *state) []signals.Change { return st.userRows(user) })
	if err != nil || len(changes) == 0 {
		return 0, err
	}
	pos, err := s.Positions(ctx)
	if err != nil {
		return 0, err
	}
	if err := s.Apply(ctx, signals.Batch{Changes: changes, Positions: pos}); err != nil {
		return 0, err
	}
	return len(changes), nil
}

// userRows are the deletes of user's live rows, at their versions.
func (s *state) userRows(user string) []signals.Change {
	u, ok := s.names[user]
	if !ok || user == "" {
		return nil
	}
	var out []signals.Change
	for _, e := range s.follows[u] {
		if !e.dead {
			out = append(out, signals.Change{Version: e.ver, Delete: true, Follow: &signals.Follow{Follower: user, Seller: s.strs[e.to], At: time.UnixMilli(e.at)}})
		}
	}
	for _, e := range s.blocks[u] {
		if !e.dead {
			out = append(out, signals.Change{Version: e.ver, Delete: true, Block: &signals.Block{User: user, Seller: s.strs[e.to], At: time.UnixMilli(e.at)}})
		}
	}
	for _, e := range s.likeline[u] {
		if ev := s.ev[e]; !s.isDead(e) && s.partyOf(e) == likeParty {
			out = append(out, signals.Change{Version: s.verOf(e), Delete: true, Like: &signals.Like{User: user, Listing: s.strs[ev.lst], At: time.UnixMilli(ev.at)}})
		}
	}
	for blk, b := range s.shareIx {
		for i, e := range b {
			if e == 0 || s.isDead(e) || s.ev[e].user != u {
				continue
			}
			ev := s.ev[e]
			sh := &signals.Share{ID: blk<<blockBits | int64(i), User: user, Listing: s.strs[ev.lst], At: time.UnixMilli(ev.at)}
			if p := s.partyOf(e); p != 0 {
				sh.Party = s.strs[p]
			}
			out = append(out, signals.Change{Version: s.verOf(e), Delete: true, Share: sh})
		}
	}
	return out
}
