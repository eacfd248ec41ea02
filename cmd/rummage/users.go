package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/rummage/rummage/events"
	"github.com/rummage/rummage/events/rollup"
	"github.com/rummage/rummage/serve/cache"
	"github.com/rummage/rummage/signals"
)

const usersHelp = `Commands:
  forget U  remove what Rummage holds of user U: their follows, likes,
            shares and blocks in the signals store, their affinity profile,
            their cached per-user answers and the rollup rows of their
            pseudonym (the per-user experiment rows: an experiment
            assignment is a hash of U, stored nowhere else). It asks the
            process that holds them (POST /v1/users/U/forget on the API of
            rummage dev, or rummage serve --events-brokers) with an admin
            key, and prints how many records each part removed.

What it cannot remove (docs/privacy.md):
  - events already in the events topic: Kafka's log is append-only; they
    carry U's pseudonym, not U's id, and go with the topic's retention
    (7 days). A consumer reading the topic again from an earlier offset
    relearns them: forget U again after such a rebuild.
  - events in flight: accepted before the call, consumed after it (about
    a second); run it once the consumers' lag is 0, or again later.
  - aggregate rollups (per-query and per-party counts, drop arrivals, the
    party viewer sketches): sums that hold no user; they go with the rollup
    retention (90 days).
  - a CDN's cached copies: a CDN holds anonymous answers only (per-user
    answers are private, no-store), unless the front end lets it cache
    user= requests; those end with their s-maxage.
  - other API replicas' caches: U's per-user entries there end with their
    lifetime (60 s at most).
  - the marketplace's own tables: the signals store is their replica; the
    marketplace deletes U's rows there too, or a re-snapshot brings them
    back.
  - request logs: debug-level request logs carry the URI, user= included.`

func runUsers(ctx context.Context, args []string) error {
	return oneSubcommand(ctx, args, "users forget USER [flags]", usersHelp, usersForget)
}

func usersForget(ctx context.Context, args []string, w io.Writer) error {
	fs := newFlags("users forget", "USER [flags]", usersHelp)
	api := fs.String("api-url", "http://127.0.0.1:8080", "base `URL` of the API that holds the user's state")
	key := fs.String("key", os.Getenv("RUMMAGE_ADMIN_KEY"), "an admin API `key` (default $RUMMAGE_ADMIN_KEY)")
	user, err := parseFlagsAroundArg(fs, args)
	if err != nil {
		return err
	}
	if user == "" || *key == "" {
		fmt.Fprintln(fs.Output(), "a user and --key (or $RUMMAGE_ADMIN_KEY) are required")
		fs.Usage()
		return errUsage
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(*api, "/")+"/v1/users/"+url.PathEscape(user)+"/forget", nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+*key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("forget %s: %w", user, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("forget %s: %s: %s", user, resp.Status, strings.TrimSpace(string(body)))
	}
	var out struct {
		Forgotten map[string]int `json:"forgotten"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		return fmt.Errorf("forget %s: %w", user, err)
	}
	fmt.Fprintf(w, "forgot %s:", user)
	for _, part := range []string{"signals", "cache", "rollups", "personalization"} {
		if n, ok := out.Forgotten[part]; ok {
			fmt.Fprintf(w, " %s %d", part, n)
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, forgetKept)
	return nil
}

// forgetKept is what users forget says it did not remove (its help's
// limits, in one line).
const forgetKept = "kept: the events topic's pseudonymous events until its retention, aggregate rollups, other replicas' and CDNs' cached copies until they expire (rummage help users)"

// forgetting is what a process forgets of a user: its signals store, its
// response cache, its rollups (each may be nil), and more parts (the
// personalization's profile and assignment) by name.
func forgetting(p *events.Pseudonymizer, store signals.Store, c *cache.Cache, rollups *rollup.Store, more map[string]events.Forgetter) *events.Forgetting {
	f := &events.Forgetting{Pseudonymizer: p, Parts: map[string]events.Forgetter{}}
	if sf, ok := store.(signals.Forgetter); ok {
		f.Parts["signals"] = events.ForgetFunc(func(ctx context.Context, user, _ string) (int, error) { return sf.Forget(ctx, user) })
	}
	if ps, ok := store.(interface {
		ForgetProfile(ctx context.Context, user string) error
	}); ok {
		// Profiles are kept by pseudonym (signals/profile.go). An
		// experiment assignment is a hash of the user, stored nowhere:
		// there is nothing of it to forget.
		f.Parts["personalization"] = events.ForgetFunc(func(ctx context.Context, _, pseudonym string) (int, error) {
			if err := ps.ForgetProfile(ctx, pseudonym); err != nil {
				return 0, err
			}
			return 1, nil
		})
	}
	if c != nil {
		f.Parts["cache"] = events.ForgetFunc(func(_ context.Context, user, _ string) (int, error) { return c.Forget(user), nil })
	}
	if rollups != nil {
		f.Parts["rollups"] = events.ForgetFunc(func(ctx context.Context, _, pseudonym string) (int, error) {
			n, err := rollups.Forget(ctx, pseudonym)
			return int(n), err
		})
	}
	for name, part := range more {
		f.Parts[name] = part
	}
	return f
}
