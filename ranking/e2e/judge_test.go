package e2e

import (
	"bufio"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rummage/rummage"
)

// A judged query of testdata/rank_queries.txt:
//
//	query: lulu leggings
//	why: brand shorthand and a category word
//	2: brand=Lululemon; leaf=Leggings; condition=nwt|like_new
//	1: brand=Lululemon; leaf=Leggings
//
// A listing's grade is the highest grade whose rule it meets, else 0. A
// rule is predicates joined by ";", all of which must hold; a predicate is
// field, operator and values joined by "|", any of which may match. Text
// compares case-insensitively.
//
//	brand, leaf, dept, condition, size  = or !=  the field (leaf: the last
//	                                             category node; dept: the first)
//	category                            = or !=  a node anywhere in the path, or,
//	                                             with a "/", a path prefix
//	color, tag                          = or !=  one of the listing's
//	title, text                         ~ or !~  contains (text: title,
//	                                             description or tags)
//	price                               <= or >= dollars
//	age                                 <= or >= days since listed (a drop:
//	                                             since its release)
//	drop                                =        yes or no (has available_at)
type judgedQuery struct {
	Query string
	Why   string
	Rules []rule
	Line  int // where it starts in the file
}

type rule struct {
	Grade int
	Preds []pred
	Text  string // as written
}

type pred struct {
	field, op string
	vals      []string // lower-cased
	num       float64  // for <= and >=
}

// fieldOps are the operators each field takes.
var fieldOps = map[string][]string{
	"brand": {"=", "!="}, "leaf": {"=", "!="}, "dept": {"=", "!="}, "condition": {"=", "!="}, "size": {"=", "!="},
	"category": {"=", "!="}, "color": {"=", "!="}, "tag": {"=", "!="},
	"title": {"~", "!~"}, "text": {"~", "!~"},
	"price": {"<=", ">="}, "age": {"<=", ">="},
	"drop": {"="},
}

// parseQueries reads judged queries. Blank lines and lines starting with #
// are skipped.
func parseQueries(r io.Reader) ([]judgedQuery, error) {
	var out []judgedQuery
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, val, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("line %d: want key: value, got %q", n, line)
		}
		key, val = strings.TrimSpace(key), strings.TrimSpace(val)
		if key == "query" {
			if val == "" {
				return nil, fmt.Errorf("line %d: empty query", n)
			}
			out = append(out, judgedQuery{Query: val, Line: n})
			continue
		}
		if len(out) == 0 {
			return nil, fmt.Errorf("line %d: %q before the first query", n, key)
		}
		q := &out[len(out)-1]
		if key == "why" {
			q.Why = val
			continue
		}
		g, err := strconv.Atoi(key)
		if err != nil || g < 1 || g > 3 {
			return nil, fmt.Errorf("line %d: %q is neither query, why nor a grade 1..3", n, key)
		}
		rl, err := parseRule(g, val)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		q.Rules = append(q.Rules, rl)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, q := range out {
		switch {
		case len(q.Rules) == 0:
			return nil, fmt.Errorf("line %d: query %q has no rule", q.Line, q.Query)
		case seen[q.Query]:
			return nil, fmt.Errorf("line %d: query %q twice", q.Line, q.Query)
		}
		seen[q.Query] = true
	}
	return out, nil
}

func parseRule(grade int, s string) (rule, error) {
	rl := rule{Grade: grade, Text: s}
	for _, part := range strings.Split(s, ";") {
		part = strings.TrimSpace(part)
		if part == "" {
			return rl, fmt.Errorf("empty predicate in %q", s)
		}
		p, err := parsePred(part)
		if err != nil {
			return rl, err
		}
		rl.Preds = append(rl.Preds, p)
	}
	return rl, nil
}

