package query

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"
	"unicode"
)

// Aliases maps brand shorthand to the brand it stands for ("lulu" →
// "Lululemon"). Keys are normalized with NormalizeAlias: lower case, words
// separated by one space. Backends expand a query word (or run of words) that
// is an alias into an exact match on the brand, next to the ordinary text match.
type Aliases map[string]string

// NormalizeAlias lower-cases s and collapses runs of white space to one space,
// the form Aliases keys and lookups use.
func NormalizeAlias(s string) string {
	return strings.Join(strings.FieldsFunc(strings.ToLower(s), unicode.IsSpace), " ")
}

// Lookup returns the brand an alias stands for.
func (a Aliases) Lookup(alias string) (string, bool) {
	b, ok := a[NormalizeAlias(alias)]
	return b, ok
}

// MaxAliasWords is the longest alias, in words, that backends look for.
const MaxAliasWords = 3

// ParseAliases reads an alias file: one "alias<TAB>brand" per line; blank
// lines and lines whose first non-blank character is '#' are ignored. An
// alias may hold up to MaxAliasWords words. Errors name the line. An alias
// listed twice for different brands is an error; listed twice for the same
// brand it is accepted.
func ParseAliases(r io.Reader) (Aliases, error) {
	a := Aliases{}
	sc := bufio.NewScanner(r)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimRight(sc.Text(), "\r")
		if t := strings.TrimSpace(line); t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		alias, brand, ok := strings.Cut(line, "\t")
		if !ok {
			return nil, fmt.Errorf("aliases: line %d: want alias<TAB>brand", n)
		}
		alias, brand = NormalizeAlias(alias), strings.TrimSpace(brand)
		switch {
		case alias == "":
			return nil, fmt.Errorf("aliases: line %d: empty alias", n)
		case brand == "" || strings.Contains(brand, "\t"):
			return nil, fmt.Errorf("aliases: line %d: want exactly one brand after the tab", n)
		case len(strings.Fields(alias)) > MaxAliasWords:
			return nil, fmt.Errorf("aliases: line %d: alias %q has more than %d words", n, alias, MaxAliasWords)
		}
		if prev, dup := a[alias]; dup && prev != brand {
			return nil, fmt.Errorf("aliases: line %d: alias %q already means %q", n, alias, prev)
		}
		a[alias] = brand
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("aliases: line %d: %w", n+1, err)
	}
	return a, nil
}

// LoadAliases reads the alias file at path, or, when path is empty, the
// shipped default (fixtures.BrandAliases(), which the caller passes in so
// that query does not depend on fixtures). Errors name the file.
func LoadAliases(path string, shipped []byte) (Aliases, error) {
	if path == "" {
		a, err := ParseAliases(strings.NewReader(string(shipped)))
		if err != nil {
			return nil, fmt.Errorf("shipped brand aliases: %w", err)
		}
		return a, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("brand aliases: %w", err)
	}
	defer f.Close()
	a, err := ParseAliases(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return a, nil
}
