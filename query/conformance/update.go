package conformance

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"

	"github.com/rummage/rummage/query"
)

// CasesFile is the path of cases.json relative to this package's directory.
const CasesFile = "testdata/cases.json"

// UpdateCases loads the suite's documents into b, runs every case of
// cases.json on it and returns the file with the expectations replaced by
// b's answers: total; ids (key orders) or id_set (relevance with text);
// all_ids (key orders) or id_set (relevance) of the pages of a paging case;
// the facets asked for. Names, requests, first_in and pages stay as
// written, and every key keeps its place. A relevance case whose matches
// do not fit its page is an error: which of them make the page depends on
// the engine's scores, which the suite leaves to each engine.
func UpdateCases(t testing.TB, b query.Backend) []byte {
	t.Helper()
	ctx := context.Background()
	raw, err := testdata.ReadFile(CasesFile)
	if err != nil {
		t.Fatal(err)
	}
	var file object
	if err := json.Unmarshal(raw, &file); err != nil {
		t.Fatalf("%s: %v", CasesFile, err)
	}
	cf := mustCases(t)
	var cases []object
	if err := json.Unmarshal(file.get("cases"), &cases); err != nil {
		t.Fatalf("%s: %v", CasesFile, err)
	}
	mustLoad(t, ctx, b)
	for i, c := range cf.Cases {
		req := c.Request.Build(t, cf.Now)
		res, err := Retrieve(ctx, b, req)
		if err != nil {
			t.Fatalf("case %q: %v", c.Name, err)
		}
		o := &cases[i]
		o.set("total", res.Total)
		relevance := req.EffectiveSort() == query.SortRelevance
		switch {
		case c.Pages && relevance:
			o.set("id_set", sorted(pages(t, b, req)))
			o.del("ids", "all_ids")
		case c.Pages:
			o.set("all_ids", pages(t, b, req))
			o.del("ids", "id_set")
		case relevance:
			if res.More {
				t.Errorf("case %q: %d matches for a page of %d: the page depends on the engine's scores; raise its limit or make it a paging case", c.Name, res.Total, req.N)
			}
			o.set("id_set", sorted(IDs(res.Hits)))
			o.del("ids", "all_ids")
		default:
			o.set("ids", IDs(res.Hits))
			o.del("id_set", "all_ids")
		}
		if len(req.Facets) == 0 {
			o.del("facets")
			continue
		}
		var facets object
		for _, f := range req.Facets {
			facets.set(string(f), fileFacet(res.Facets[f]))
		}
		o.set("facets", facets)
	}
	file.set("cases", cases)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(file); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := json.Indent(&out, bytes.TrimSpace(buf.Bytes()), "", " "); err != nil {
		t.Fatal(err)
	}
	out.WriteByte('\n')
	return out.Bytes()
}

// fileFacet is a facet as the file spells its values: value or key, from,
// count, to.
func fileFacet(vals []query.FacetValue) []object {
	out := make([]object, len(vals))
	for i, v := range vals {
		o := &out[i]
		if v.Value != "" {
			o.set("value", v.Value)
		}
		if v.Key != "" {
			o.set("key", v.Key)
		}
		if v.From != nil {
			o.set("from", *v.From)
		}
		o.set("count", v.Count)
		if v.To != nil {
			o.set("to", *v.To)
		}
	}
	return out
}

// object is a JSON object that keeps its keys in order, so that rewriting
// the expectations leaves the hand-written parts of the file as they are.
type object []member

type member struct {
	key   string
	value json.RawMessage
}

// keyOrder is where set puts a key the object does not have yet: after the
// last key it has that comes before it here.
var keyOrder = []string{"name", "request", "first_in", "total", "ids", "id_set", "facets", "all_ids", "pages"}

func (o object) get(key string) json.RawMessage {
	for _, m := range o {
		if m.key == key {
			return m.value
		}
	}
	return nil
}

// set gives key the value v, in place when the key is there.
func (o *object) set(key string, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic(fmt.Sprintf("conformance: %s: %v", key, err)) // only this file's own values are encoded
	}
	val := json.RawMessage(bytes.TrimSpace(buf.Bytes()))
	for i := range *o {
		if (*o)[i].key == key {
			(*o)[i].value = val
			return
		}
	}
	at := len(*o)
	if rank := slices.Index(keyOrder, key); rank >= 0 {
		at = 0
		for i, m := range *o {
			if r := slices.Index(keyOrder, m.key); r >= 0 && r < rank {
				at = i + 1
			}
		}
	}
	*o = slices.Insert(*o, at, member{key, val})
}

func (o *object) del(keys ...string) {
	*o = slices.DeleteFunc(*o, func(m member) bool { return slices.Contains(keys, m.key) })
}

func (o *object) UnmarshalJSON(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return fmt.Errorf("want an object")
	}
	*o = nil
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		var m member
		m.key, _ = tok.(string)
		if err := dec.Decode(&m.value); err != nil {
			return err
		}
		*o = append(*o, m)
	}
	return nil
}

func (o object) MarshalJSON() ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteByte('{')
	for i, m := range o {
		if i > 0 {
			buf.WriteByte(',')
		}
		k, err := json.Marshal(m.key)
		if err != nil {
			return nil, err
		}
		buf.Write(k)
		buf.WriteByte(':')
		buf.Write(m.value)
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}
