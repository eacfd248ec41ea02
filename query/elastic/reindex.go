package elastic

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/elastic/go-elasticsearch/v8/esapi"

	"github.com/rummage/rummage/query"
)

// Zero-downtime reindex: the second write target.
//
// While a reindex runs, the new physical index carries a third alias, the
// reindex alias (<prefix>-reindex). Backend.Apply, which every writer
// uses (the indexer, serve --data), looks the reindex alias up before each
// batch (one _cat/aliases request) and, when it exists, writes the batch
// through the write alias (the old index) and then to the new index by its
// physical name, both with external versions. It returns the stats of the
// write alias; an error from either write fails the batch, which the
// indexer retries whole (harmless, thanks to versions). `rummage reindex` (Reindex below)
// adds the alias when it creates the new index, only then takes the
// snapshot and backfills the new index, and finally moves the read and
// write aliases to the new index and removes the reindex alias in one
// atomic _aliases request.
//
// Why nothing is lost, with any number of indexer processes and no
// coordination with them: a batch whose lookup ran before the alias
// existed was consumed before it existed, so its changes committed before
// the snapshot began and the snapshot holds them; every later batch is
// written to the new index too. A batch in flight across the swap writes
// the new index by name and the write alias, which by then also resolves
// to the new index. Versions (snapshot rows at the snapshot LSN minus one)
// settle the races between the backfill and the dual writes.

// ReindexAlias is the alias that marks the index a reindex is building.
func (c Config) ReindexAlias() string { return c.IndexPrefix + "-reindex" }

// reindexTarget returns the physical index behind the reindex alias, or ""
// when no reindex runs.
func (b *Backend) reindexTarget(ctx context.Context) (string, error) {
	var rows []struct {
		Alias string `json:"alias"`
		Index string `json:"index"`
	}
	alias := b.cfg.ReindexAlias()
	if _, err := b.do(ctx, "look up "+alias, esapi.CatAliasesRequest{Name: []string{alias}, Format: "json"}, &rows); err != nil {
		return "", err
	}
	for _, r := range rows {
		if r.Alias == alias {
			return r.Index, nil
		}
	}
	return "", nil
}

// ErrReindexRunning is returned by Reindex.Begin when the reindex alias
// already exists.
var ErrReindexRunning = errors.New("a reindex is running or was interrupted")

// Reindex is one zero-downtime reindex of the cluster's indices, in the
// steps of indexer/reindex.Target: Begin, Switch, Finish (or Abort).
type Reindex struct {
	b    *Backend
	name string
	old  []string
}

// NewReindex starts planning a reindex.
func (b *Backend) NewReindex() *Reindex { return &Reindex{b: b} }

// Name is the new physical index, once Begin has made it.
func (r *Reindex) Name() string { return r.name }

// Begin creates the next physical index and puts the reindex alias on it:
// every writer writes it from its next batch on. It returns a Backend
// on the new index by name, for the backfill.
func (r *Reindex) Begin(ctx context.Context) (query.Backend, error) {
	if err := r.b.EnsureIndex(ctx); err != nil {
		return nil, err
	}
	if cur, err := r.b.reindexTarget(ctx); err != nil {
		return nil, err
	} else if cur != "" {
		return nil, fmt.Errorf("%w: %s carries the alias %s; if no reindex runs, delete that index (it is not served) and retry",
			ErrReindexRunning, cur, r.b.cfg.ReindexAlias())
	}
	name, err := r.b.CreateIndex(ctx)
	if err != nil {
		return nil, err
	}
	r.name = name
	body, _ := json.Marshal(obj{"actions": []any{obj{"add": obj{"index": name, "alias": r.b.cfg.ReindexAlias()}}}})
	if _, err := r.b.do(ctx, "add alias "+r.b.cfg.ReindexAlias(), esapi.IndicesUpdateAliasesRequest{Body: bytes.NewReader(body)}, nil); err != nil {
		return nil, errors.Join(err, r.Abort(context.WithoutCancel(ctx)))
	}
	return r.b.ForIndex(name), nil
}

// Switch moves the read and write aliases to the new index and removes the
// reindex alias, in one atomic _aliases request.
func (r *Reindex) Switch(ctx context.Context) error {
	infos, err := r.b.Indices(ctx)
	if err != nil {
		return err
	}
	var old []string
	found := false
	for _, in := range infos {
		found = found || in.Name == r.name
		if in.Name != r.name && (in.Read || in.Write) {
			old = append(old, in.Name)
		}
	}
	if !found {
		return fmt.Errorf("switch: %w: %s", ErrIndexNotFound, r.name)
	}
	acts := swapActions(r.b.cfg, infos, r.name)
	acts["actions"] = append(acts["actions"].([]any), obj{"remove": obj{"index": r.name, "alias": r.b.cfg.ReindexAlias()}})
	body, _ := json.Marshal(acts)
	if _, err := r.b.do(ctx, "swap aliases to "+r.name, esapi.IndicesUpdateAliasesRequest{Body: bytes.NewReader(body)}, nil); err != nil {
		return err
	}
	r.old = old
	return nil
}

// Finish deletes the indices the aliases left.
func (r *Reindex) Finish(ctx context.Context) error {
	var errs []error
	for _, o := range r.old {
		errs = append(errs, r.b.DeleteIndex(ctx, o))
	}
	return errors.Join(errs...)
}

// Abort deletes the new index (and with it the reindex alias): the
// writers stop writing it from their next batch.
func (r *Reindex) Abort(ctx context.Context) error {
	if r.name == "" {
		return nil
	}
	err := r.b.DeleteIndex(ctx, r.name)
	r.name = ""
	return err
}
