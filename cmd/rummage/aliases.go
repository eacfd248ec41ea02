package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/rummage/rummage/events/rollup"
	"github.com/rummage/rummage/events/suggest"
	"github.com/rummage/rummage/fixtures"
	"github.com/rummage/rummage/query"
)

const aliasesHelp = `Commands:
  suggest   print candidate brand aliases from the frequent zero-result
            queries of the analytics (alias<TAB>brand lines, each after a
            comment with its evidence), for a person to accept into the
            alias file (--aliases of serve and dev).`

func runAliases(ctx context.Context, args []string) error {
	return oneSubcommand(ctx, args, "aliases suggest [flags]", aliasesHelp, aliasesSuggest)
}

func aliasesSuggest(ctx context.Context, args []string, w io.Writer) error {
	fs := newFlags("aliases suggest", "[flags]", "Candidate alias<TAB>brand lines for frequent zero-result queries close to a real brand\n(edit distance, a prefix or the initials of the brand, or how it sounds).")
	dbURL := fs.String("database-url", os.Getenv("DATABASE_URL"), "Postgres `URL` (default $DATABASE_URL)")
	af := addAnalyticsFlags(fs)
	since := fs.Duration("since", 7*24*time.Hour, "look at the zero-result queries of this last `duration`")
	minCount := fs.Int64("min-searches", 3, "propose only queries that found nothing at least `N` times")
	limit := fs.Int("limit", 1000, "read at most `N` zero-result queries, most frequent first")
	aliasFile := fs.String("aliases", "", "the alias `file` in use (default: the shipped one); its aliases are not proposed again")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	url := af.url(*dbURL)
	if err := requireDatabaseURL(fs, url); err != nil {
		return err
	}
	existing, err := query.LoadAliases(*aliasFile, fixtures.BrandAliases())
	if err != nil {
		return err
	}
	refs, err := fixtures.RefBrands()
	if err != nil {
		return err
	}
	brands := make([]string, len(refs))
	for i, r := range refs {
		brands[i] = r.Name
	}
	st, err := rollup.OpenStore(ctx, url)
	if err != nil {
		return err
	}
	defer st.Close()
	now := time.Now().UTC()
	qs, err := st.Searches(ctx, rollup.Window{From: now.Add(-*since), To: now.Add(time.Minute)}, *limit, true)
	if err != nil {
		return err
	}
	var zero []suggest.Query
	for _, q := range qs {
		if q.ZeroResults >= *minCount {
			zero = append(zero, suggest.Query{Text: q.Query, Count: q.ZeroResults})
		}
	}
	for _, s := range suggest.Suggest(zero, brands, existing) {
		fmt.Fprintf(w, "# %d zero-result searches; %s (score %.2f)\n%s\t%s\n", s.Count, s.Why, s.Score, s.Alias, s.Brand)
	}
	return nil
}
