package elastic

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"

	"github.com/elastic/go-elasticsearch/v8/esapi"
)

// IndexInfo is one physical index of the prefix and the aliases it carries.
type IndexInfo struct {
	Name    string
	Version int  // the NNNNNN of <prefix>-vNNNNNN
	Read    bool // behind the read alias
	Write   bool // behind the write alias
}

// Indices lists the physical indices of the prefix, oldest first.
func (b *Backend) Indices(ctx context.Context) ([]IndexInfo, error) {
	var res map[string]struct {
		Aliases map[string]json.RawMessage `json:"aliases"`
	}
	pattern := b.cfg.IndexPrefix + "-v*"
	if _, err := b.do(ctx, "list indices "+pattern, esapi.IndicesGetAliasRequest{Index: []string{pattern}}, &res); err != nil {
		return nil, err
	}
	re := versionRE(b.cfg)
	var out []IndexInfo
	for name, v := range res {
		m := re.FindStringSubmatch(name)
		if m == nil {
			continue
		}
		n, _ := strconv.Atoi(m[1])
		_, r := v.Aliases[b.cfg.ReadAlias()]
		_, w := v.Aliases[b.cfg.WriteAlias()]
		out = append(out, IndexInfo{Name: name, Version: n, Read: r, Write: w})
	}
	slices.SortFunc(out, func(a, b IndexInfo) int { return a.Version - b.Version })
	return out, nil
}

func versionRE(cfg Config) *regexp.Regexp {
	return regexp.MustCompile(`^` + regexp.QuoteMeta(cfg.IndexPrefix) + `-v(\d{6,})$`)
}

// PutTemplate installs (or replaces) the index template. It only affects
// indices created afterwards.
func (b *Backend) PutTemplate(ctx context.Context) error {
	body, err := json.Marshal(templateBody(b.cfg))
	if err != nil {
		return err
	}
	name := b.cfg.TemplateName()
	_, err = b.do(ctx, "install index template "+name, esapi.IndicesPutIndexTemplateRequest{Name: name, Body: bytes.NewReader(body)}, nil)
	return err
}

// EnsureIndex makes sure the read and write aliases exist. On a cluster with
// no index of the prefix it installs the template and creates the first
// index with both aliases in one request. Indices without aliases are an
// error: an interrupted reindex is finished with SwapAliases, not guessed at.
func (b *Backend) EnsureIndex(ctx context.Context) error {
	infos, err := b.Indices(ctx)
	if err != nil {
		return err
	}
	var read, write bool
	for _, in := range infos {
		read, write = read || in.Read, write || in.Write
	}
	switch {
	case read && write:
		return nil
	case len(infos) > 0:
		return fmt.Errorf("indices %s-v* exist but the aliases %s and %s are not both set; finish the reindex (SwapAliases) or delete them", b.cfg.IndexPrefix, b.cfg.ReadAlias(), b.cfg.WriteAlias())
	}
	if err := b.PutTemplate(ctx); err != nil {
		return err
	}
	name := b.cfg.IndexName(1)
	body, _ := json.Marshal(obj{"aliases": obj{
		b.cfg.ReadAlias():  obj{},
		b.cfg.WriteAlias(): obj{"is_write_index": true},
	}})
	_, err = b.do(ctx, "create index "+name, esapi.IndicesCreateRequest{Index: name, Body: bytes.NewReader(body)}, nil)
	var ee *Error
	if errors.As(err, &ee) && ee.Type == "resource_already_exists_exception" {
		return nil // another process won the race
	}
	return err
}

// CreateIndex installs the template and creates the next physical index
// (one version above the newest), with no alias. It returns its name.
func (b *Backend) CreateIndex(ctx context.Context) (string, error) {
	if err := b.PutTemplate(ctx); err != nil {
		return "", err
	}
	infos, err := b.Indices(ctx)
	if err != nil {
		return "", err
	}
	next := 1
	if len(infos) > 0 {
		next = infos[len(infos)-1].Version + 1
	}
	name := b.cfg.IndexName(next)
	if _, err := b.do(ctx, "create index "+name, esapi.IndicesCreateRequest{Index: name}, nil); err != nil {
		return "", err
	}
	return name, nil
}

// swapActions is the _aliases body that moves both aliases to name.
func swapActions(cfg Config, infos []IndexInfo, name string) obj {
	var actions []any
	for _, in := range infos {
		if in.Name == name {
			continue
		}
		if in.Read {
			actions = append(actions, obj{"remove": obj{"index": in.Name, "alias": cfg.ReadAlias()}})
		}
		if in.Write {
			actions = append(actions, obj{"remove": obj{"index": in.Name, "alias": cfg.WriteAlias()}})
		}
	}
	actions = append(actions,
		obj{"add": obj{"index": name, "alias": cfg.ReadAlias()}},
		obj{"add": obj{"index": name, "alias": cfg.WriteAlias(), "is_write_index": true}},
	)
	return obj{"actions": actions}
}

// SwapAliases moves the read and write aliases to the physical index name in
// one atomic _aliases request: every search and write goes either to the old
// index or to the new one, never to neither. It returns the indices the
// aliases left, for DeleteIndex.
func (b *Backend) SwapAliases(ctx context.Context, name string) ([]string, error) {
	infos, err := b.Indices(ctx)
	if err != nil {
		return nil, err
	}
	if !slices.ContainsFunc(infos, func(in IndexInfo) bool { return in.Name == name }) {
		return nil, fmt.Errorf("swap aliases: %w: %s", ErrIndexNotFound, name)
	}
	var old []string
	for _, in := range infos {
		if in.Name != name && (in.Read || in.Write) {
			old = append(old, in.Name)
		}
	}
	body, _ := json.Marshal(swapActions(b.cfg, infos, name))
	if _, err := b.do(ctx, "swap aliases to "+name, esapi.IndicesUpdateAliasesRequest{Body: bytes.NewReader(body)}, nil); err != nil {
		return nil, err
	}
	return old, nil
}

// ErrInUse is returned by DeleteIndex for an index behind an alias.
var ErrInUse = errors.New("index is behind an alias")

// DeleteIndex deletes a physical index of the prefix that no alias points
// to. It refuses any other name.
func (b *Backend) DeleteIndex(ctx context.Context, name string) error {
	if !versionRE(b.cfg).MatchString(name) {
		return fmt.Errorf("delete index %q: not a physical index of %s", name, b.cfg.IndexPrefix)
	}
	infos, err := b.Indices(ctx)
	if err != nil {
		return err
	}
	for _, in := range infos {
		if in.Name == name && (in.Read || in.Write) {
			return fmt.Errorf("delete index %s: %w; swap the aliases first", name, ErrInUse)
		}
	}
	_, err = b.do(ctx, "delete index "+name, esapi.IndicesDeleteRequest{Index: []string{name}}, nil)
	return err
}