func parsePred(s string) (pred, error) {
	i := strings.IndexAny(s, "=!~<>")
	if i <= 0 {
		return pred{}, fmt.Errorf("predicate %q: want field, operator, values", s)
	}
	p := pred{field: strings.TrimSpace(s[:i])}
	rest := s[i:]
	for _, op := range []string{"!=", "!~", "<=", ">=", "=", "~"} {
		if strings.HasPrefix(rest, op) {
			p.op, rest = op, rest[len(op):]
			break
		}
	}
	ops, known := fieldOps[p.field]
	switch {
	case !known:
		return p, fmt.Errorf("predicate %q: unknown field %q", s, p.field)
	case !slices.Contains(ops, p.op):
		return p, fmt.Errorf("predicate %q: field %s takes %s", s, p.field, strings.Join(ops, " or "))
	}
	for _, v := range strings.Split(rest, "|") {
		if v = strings.ToLower(strings.TrimSpace(v)); v == "" {
			return p, fmt.Errorf("predicate %q: empty value", s)
		}
		p.vals = append(p.vals, v)
	}
	switch {
	case p.op == "<=" || p.op == ">=":
		if len(p.vals) != 1 {
			return p, fmt.Errorf("predicate %q: one number", s)
		}
		n, err := strconv.ParseFloat(p.vals[0], 64)
		if err != nil {
			return p, fmt.Errorf("predicate %q: %w", s, err)
		}
		p.num = n
	case p.field == "drop" && (len(p.vals) != 1 || p.vals[0] != "yes" && p.vals[0] != "no"):
		return p, fmt.Errorf("predicate %q: drop=yes or drop=no", s)
	}
	return p, nil
}

// grade is the grade of l for q at instant now.
func (q *judgedQuery) grade(l *rummage.Listing, now time.Time) int {
	g := 0
	for i := range q.Rules {
		if r := &q.Rules[i]; r.Grade > g && r.holds(l, now) {
			g = r.Grade
		}
	}
	return g
}

func (r *rule) holds(l *rummage.Listing, now time.Time) bool {
	for i := range r.Preds {
		if !r.Preds[i].holds(l, now) {
			return false
		}
	}
	return true
}

func (p *pred) holds(l *rummage.Listing, now time.Time) bool {
	switch p.op {
	case "<=":
		return p.number(l, now) <= p.num
	case ">=":
		return p.number(l, now) >= p.num
	}
	hit := slices.ContainsFunc(p.vals, func(v string) bool { return p.matches(l, v) })
	if p.op == "!=" || p.op == "!~" {
		return !hit
	}
	return hit
}

func (p *pred) number(l *rummage.Listing, now time.Time) float64 {
	if p.field == "price" {
		return float64(l.PriceCents) / 100
	}
	return now.Sub(l.ListedAt()).Hours() / 24 // age
}

// matches reports whether l's field holds the (lower-cased) value v.
func (p *pred) matches(l *rummage.Listing, v string) bool {
	eq := func(s string) bool { return strings.ToLower(s) == v }
	has := func(s string) bool { return strings.Contains(strings.ToLower(s), v) }
	switch p.field {
	case "brand":
		return eq(l.Brand)
	case "condition":
		return eq(l.Condition)
	case "size":
		return eq(l.Size)
	case "leaf":
		return len(l.Category) > 0 && eq(l.Category[len(l.Category)-1])
	case "dept":
		return len(l.Category) > 0 && eq(l.Category[0])
	case "category":
		if strings.Contains(v, "/") {
			path := strings.ToLower(l.CategoryPath())
			return path == v || strings.HasPrefix(path, v+"/")
		}
		return slices.ContainsFunc(l.Category, eq)
	case "color":
		return slices.ContainsFunc(l.Colors, eq)
	case "tag":
		return slices.ContainsFunc(l.Tags, eq)
	case "title":
		return has(l.Title)
	case "text":
		return has(l.Title) || has(l.Description) || slices.ContainsFunc(l.Tags, has)
	case "drop":
		return (l.AvailableAt != nil) == (v == "yes")
	}
	return false
}

