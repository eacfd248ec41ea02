package query_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/rummage/rummage/fixtures"
	"github.com/rummage/rummage/query"
)

func TestParseAliases(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    map[string]string
		wantErr string
	}{
		{name: "plain", in: "lulu\tLululemon\n", want: map[string]string{"lulu": "Lululemon"}},
		{name: "comments and blanks", in: "# c\n\n  # indented\nTNF\tThe North Face\r\n", want: map[string]string{"tnf": "The North Face"}},
		{name: "multi word alias", in: "North   Face\tThe North Face\n", want: map[string]string{"north face": "The North Face"}},
		{name: "same twice", in: "a\tB\na\tB\n", want: map[string]string{"a": "B"}},
		{name: "no tab", in: "# x\nlulu Lululemon\n", wantErr: "line 2"},
		{name: "empty alias", in: "\tNike\n", wantErr: "line 1: empty alias"},
		{name: "empty brand", in: "x\t \n", wantErr: "line 1"},
		{name: "two tabs", in: "x\ty\tz\n", wantErr: "line 1"},
		{name: "too many words", in: "a b c d\tX\n", wantErr: "line 1"},
		{name: "conflict", in: "a\tB\n\na\tC\n", wantErr: "line 3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := query.ParseAliases(strings.NewReader(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			for k, v := range tt.want {
				if got[k] != v {
					t.Errorf("%q → %q, want %q", k, got[k], v)
				}
			}
		})
	}
}

func TestShippedAliases(t *testing.T) {
	a, err := query.ParseAliases(bytes.NewReader(fixtures.BrandAliases()))
	if err != nil {
		t.Fatal(err)
	}
	if len(a) < 40 {
		t.Errorf("%d aliases shipped, want at least 40", len(a))
	}
	for alias, brand := range map[string]string{"lulu": "Lululemon", "TNF": "The North Face", "lv": "Louis Vuitton", "ysl": "Saint Laurent"} {
		if got, _ := a.Lookup(alias); got != brand {
			t.Errorf("Lookup(%q) = %q, want %q", alias, got, brand)
		}
	}
}
