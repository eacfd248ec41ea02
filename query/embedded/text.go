package embedded

import (
	"context"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/blevesearch/bleve/v2/index/scorch"
	"github.com/blevesearch/bleve/v2/search"
	bq "github.com/blevesearch/bleve/v2/search/query"

	"github.com/rummage/rummage/query"
)

// Boosts of the text query. Field weights live in the document (see
// buildDoc). Fuzzy clauses also match the exact term (Bleve boosts fuzzy
// candidates by edit distance), so an exact word scores exact + fuzzy and
// ranks above a typo; an alias hit on the whole brand beats both.
const (
	boostFuzzy = 0.5
	boostAlias = 8.0
)

// fuzziness is the edit distance a query word of n runes may be off by.
func fuzziness(n int) int {
	switch {
	case n < 4:
		return 0
	case n <= 7:
		return 1
	}
	return 2
}

// textQuery builds the Bleve query of q: every word must match (in title,
// brand, description or tags, stemmed); a word that is rare or absent in the
// index may also match with typos; a run of words that is a
// brand alias may instead match the brand exactly. ok is false when q has no
// searchable word (only stop words or punctuation): such a query matches
// nothing. snap is used to look up how common each word is.
func (x *Index) textQuery(q string, snap *scorch.IndexSnapshot) (bq.Query, bool) {
	words := strings.Fields(strings.ToLower(q))
	var clauses []bq.Query
	for i := 0; i < len(words); {
		n, brand := x.aliasAt(words[i:])
		if n > 0 {
			alias := bq.NewTermQuery(strings.ToLower(brand))
			alias.SetField(fBrandKey)
			alias.SetBoost(boostAlias)
			var sub []bq.Query
			for _, w := range words[i : i+n] {
				sub = append(sub, x.wordClauses(w, snap)...)
			}
			if len(sub) == 0 {
				clauses = append(clauses, alias)
			} else {
				clauses = append(clauses, bq.NewDisjunctionQuery([]bq.Query{alias, conj(sub)}))
			}
			i += n
			continue
		}
		clauses = append(clauses, x.wordClauses(words[i], snap)...)
		i++
	}
	if len(clauses) == 0 {
		return nil, false
	}
	return conj(clauses), true
}

func conj(qs []bq.Query) bq.Query {
	if len(qs) == 1 {
		return qs[0]
	}
	return bq.NewConjunctionQuery(qs)
}

// aliasAt returns the number of leading words that form the longest alias.
func (x *Index) aliasAt(words []string) (int, string) {
	for n := min(len(words), query.MaxAliasWords); n > 0; n-- {
		if b, ok := x.aliases[strings.Join(words[:n], " ")]; ok {
			return n, b
		}
	}
	return 0, ""
}

// commonTerm is the number of documents above which a word is taken as
// spelled right: its typo variants are not searched. A fuzzy expansion costs
// a Levenshtein automaton per field plus a disjunction over every near term,
// several times the cost of the exact term; and a word that many listings
// use is a real word, whose neighbours ("shirt" and "skirt") are other words
// the shopper did not mean.
const commonTerm = 3

// wordClauses returns one clause per searchable token of a whitespace word
// ("a&f" is two tokens; "the" none).
func (x *Index) wordClauses(w string, snap *scorch.IndexSnapshot) []bq.Query {
	var out []bq.Query
	for _, tok := range x.an.raw.Analyze([]byte(w)) {
		stems := x.an.text.Analyze(tok.Term)
		if len(stems) == 0 {
			continue // a stop word
		}
		stem := string(stems[0].Term)
		exact := bq.NewTermQuery(stem)
		exact.SetField(fText)
		fz := fuzziness(utf8.RuneCount(tok.Term))
		if fz == 0 || x.common(snap, stem) {
			out = append(out, exact)
			continue
		}
		fq := bq.NewFuzzyQuery(stem)
		fq.SetField(fText)
		fq.SetFuzziness(fz)
		fq.SetBoost(boostFuzzy)
		out = append(out, bq.NewDisjunctionQuery([]bq.Query{exact, fq}))
	}
	return out
}

// common reports whether more than commonTerm documents hold term.
func (x *Index) common(snap *scorch.IndexSnapshot, term string) bool {
	if snap == nil {
		return false
	}
	r, err := snap.TermFieldReader(context.Background(), []byte(term), fText, false, false, false)
	if err != nil {
		return false
	}
	defer r.Close()
	return r.Count() > commonTerm
}

// textHits are the documents a text query matched, in doc-number order.
type textHits struct {
	ords   []uint32
	scores []float64
}

// matchText runs the text query on the pinned snapshot and maps every match
// to its ordinal through the segment views: no per-hit id lookup. Caller
// holds mu shared.
func (x *Index) matchText(ctx context.Context, snap *scorch.IndexSnapshot, segs []segView, q bq.Query) (*textHits, error) {
	s, err := q.Searcher(ctx, snap, x.m, search.SearcherOptions{Score: "default"})
	if err != nil {
		return nil, fmt.Errorf("embedded: text query: %w", err)
	}
	defer s.Close()
	sctx := &search.SearchContext{
		DocumentMatchPool: search.NewDocumentMatchPool(s.DocumentMatchPoolSize(), 0),
		IndexReader:       snap,
	}
	h := &textHits{}
	seg := 0
	for n := 0; ; n++ {
		if n%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		dm, err := s.Next(sctx)
		if err != nil {
			return nil, fmt.Errorf("embedded: text query: %w", err)
		}
		if dm == nil {
			break
		}
		num := dm.IndexInternalID.Value()
		// Matches come in doc-number order, so the segment only moves forward.
		for seg+1 < len(segs) && num >= segs[seg+1].offset {
			seg++
		}
		for seg > 0 && num < segs[seg].offset {
			seg--
		}
		local := num - segs[seg].offset
		if local < uint64(len(segs[seg].ords)) {
			if o := segs[seg].ords[local]; o != noOrd {
				h.ords = append(h.ords, o)
				h.scores = append(h.scores, dm.Score)
			}
		}
		sctx.DocumentMatchPool.Put(dm)
	}
	return h, nil
}

// matchTextExternalID is matchText the simple way, one ExternalID per hit.
// Kept for BenchmarkHitMapping, which shows why matchText does not use it.
func (x *Index) matchTextExternalID(ctx context.Context, q bq.Query) (*textHits, error) {
	snap := x.snap
	s, err := q.Searcher(ctx, snap, x.m, search.SearcherOptions{Score: "default"})
	if err != nil {
		return nil, err
	}
	defer s.Close()
	sctx := &search.SearchContext{DocumentMatchPool: search.NewDocumentMatchPool(s.DocumentMatchPoolSize(), 0), IndexReader: snap}
	h := &textHits{}
	for {
		dm, err := s.Next(sctx)
		if err != nil {
			return nil, err
		}
		if dm == nil {
			return h, nil
		}
		id, err := snap.ExternalID(dm.IndexInternalID)
		if err != nil {
			return nil, err
		}
		if o, ok := x.cols.ordOf[id]; ok {
			h.ords = append(h.ords, o)
			h.scores = append(h.scores, dm.Score)
		}
		sctx.DocumentMatchPool.Put(dm)
	}
}
