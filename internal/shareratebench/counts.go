package shareratebench

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// Counts is the check of every party's share_count against DESIGN.md's
// definition: the shares with its party_id inside its window (starts_at ≤
// created_at < ends_at), counted in SQL.
type Counts struct {
	Parties int         `json:"parties"`
	Differ  []CountDiff `json:"differ,omitempty"`
	OK      bool        `json:"ok"`
	// WaitedS is how long the check retried (counters may lag 5 s).
	WaitedS float64 `json:"waited_s"`
}

// CountDiff is a party whose API count differs from the SQL one.
type CountDiff struct {
	Party string `json:"party"`
	API   int    `json:"api"` // -1: the API did not answer it
	SQL   int    `json:"sql"`
}

// checkCounts waits for the pipeline to drain, then compares every
// party's share_count with SQL, retrying for up to 30 s while some
// differ.
func (b *bench) checkCounts(ctx context.Context) (Counts, error) {
	b.drain(ctx, 2*time.Minute)
	start := time.Now()
	for {
		c, err := b.compareCounts(ctx)
		if err != nil {
			return c, err
		}
		c.WaitedS = time.Since(start).Seconds()
		if c.OK || time.Since(start) > 30*time.Second || ctx.Err() != nil {
			b.cfg.Logf("share counts: %d parties, %d differ from SQL", c.Parties, len(c.Differ))
			return c, nil
		}
		time.Sleep(time.Second)
	}
}

func (b *bench) compareCounts(ctx context.Context) (Counts, error) {
	rows, err := b.svc.Pool.Query(ctx, `SELECT p.id, count(s.id) FROM parties p
		LEFT JOIN shares s ON s.party_id = p.id AND s.created_at >= p.starts_at AND s.created_at < p.ends_at
		GROUP BY p.id ORDER BY p.id`)
	if err != nil {
		return Counts{}, fmt.Errorf("shareratebench: party share counts: %w", err)
	}
	want := map[string]int{}
	var ids []string
	for rows.Next() {
		var id string
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			rows.Close()
			return Counts{}, err
		}
		want[id] = n
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return Counts{}, err
	}
	c := Counts{Parties: len(ids)}
	for _, id := range ids {
		got := -1
		st, _, body, err := b.svc.API.Get(ctx, "/v1/parties/"+url.PathEscape(id))
		if err == nil && st == http.StatusOK {
			var p struct {
				ShareCount *int `json:"share_count"`
			}
			if json.Unmarshal(body, &p) == nil && p.ShareCount != nil {
				got = *p.ShareCount
			}
		}
		if got != want[id] {
			c.Differ = append(c.Differ, CountDiff{Party: id, API: got, SQL: want[id]})
		}
	}
	c.OK = len(c.Differ) == 0 && c.Parties > 0
	return c, nil
}
