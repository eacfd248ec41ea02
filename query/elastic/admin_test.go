package elastic

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
)

// TestEnsureIndexEmptyCluster: on a cluster without indices of the prefix,
// EnsureIndex installs the template and creates v000001 with both aliases.
func TestEnsureIndexEmptyCluster(t *testing.T) {
	f := newFake(t, map[string][]reply{
		"GET /rummage-listings-v*/_alias":       {{200, `{}`}},
		"PUT /_index_template/rummage-listings": {{200, "acknowledged.json"}},
		"PUT /rummage-listings-v000001":         {{200, "create_index.json"}},
	})
	b := f.backend(t, nil)
	if err := b.EnsureIndex(context.Background()); err != nil {
		t.Fatal(err)
	}
	reqs := f.requests()
	if len(reqs) != 3 {
		t.Fatalf("%d requests: %+v", len(reqs), reqs)
	}
	goldenRequest(t, "requests/index_template.json", reqs[1])
	goldenRequest(t, "requests/create_first_index.json", reqs[2])
}

func TestEnsureIndexStates(t *testing.T) {
	cases := []struct {
		name    string
		aliases string
		create  reply
		want    string // "" for success
		nreq    int
	}{
		{"aliases in place", "aliases_two.json", reply{}, "", 1},
		{"indices without aliases", `{"rummage-listings-v000003": {"aliases": {}}}`, reply{}, "finish the reindex", 1},
		{"lost a creation race", `{}`, reply{400, "already_exists.json"}, "", 3},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFake(t, map[string][]reply{
				"GET /rummage-listings-v*/_alias":       {{200, c.aliases}},
				"PUT /_index_template/rummage-listings": {{200, "acknowledged.json"}},
				"PUT /rummage-listings-v000001":         {c.create},
			})
			err := f.backend(t, nil).EnsureIndex(context.Background())
			if (c.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.want)) {
				t.Errorf("err = %v, want %q", err, c.want)
			}
			if n := len(f.requests()); n != c.nreq {
				t.Errorf("%d requests, want %d", n, c.nreq)
			}
		})
	}
}

// TestReindexSequence walks the documented sequence on canned answers:
// CreateIndex makes v000003 (one above the newest), SwapAliases moves both
// aliases in one _aliases request, DeleteIndex removes the old index and
// refuses one still behind an alias.
func TestReindexSequence(t *testing.T) {
	f := newFake(t, map[string][]reply{
		"PUT /_index_template/rummage-listings": {{200, "acknowledged.json"}},
		"GET /rummage-listings-v*/_alias": {
			{200, "aliases_two.json"}, // CreateIndex
			{200, `{"rummage-listings-v000001": {"aliases": {"rummage-listings": {}, "rummage-listings-write": {"is_write_index": true}}},
			        "rummage-listings-v000002": {"aliases": {}}, "rummage-listings-v000003": {"aliases": {}}}`}, // SwapAliases
			{200, `{"rummage-listings-v000001": {"aliases": {}}, "rummage-listings-v000002": {"aliases": {}},
			        "rummage-listings-v000003": {"aliases": {"rummage-listings": {}, "rummage-listings-write": {"is_write_index": true}}}}`}, // deletes
		},
		"PUT /rummage-listings-v000003":    {{200, `{"acknowledged": true, "shards_acknowledged": true, "index": "rummage-listings-v000003"}`}},
		"POST /_aliases":                   {{200, "acknowledged.json"}},
		"DELETE /rummage-listings-v000001": {{200, "acknowledged.json"}},
	})
	b := f.backend(t, nil)
	ctx := context.Background()
	name, err := b.CreateIndex(ctx)
	if err != nil || name != "rummage-listings-v000003" {
		t.Fatalf("CreateIndex = %q, %v", name, err)
	}
	if nb := b.ForIndex(name); nb.read != name || nb.write != name || nb.requireAlias {
		t.Errorf("ForIndex: %+v", nb)
	}
	old, err := b.SwapAliases(ctx, name)
	if err != nil || !slices.Equal(old, []string{"rummage-listings-v000001"}) {
		t.Fatalf("SwapAliases = %v, %v", old, err)
	}
	if err := b.DeleteIndex(ctx, old[0]); err != nil {
		t.Fatal(err)
	}
	if err := b.DeleteIndex(ctx, name); !errors.Is(err, ErrInUse) {
		t.Errorf("DeleteIndex(live index) = %v, want ErrInUse", err)
	}
	if err := b.DeleteIndex(ctx, "other-index"); err == nil {
		t.Error("DeleteIndex of a foreign index succeeded")
	}
	for _, r := range f.requests() {
		if r.Path == "/_aliases" {
			goldenRequest(t, "requests/swap_aliases.json", r)
		}
		if r.Path == "/rummage-listings-v000003" && r.Method == "PUT" && r.Body != "" {
			t.Errorf("CreateIndex sent a body (aliases belong to the swap): %s", r.Body)
		}
	}
}

func TestSwapAliasesUnknownIndex(t *testing.T) {
	f := newFake(t, map[string][]reply{"GET /rummage-listings-v*/_alias": {{200, "aliases_two.json"}}})
	_, err := f.backend(t, nil).SwapAliases(context.Background(), "rummage-listings-v000009")
	if !errors.Is(err, ErrIndexNotFound) {
		t.Fatalf("err = %v, want ErrIndexNotFound", err)
	}
}
