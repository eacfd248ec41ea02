package api

import (
	"encoding/json"
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

// TestSpecDeclaresEverySearchParameter: the spec of GET /v1/search lists
// exactly the parameters ParseSearch takes (searchParams), repeatable ones
// as arrays.
func TestSpecDeclaresEverySearchParameter(t *testing.T) {
	spec := loadSpec(t)
	op := spec.Doc.Paths.Find("/v1/search").Get
	declared := map[string]bool{}
	for _, p := range op.Parameters {
		if p.Value.In == openapi3.ParameterInQuery {
			declared[p.Value.Name] = true
		}
	}
	var names []string
	for name := range searchParams {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		p := op.Parameters.GetByInAndName(openapi3.ParameterInQuery, name)
		if p == nil {
			t.Errorf("GET /v1/search takes %q; add it to paths./v1/search.get.parameters in api/openapi.yaml", name)
			continue
		}
		if isArray := p.Schema.Value.Type.Is(openapi3.TypeArray); isArray != searchParams[name] {
			t.Errorf("%s: repeatable %v in params.go, array %v in the spec", name, searchParams[name], isArray)
		}
		delete(declared, name)
	}
	for name := range declared {
		t.Errorf("the spec declares %q, which GET /v1/search rejects", name)
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
