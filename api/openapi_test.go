package api

import (
	"encoding/json"
	"slices"
	"sort"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/rummage/rummage/api/apitest"
)

// loadSpec loads and validates the embedded document.
func loadSpec(t *testing.T) *apitest.Spec {
	t.Helper()
	b, err := OpenAPIJSON()
	if err != nil {
		t.Fatal(err)
	}
	spec, err := apitest.LoadSpec(b)
	if err != nil {
		t.Fatal(err)
	}
	return spec
}

// TestSpecDeclaresEverySearchParameter: the spec of every listing list
// declares exactly the parameters its parser takes, repeatable ones as
// arrays.
func TestSpecDeclaresEverySearchParameter(t *testing.T) {
	spec := loadSpec(t)
	for path, set := range map[string]*paramSet{
		"/v1/search": &searchParams, "/v1/parties/{id}/feed": &partyFeedParams,
		"/v1/feed/following": &followingParams, "/v1/feed": &homeParams,
	} {
		item := spec.Doc.Paths.Find(path)
		if item == nil || item.Get == nil {
			t.Errorf("the spec has no GET %s", path)
			continue
		}
		op := item.Get
		declared := map[string]bool{}
		for _, p := range op.Parameters {
			if p.Value.In == openapi3.ParameterInQuery {
				declared[p.Value.Name] = true
			}
		}
		names := slices.Clone(set.names)
		sort.Strings(names)
		for _, name := range names {
			p := op.Parameters.GetByInAndName(openapi3.ParameterInQuery, name)
			if p == nil {
				t.Errorf("GET %s takes %q; add it to its parameters in api/openapi.yaml", path, name)
				continue
			}
			if isArray := p.Schema.Value.Type.Is(openapi3.TypeArray); isArray != repeatable[name] {
				t.Errorf("%s %s: repeatable %v in params.go, array %v in the spec", path, name, repeatable[name], isArray)
			}
			delete(declared, name)
		}
		for name := range declared {
			t.Errorf("the spec declares %q, which GET %s rejects", name, path)
		}
	}
}

// TestYAMLToJSON: the converter keeps key order and scalar types, and
// refuses what has no JSON form.
func TestYAMLToJSON(t *testing.T) {
	got, err := yamlToJSON([]byte("b: 1\na: [x, 2.5, true, null, '3']\nc: {d: \"e\"}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"b":1,"a":["x",2.5,true,null,"3"],"c":{"d":"e"}}`; string(got) != want || !json.Valid(got) {
		t.Errorf("got %s, want %s", got, want)
	}
	for _, bad := range []string{"a: 2001-12-14\n", "a: .inf\n", "? [x]\n: 1\n", "a: !custom x\n"} {
		if _, err := yamlToJSON([]byte(bad)); err == nil {
			t.Errorf("%q converted", bad)
		}
	}
}
