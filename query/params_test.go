package query

import (
	"reflect"
	"testing"
)

// TestParams: the JSON spelling of a search's filters and back, category
// as a path (slashes around it ignored).
func TestParams(t *testing.T) {
	max := int64(5000)
	p := Params{Q: "dress", Brand: []string{"Zara"}, Size: []string{"M"}, Condition: []string{"nwt"}, Color: []string{"red"}, Category: "/Women/Dresses/", PriceMax: &max}
	f := p.Filters()
	want := Filters{Brands: []string{"Zara"}, Sizes: []string{"M"}, Conditions: []string{"nwt"}, Colors: []string{"red"}, Category: []string{"Women", "Dresses"}, PriceMax: &max}
	if !reflect.DeepEqual(f, want) {
		t.Fatalf("Filters() = %+v, want %+v", f, want)
	}
	back := ParamsOf("dress", f)
	p.Category = "Women/Dresses"
	if !reflect.DeepEqual(back, p) {
		t.Errorf("ParamsOf = %+v, want %+v", back, p)
	}
	if f := (Params{}).Filters(); !reflect.DeepEqual(f, Filters{}) {
		t.Errorf("empty params: %+v", f)
	}
}
