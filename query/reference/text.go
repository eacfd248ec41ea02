package reference

import (
	"fmt"
	"math"
	"strings"
	"unicode/utf8"

	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/bleve/v2/analysis/lang/en"
	"github.com/blevesearch/bleve/v2/analysis/token/lowercase"
	"github.com/blevesearch/bleve/v2/analysis/tokenizer/single"
	"github.com/blevesearch/bleve/v2/analysis/tokenizer/unicode"
	"github.com/blevesearch/bleve/v2/registry"

	"github.com/rummage/rummage"
	"github.com/rummage/rummage/query"
)

// The text rules. A query is split on white space and lower-cased; a run of
// up to query.MaxAliasWords words that is an alias (the longest first) forms
// one clause, every other word a clause of its own. Each word is cut into
// tokens by Unicode word boundaries ("a&f" is two, "the" one), and each
// token is analyzed as the text fields are (Bleve's English analyzer:
// possessives stripped, lower case, English stop words dropped, Porter
// stems); a stop word leaves no token. A token matches a listing when its
// stem is a term of the brand, title, tags or description, or, when the
// token is rare enough to be a typo, is within query.TypoEdits of a term of
// the brand or title. A clause matches when all its tokens match, or, for
// an alias, when the listing's whole brand is the alias's brand (case
// aside). A listing matches the query when every clause does; a query with
// no clause left (only stop words or punctuation) matches nothing. This is
// the embedded backend's definition (query/embedded/text.go): the category
// leaf a word names adds to the score but makes no match, and typos are not
// looked for in tags.

// Field weights of the reference's text score (see doc.go).
const (
	weightBrand       = 4.0
	weightTitle       = 3.0
	weightTags        = 2.0
	weightDescription = 1.0
	weightAlias       = 6.0
	weightCategory    = 3.0
)

// commonAbove: a stem held in the titles plus brands of more than this many
// documents (a document counted once per field) is taken as spelled right,
// and gets no typo matches.
const commonAbove = 3

type analyzers struct {
	text analysis.Analyzer // the text fields: Bleve's English analyzer
	raw  analysis.Analyzer // query words: Unicode words, lower-cased, unstemmed
	key  analysis.Analyzer // the whole brand, lower-cased
}

func newAnalyzers() (analyzers, error) {
	text, err := registry.NewCache().AnalyzerNamed(en.AnalyzerName)
	if err != nil {
		return analyzers{}, fmt.Errorf("reference: %w", err)
	}
	lower := []analysis.TokenFilter{lowercase.NewLowerCaseFilter()}
	return analyzers{
		text: text,
		raw:  &analysis.DefaultAnalyzer{Tokenizer: unicode.NewUnicodeTokenizer(), TokenFilters: lower},
		key:  &analysis.DefaultAnalyzer{Tokenizer: single.NewSingleTokenTokenizer(), TokenFilters: lower},
	}, nil
}

// terms analyzes s with a into a set.
func terms(a analysis.Analyzer, s string, into map[string]bool) map[string]bool {
	if into == nil {
		into = map[string]bool{}
	}
	for _, t := range a.Analyze([]byte(s)) {
		into[string(t.Term)] = true
	}
	return into
}

// docText is what text matching reads of a listing.
type docText struct {
	brand, title, tags, description map[string]bool
	brandKey                        string          // the whole brand, lower-cased; "" without a brand
	leaf                            map[string]bool // stems of the category leaf's name
}

func (a *analyzers) docText(l *rummage.Listing) docText {
	t := docText{
		brand:       terms(a.text, l.Brand, nil),
		title:       terms(a.text, l.Title, nil),
		description: terms(a.text, l.Description, nil),
		tags:        map[string]bool{},
		leaf:        map[string]bool{},
	}
	for _, tag := range l.Tags {
		terms(a.text, tag, t.tags)
	}
	if l.Brand != "" {
		if k := a.key.Analyze([]byte(l.Brand)); len(k) > 0 {
			t.brandKey = string(k[0].Term)
		}
	}
	if n := len(l.Category); n > 0 {
		for _, w := range strings.Fields(strings.ToLower(l.Category[n-1])) {
			for _, tok := range a.tokens(w) {
				t.leaf[tok.stem] = true
			}
		}
	}
	return t
}

// token is one searchable token of a query word.
type token struct {
	stem  string
	runes int // length before stemming

	// Set by planText.
	budget int     // edits a typo may be off by; 0: exact only
	idf    float64 // of the documents the token matches
}

// tokens cuts a lower-cased query word into its searchable tokens.
func (a *analyzers) tokens(w string) []token {
	var out []token
	for _, raw := range a.raw.Analyze([]byte(w)) {
		s := a.text.Analyze(raw.Term)
		if len(s) == 0 {
			continue // a stop word
		}
		out = append(out, token{stem: string(s[0].Term), runes: utf8.RuneCount(raw.Term)})
	}
	return out
}