func TestParseQueries(t *testing.T) {
	in := `# a comment

query: lulu leggings
why: shorthand
2: brand=Lululemon; leaf=Leggings; condition=nwt|like_new
1: brand = Lululemon ; leaf = Leggings
query: cheap fresh
1: price<=20; age<=7.5; drop=no; title!~NWT
`
	qs, err := parseQueries(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(qs) != 2 || qs[0].Query != "lulu leggings" || qs[0].Why != "shorthand" || qs[0].Line != 3 || len(qs[0].Rules) != 2 {
		t.Fatalf("parsed %+v", qs)
	}
	r := qs[0].Rules[0]
	if r.Grade != 2 || r.Text != "brand=Lululemon; leaf=Leggings; condition=nwt|like_new" || len(r.Preds) != 3 ||
		!slices.Equal(r.Preds[2].vals, []string{"nwt", "like_new"}) || r.Preds[2].op != "=" {
		t.Errorf("rule %+v", r)
	}
	if p := qs[1].Rules[0].Preds[1]; p.field != "age" || p.op != "<=" || p.num != 7.5 {
		t.Errorf("age predicate %+v", p)
	}
	if p := qs[1].Rules[0].Preds[3]; p.field != "title" || p.op != "!~" || !slices.Equal(p.vals, []string{"nwt"}) {
		t.Errorf("title predicate %+v", p)
	}

	for _, bad := range []string{
		"1: brand=Nike", // before a query
		"query: q\n",    // no rule
		"query: q\n1: brand=Nike\nquery: q\n1: brand=Nike", // twice
		"query: q\n4: brand=Nike",                          // grade out of range
		"query: q\nbest: brand=Nike",                       // not a grade
		"query: q\n1: colour=Black",                        // unknown field
		"query: q\n1: brand~Nike",                          // wrong operator
		"query: q\n1: price<=cheap",                        // not a number
		"query: q\n1: price<=1|2",                          // one number
		"query: q\n1: drop=maybe",                          // yes or no
		"query: q\n1: brand=Nike;",                         // empty predicate
		"query: q\n1: brand=Nike|",                         // empty value
		"query: q\n1: Nike",                                // no operator
		"query: q\nno colon",                               // not key: value
	} {
		if _, err := parseQueries(strings.NewReader(bad)); err == nil {
			t.Errorf("parsed %q", bad)
		}
	}
}

func TestGrade(t *testing.T) {
	now := time.Date(2026, 1, 2, 12, 0, 0, 0, time.UTC)
	released := now.Add(-6 * time.Hour)
	l := rummage.Listing{
		ID: "l1", Title: "NWT Lululemon Align High-Rise Leggings Black", Description: "Brand new with tags.",
		Brand: "Lululemon", Category: []string{"Women", "Clothing", "Activewear", "Activewear Pants", "Leggings"},
		Size: "6", Condition: "nwt", PriceCents: 5800, Colors: []string{"Black", "Gray"}, Tags: []string{"athleisure"},
		CreatedAt: now.Add(-10 * 24 * time.Hour), AvailableAt: &released,
	}
	cases := []struct {
		rule string
		want bool
	}{
		{"brand=lululemon", true},
		{"brand=Nike|Lululemon", true},
		{"brand!=Nike", true},
		{"brand!=Nike|Lululemon", false},
		{"leaf=Leggings", true},
		{"leaf=Activewear Pants", false},
		{"dept=Women", true},
		{"category=Activewear Pants", true},
		{"category=Women/Clothing/Activewear", true},
		{"category=Women/Clothing/Active", false}, // a prefix of nodes, not of letters
		{"category=Women/Clothing/Activewear/Activewear Pants/Leggings", true},
		{"color=gray", true},
		{"color!=Black", false},
		{"tag=athleisure", true},
		{"tag=boho", false},
		{"size=6", true},
		{"condition=nwt|like_new", true},
		{"title~high-rise", true},
		{"title~tags", false},
		{"text~tags", true},
		{"text~athleisure", true},
		{"title!~nwt", false},
		{"price<=58", true},
		{"price<=57.99", false},
		{"price>=58", true},
		{"age<=0.25", true}, // released 6 h ago, listed 10 days ago
		{"age>=1", false},
		{"drop=yes", true},
		{"drop=no", false},
		{"brand=Lululemon; leaf=Leggings; color=Black", true},
		{"brand=Lululemon; leaf=Sneakers", false},
	}
	for _, c := range cases {
		rl, err := parseRule(1, c.rule)
		if err != nil {
			t.Fatalf("%s: %v", c.rule, err)
		}
		if got := rl.holds(&l, now); got != c.want {
			t.Errorf("%s: %v, want %v", c.rule, got, c.want)
		}
	}

	q := judgedQuery{Rules: []rule{mustRule(t, 1, "brand=Lululemon"), mustRule(t, 2, "brand=Lululemon; condition=nwt"), mustRule(t, 3, "brand=Nike")}}
	if g := q.grade(&l, now); g != 2 {
		t.Errorf("grade %d, want the highest rule that holds, 2", g)
	}
	l.Brand = "Nike"
	if g := q.grade(&l, now); g != 3 {
		t.Errorf("grade %d, want 3", g)
	}
	l.Brand = "Zara"
	if g := q.grade(&l, now); g != 0 {
		t.Errorf("grade %d, want 0", g)
	}
}

func mustRule(t *testing.T, grade int, s string) rule {
	t.Helper()
	rl, err := parseRule(grade, s)
	if err != nil {
		t.Fatal(err)
	}
	return rl
}
