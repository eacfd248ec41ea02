package main

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rummage/rummage/events"
	"github.com/rummage/rummage/events/rollup"
	"github.com/rummage/rummage/fixtures"
	"github.com/rummage/rummage/internal/testpg"
)

// TestAliasesSuggest: zero-result searches in the rollups come out as
// alias<TAB>brand lines for the real brands they are close to; a query
// that found nothing too rarely, or close to no brand, does not.
func TestAliasesSuggest(t *testing.T) {
	db := testpg.New(t, testpg.Options{Setup: fixtures.Migrate})
	ctx := context.Background()
	st, err := rollup.OpenStore(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Now().UTC()
	var evs []events.Event
	for q, n := range map[string]int{"addidas": 6, "lululemn": 4, "qwxz": 9, "adidsa": 1} {
		for i := range n {
			evs = append(evs, events.Event{Type: events.Impression, Surface: "search", QueryID: fmt.Sprintf("%s%d", q, i), Query: q, At: now})
		}
	}
	if _, err := st.Apply(ctx, "t", evs, map[int]int64{0: 1}); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := aliasesSuggest(ctx, []string{"--database-url", db}, &out); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, want := range []string{"\naddidas\tadidas\n", "\nlululemn\tlululemon\n"} {
		if !strings.Contains(strings.ToLower(got), want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "qwxz") || strings.Contains(got, "adidsa") {
		t.Errorf("a query close to no brand, or too rare, was proposed:\n%s", got)
	}
	if !strings.HasPrefix(got, "# 6 zero-result searches") {
		t.Errorf("the most frequent first, after its evidence:\n%s", got)
	}
}
