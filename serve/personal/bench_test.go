package personal

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/rummage/rummage/ranking"
)

// BenchmarkRerankMiss re-ranks a 100-hit window never seen before: the
// parse, the cost of a new window above retrieval. BenchmarkRerankSeen
// re-ranks windows that differ from one seen before by their cursor only
// (what two fills of one query differ by).
func BenchmarkRerank(b *testing.B) {
	hits := make([]map[string]any, 100)
	for i := range hits {
		hits[i] = map[string]any{"id": fmt.Sprintf("l%09d", i), "seller_id": "s0001234", "title": "Madewell High Rise Skinny Jeans Dark Wash Size 27",
			"description": strings.Repeat("Soft stretch denim, barely worn. ", 8), "brand": "Madewell", "category": []string{"Women", "Clothing", "Jeans", "Skinny"},
			"size": "27", "condition": "good", "price_cents": 4500, "colors": []string{"blue"}, "tags": []string{"casual"},
			"images": []map[string]any{{"url": "https://img.example/1/t.jpg", "width": 150, "height": 150}, {"url": "https://img.example/1/m.jpg", "width": 600, "height": 600}, {"url": "https://img.example/1/l.jpg", "width": 1200, "height": 1200}},
			"status": "available", "created_at": "2026-10-01T00:00:00Z", "updated_at": "2026-10-01T00:00:00Z", "like_count": 3, "share_count": 1}
	}
	prof := ranking.NewUserProfile(map[string]float64{"b:Madewell": 10, "z:27": 5})
	bodies := make([][]byte, 64)
	for i := range bodies {
		b, _ := json.Marshal(map[string]any{"total": 5000, "hits": hits, "facets": map[string]any{}, "next_cursor": fmt.Sprint("c", i)})
		bodies[i] = append([]byte(fmt.Sprintf(`{"query_id":"q%d",`, i)), b[1:]...) // as the cache splices it
	}
	b.Run("miss", func(b *testing.B) {
		b.SetBytes(int64(len(bodies[0])))
		for i := range b.N {
			parsed.mu.Lock()
			parsed.m, parsed.order = map[uint64]*window{}, nil
			parsed.mu.Unlock()
			if _, _, err := rerank(bodies[i%len(bodies)], prof, 50, 0, 24); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("seen", func(b *testing.B) {
		b.SetBytes(int64(len(bodies[0])))
		for i := range b.N {
			out, _, err := rerank(bodies[i%len(bodies)], prof, 50, 0, 24)
			if err != nil {
				b.Fatal(err)
			}
			if !strings.HasSuffix(string(out), `"next_cursor":"pz1.24"}`) {
				b.Fatalf("next_cursor: %s", out[len(out)-60:])
			}
		}
		if len(parsed.m) != 1 {
			b.Fatalf("%d windows parsed, want 1: they differ by their cursor and query id only", len(parsed.m))
		}
		// The last page of the window hands over to the window's own cursor.
		out, ids, _ := rerank(bodies[5], prof, 50, 96, 24)
		if !strings.HasSuffix(string(out), `"next_cursor":"c5"}`) || !strings.HasPrefix(string(out), `{"query_id":"q5",`) || len(ids) != 4 {
			b.Fatalf("the window's own cursor lost: %s", out[len(out)-60:])
		}
	})
}