// clause is one part of a query that must match.
type clause struct {
	tokens   []token
	aliasKey string // the alias's brand, lower-cased; "" unless an alias
}

// textQuery is a planned query over the documents held when it was planned.
type textQuery struct {
	clauses []clause
	aliasF  map[string]float64        // alias key → idf
	dist    map[string]map[string]int // stem → term → edit distance, memoized
}

// planText plans q over docs (every document held, any status). ok is
// false when q has no searchable token.
func (e *Engine) planText(q string, docs []*doc) (tq *textQuery, ok bool) {
	words := strings.Fields(strings.ToLower(q))
	tq = &textQuery{aliasF: map[string]float64{}, dist: map[string]map[string]int{}}
	for i := 0; i < len(words); {
		c := clause{}
		n := 1
		for k := min(len(words)-i, query.MaxAliasWords); k > 0; k-- {
			if b, ok := e.aliases[strings.Join(words[i:i+k], " ")]; ok {
				n, c.aliasKey = k, strings.ToLower(b)
				break
			}
		}
		for _, w := range words[i : i+n] {
			c.tokens = append(c.tokens, e.an.tokens(w)...)
		}
		if len(c.tokens) > 0 || c.aliasKey != "" {
			tq.clauses = append(tq.clauses, c)
		}
		i += n
	}
	if len(tq.clauses) == 0 {
		return nil, false
	}
	idf := func(df int) float64 { return 1 + math.Log(float64(len(docs)+1)/float64(df+1)) }
	for ci := range tq.clauses {
		c := &tq.clauses[ci]
		for ti := range c.tokens {
			t := &c.tokens[ti]
			n := 0
			for _, d := range docs {
				if d.text.title[t.stem] {
					n++
				}
				if d.text.brand[t.stem] {
					n++
				}
			}
			if n <= commonAbove {
				t.budget = query.TypoEdits(t.runes)
			}
			df := 0
			for _, d := range docs {
				if tq.tokenWeight(t, d) > 0 {
					df++
				}
			}
			t.idf = idf(df)
		}
		if c.aliasKey != "" {
			df := 0
			for _, d := range docs {
				if d.text.brandKey == c.aliasKey {
					df++
				}
			}
			tq.aliasF[c.aliasKey] = idf(df)
		}
	}
	return tq, true
}

// match reports whether d matches every clause, and its text score.
func (tq *textQuery) match(d *doc) (bool, float64) {
	score := 0.0
	for _, c := range tq.clauses {
		alias := c.aliasKey != "" && d.text.brandKey == c.aliasKey
		all := true
		cs := 0.0
		for i := range c.tokens {
			w := tq.tokenWeight(&c.tokens[i], d)
			if w == 0 {
				all = false
			}
			cs += w * c.tokens[i].idf
		}
		if !all && !alias {
			return false, 0
		}
		score += cs
		if alias {
			score += weightAlias * tq.aliasF[c.aliasKey]
		}
	}
	for _, c := range tq.clauses {
		for _, t := range c.tokens {
			if d.text.leaf[t.stem] {
				score += weightCategory * t.idf
			}
		}
	}
	return true, score
}

// tokenWeight is the heaviest weight t earns on d: its field's weight for
// an exact term, the brand's or title's divided by 1+edits for a typo
// within its budget; 0 when it does not match.
func (tq *textQuery) tokenWeight(t *token, d *doc) float64 {
	stem := t.stem
	switch {
	case d.text.brand[stem]:
		return weightBrand
	case d.text.title[stem]:
		return weightTitle
	}
	w := 0.0
	if b := t.budget; b > 0 {
		for _, f := range []struct {
			terms  map[string]bool
			weight float64
		}{{d.text.brand, weightBrand}, {d.text.title, weightTitle}} {
			for term := range f.terms {
				if k := tq.distance(stem, term); k <= b {
					w = max(w, f.weight/float64(1+k))
				}
			}
		}
	}
	switch {
	case d.text.tags[stem]:
		w = max(w, weightTags)
	case d.text.description[stem]:
		w = max(w, weightDescription)
	}
	return w
}

func (tq *textQuery) distance(stem, term string) int {
	m := tq.dist[stem]
	if m == nil {
		m = map[string]int{}
		tq.dist[stem] = m
	}
	d, ok := m[term]
	if !ok {
		d = levenshtein(stem, term)
		m[term] = d
	}
	return d
}

// levenshtein is the edit distance of a and b in runes (insertions,
// deletions, substitutions).
func levenshtein(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur := make([]int, len(rb)+1)
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			sub := prev[j-1]
			if ra[i-1] != rb[j-1] {
				sub++
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, sub)
		}
		prev = cur
	}
	return prev[len(rb)]
}
