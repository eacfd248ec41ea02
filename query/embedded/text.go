package embedded

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/blevesearch/bleve/v2/index/scorch"
	"github.com/blevesearch/bleve/v2/search"
	bq "github.com/blevesearch/bleve/v2/search/query"
	segment "github.com/blevesearch/scorch_segment_api/v2"

	"github.com/rummage/rummage/query"
)

// Weights of the text fields, and of a typo: a match one edit off counts
// half, two edits a third. An alias hit on the whole brand outweighs a brand
// word match.
var fieldWeight = map[string]float64{fBrand: 4, fTitle: 3, fTags: 2, fDescription: 1}

const aliasWeight = 6.0

// categoryWeight is what a query word earns on a listing whose category
// (its leaf, the most specific node) the word names, as much as a title
// match: "lulu leggings" should rank the Leggings first, not the
// "Wide-Leg" coats whose title stems to the same "leg". Relevance order is
// engine-specific (see query/conformance): Elasticsearch has no such boost.
const categoryWeight = 3.0

func editPenalty(d int) float64 { return 1 / float64(1+d) }

// commonTerm is the number of documents (title or brand) above which a word
// is taken as spelled right: its typo variants are not searched. A word many
// listings use is a real word, whose neighbours ("shirt" and "skirt") are
// other words the shopper did not mean; and skipping the expansion keeps
// common queries cheap.
const commonTerm = 3

// variant is a set of index terms in one field that count as the query word,
// with the weight a match earns (field weight × typo penalty).
type variant struct {
	field  string
	weight float64
	terms  []string
}

// wordPlan is one query token: its stem and its variants, heaviest first.
type wordPlan struct {
	stem     string
	variants []variant
}

// clausePlan must match: every word matches, or (for an alias) the brand
// matches exactly.
type clausePlan struct {
	words    []*wordPlan
	aliasKey string // brand_key term; empty unless the words are an alias
}

// planText turns q into clauses. ok is false when q has no searchable word (only
// stop words or punctuation): such a query matches nothing.
func (x *Index) planText(q string, snap *scorch.IndexSnapshot) ([]clausePlan, bool, error) {
	words := strings.Fields(strings.ToLower(q))
	var out []clausePlan
	for i := 0; i < len(words); {
		n, brand := x.aliasAt(words[i:])
		c := clausePlan{}
		if n > 0 {
			c.aliasKey = strings.ToLower(brand)
		} else {
			n = 1
		}
		for _, w := range words[i : i+n] {
			wps, err := x.wordPlans(w, snap)
			if err != nil {
				return nil, false, err
			}
			c.words = append(c.words, wps...)
		}
		if len(c.words) > 0 || c.aliasKey != "" {
			out = append(out, c)
		}
		i += n
	}
	return out, len(out) > 0, nil
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

// tokens returns the stemmed searchable tokens of a whitespace word ("a&f"
// is two tokens; "the" none) and each token's length in runes before
// stemming.
func (x *Index) tokens(w string) (stems []string, lens []int) {
	for _, tok := range x.an.raw.Analyze([]byte(w)) {
		s := x.an.text.Analyze(tok.Term)
		if len(s) == 0 {
			continue // a stop word
		}
		stems = append(stems, string(s[0].Term))
		lens = append(lens, utf8.RuneCount(tok.Term))
	}
	return stems, lens
}

func (x *Index) wordPlans(w string, snap *scorch.IndexSnapshot) ([]*wordPlan, error) {
	stems, lens := x.tokens(w)
	var out []*wordPlan
	for i, stem := range stems {
		wp := &wordPlan{stem: stem}
		for _, f := range textFields {
			wp.variants = append(wp.variants, variant{field: f, weight: fieldWeight[f], terms: []string{stem}})
		}
		if fz := query.TypoEdits(lens[i]); fz > 0 && !common(snap, stem) {
			for _, f := range []string{fBrand, fTitle} {
				byDist := map[int][]string{}
				fd, err := snap.FieldDictFuzzy(f, stem, fz, "")
				if err != nil {
					return nil, fmt.Errorf("embedded: fuzzy %q: %w", stem, err)
				}
				for {
					e, err := fd.Next()
					if err != nil {
						fd.Close()
						return nil, err
					}
					if e == nil {
						break
					}
					if d := levenshtein(stem, e.Term); d > 0 && d <= fz {
						byDist[d] = append(byDist[d], e.Term)
					}
				}
				fd.Close()
				for d, terms := range byDist {
					wp.variants = append(wp.variants, variant{field: f, weight: fieldWeight[f] * editPenalty(d), terms: terms})
				}
			}
		}
		slices.SortStableFunc(wp.variants, func(a, b variant) int { return -cmpFloat(a.weight, b.weight) })
		out = append(out, wp)
	}
	return out, nil
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// common reports whether more than commonTerm documents hold term in their
// title or brand. It counts segment by segment and stops as soon as the
// count is above commonTerm: a common word costs a lookup or two, not one
// per segment and field.
func common(snap *scorch.IndexSnapshot, term string) bool {
	n := uint64(0)
	for _, ss := range snap.Segments() {
		seg := ss.Segment()
		for _, f := range []string{fTitle, fBrand} {
			d, err := seg.Dictionary(f)
			if err != nil {
				return false
			}
			pl, err := d.PostingsList([]byte(term), ss.Deleted(), nil)
			if err != nil {
				return false
			}
			if n += pl.Count(); n > commonTerm {
				return true
			}
		}
	}
	return false
}

// levenshtein is the edit distance between two short strings, in runes.
func levenshtein(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}

// textHits are the documents a text query matched with their text scores.
type textHits struct {
	ords   []uint32
	scores []float64
	docs   []uint64 // global doc number of each hit; only from matchText
}

type orInto interface{ OrInto(*roaring.Bitmap) }

// segMatch is what one segment contributed: the matching local documents
// and, for scoring, the bitmap of every variant.
type segMatch struct {
	match   *roaring.Bitmap
	variant [][][]*roaring.Bitmap // [clause][word][variant]
	alias   []*roaring.Bitmap     // [clause]; nil unless an alias clause
}

// postings ORs the postings of terms of field in one segment.
func postings(dicts map[string]segment.TermDictionary, seg segment.Segment, field string, terms []string) (*roaring.Bitmap, error) {
	d, ok := dicts[field]
	if !ok {
		var err error
		if d, err = seg.Dictionary(field); err != nil {
			return nil, err
		}
		dicts[field] = d
	}
	b := roaring.New()
	for _, t := range terms {
		pl, err := d.PostingsList([]byte(t), nil, nil)
		if err != nil {
			return nil, err
		}
		oi, ok := pl.(orInto)
		if !ok {
			return nil, fmt.Errorf("embedded: segment postings %T cannot be read as a bitmap", pl)
		}
		oi.OrInto(b)
	}
	return b, nil
}

// matchText evaluates the clauses on every segment of the pinned snapshot
// with roaring bitmaps: zap keeps each term's postings as a bitmap of
// local doc numbers, so AND across words and OR across fields and typo
// variants are bitmap operations, and only the final matches are visited,
// each mapped to its ordinal through the segment's ordinal map. Scores are
// computed only when score is set (relevance sort): per word, idf × the
// weight of the heaviest variant that matched; per alias clause,
// aliasWeight × idf when the brand matched exactly. Caller holds mu shared.
func (x *Index) matchText(ctx context.Context, snap *scorch.IndexSnapshot, segs []segView, clauses []clausePlan, score bool) (*textHits, error) {
	ss := snap.Segments()
	matches := make([]segMatch, len(ss))
	df := make([][]uint64, len(clauses)) // [clause][word]
	aliasDF := make([]uint64, len(clauses))
	for ci := range clauses {
		df[ci] = make([]uint64, len(clauses[ci].words))
	}
	for si, s := range ss {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		seg := s.Segment()
		dicts := map[string]segment.TermDictionary{}
		m := segMatch{variant: make([][][]*roaring.Bitmap, len(clauses)), alias: make([]*roaring.Bitmap, len(clauses))}
		var all *roaring.Bitmap
		for ci, c := range clauses {
			var cm *roaring.Bitmap
			m.variant[ci] = make([][]*roaring.Bitmap, len(c.words))
			for wi, w := range c.words {
				vbs := make([]*roaring.Bitmap, len(w.variants))
				for vi, v := range w.variants {
					b, err := postings(dicts, seg, v.field, v.terms)
					if err != nil {
						return nil, fmt.Errorf("embedded: text query: %w", err)
					}
					vbs[vi] = b
				}
				m.variant[ci][wi] = vbs
				wm := roaring.FastOr(vbs...)
				df[ci][wi] += wm.GetCardinality()
				if cm == nil {
					cm = wm
				} else {
					cm.And(wm)
				}
			}
			if c.aliasKey != "" {
				ab, err := postings(dicts, seg, fBrandKey, []string{c.aliasKey})
				if err != nil {
					return nil, fmt.Errorf("embedded: text query: %w", err)
				}
				m.alias[ci] = ab
				aliasDF[ci] += ab.GetCardinality()
				if cm == nil {
					cm = ab.Clone()
				} else {
					cm.Or(ab)
				}
			}
			if all == nil {
				all = cm
			} else {
				all.And(cm)
			}
			if all.IsEmpty() {
				break
			}
		}
		if all == nil || all.IsEmpty() {
			continue
		}
		if del := s.Deleted(); del != nil {
			all.AndNot(del)
		}
		m.match = all
		matches[si] = m
	}

	n := float64(x.cols.live)
	idf := func(df uint64) float64 { return 1 + math.Log((n+1)/(float64(df)+1)) }
	// The weight a match earns: [clause][word][variant], and per alias clause.
	wts := make([][][]float64, len(clauses))
	aliasWt := make([]float64, len(clauses))
	for ci, c := range clauses {
		aliasWt[ci] = aliasWeight * idf(aliasDF[ci])
		wts[ci] = make([][]float64, len(c.words))
		for wi, w := range c.words {
			wts[ci][wi] = make([]float64, len(w.variants))
			for vi, v := range w.variants {
				wts[ci][wi][vi] = v.weight * idf(df[ci][wi])
			}
		}
	}
	// The hits, sized once for every segment's matches.
	total := 0
	for si := range matches {
		if m := matches[si].match; m != nil {
			total += int(m.GetCardinality())
		}
	}
	h := &textHits{ords: make([]uint32, 0, total), docs: make([]uint64, 0, total)}
	if score {
		h.scores = make([]float64, 0, total)
	}
	var locals []uint32
	var sc []float64
	var sub []uint32
	for si := range matches {
		m := &matches[si]
		if m.match == nil {
			continue
		}
		ords := segs[si].ords
		locals = m.match.ToArray()
		if score {
			// Score by walking sorted arrays, not a Contains per hit and
			// variant. Per word, the variants are taken heaviest first
			// over the hits that no heavier variant matched, so each hit
			// gets the heaviest weight it earns, and a word stops once
			// every hit has its weight (usually after one or two).
			sc = resize(sc, len(locals))
			clear(sc)
			add := func(hit *roaring.Bitmap, wt float64) {
				sub = hit.ToArray()
				j := 0
				for _, l := range sub {
					for locals[j] < l {
						j++
					}
					sc[j] += wt
				}
			}
			for ci, c := range clauses {
				if m.alias[ci] != nil {
					add(roaring.And(m.alias[ci], m.match), aliasWt[ci])
				}
				for wi := range c.words {
					rem := m.match.Clone()
					for vi, b := range m.variant[ci][wi] {
						hit := roaring.And(rem, b)
						if hit.IsEmpty() {
							continue
						}
						add(hit, wts[ci][wi][vi])
						if rem.AndNot(hit); rem.IsEmpty() {
							break
						}
					}
				}
			}
		}
		for j, local := range locals {
			if int(local) >= len(ords) || ords[local] == noOrd {
				continue
			}
			h.ords = append(h.ords, ords[local])
			h.docs = append(h.docs, segs[si].offset+uint64(local))
			if score {
				h.scores = append(h.scores, sc[j])
			}
		}
	}
	if score {
		// The category boost, by category node (leaf) a query word names.
		var boost []float64
		for ci, c := range clauses {
			for wi, w := range c.words {
				for _, node := range x.catWords.nodes(x, w.stem) {
					if boost == nil {
						boost = make([]float64, len(x.cols.nodes))
					}
					boost[node] += categoryWeight * idf(df[ci][wi])
				}
			}
		}
		if boost != nil {
			nodeCol := x.cols.nodeCol // 4 bytes a listing: fewer cache misses than rows
			for i, o := range h.ords {
				h.scores[i] += boost[nodeCol[o]]
			}
		}
	}
	return h, nil
}

// categoryWords maps a word's stem to the category nodes whose own name
// (the last part of the path: "Leggings", "Coats & Jackets") holds it,
// extended with the nodes added since its last use. Safe for concurrent
// searches.
type categoryWords struct {
	mu      sync.Mutex
	covered int // nodes 1..covered-1 are in byStem
	byStem  map[string][]uint32
}

// nodes returns the nodes whose name holds stem. Caller holds x.mu shared.
func (cw *categoryWords) nodes(x *Index, stem string) []uint32 {
	cw.mu.Lock()
	defer cw.mu.Unlock()
	if cw.byStem == nil {
		cw.byStem = map[string][]uint32{}
		cw.covered = 1 // node 0 is the root
	}
	// Nodes are only ever appended: add the new ones.
	for ; cw.covered < len(x.cols.nodes); cw.covered++ {
		p := x.cols.nodes[cw.covered].path
		seen := map[string]bool{}
		for _, w := range strings.Fields(strings.ToLower(p[strings.LastIndexByte(p, '/')+1:])) {
			stems, _ := x.tokens(w)
			for _, s := range stems {
				if !seen[s] {
					seen[s] = true
					cw.byStem[s] = append(cw.byStem[s], uint32(cw.covered))
				}
			}
		}
	}
	return cw.byStem[stem]
}

// resize returns s with length n, reusing its array when it is big enough.
func resize[T any](s []T, n int) []T {
	if cap(s) >= n {
		return s[:n]
	}
	return make([]T, n)
}

// bleveQuery is the text query as a plain Bleve application writes it (a
// disjunction over the four fields per word, fuzzy on brand and title for
// rare words, an exact brand_key clause for aliases). The baseline and
// BenchmarkHitMapping use it; Search uses matchText.
func (x *Index) bleveQuery(q string, snap *scorch.IndexSnapshot) (bq.Query, bool) {
	words := strings.Fields(strings.ToLower(q))
	var clauses []bq.Query
	wordQ := func(w string) []bq.Query {
		var out []bq.Query
		stems, lens := x.tokens(w)
		for i, stem := range stems {
			var dis []bq.Query
			for _, f := range textFields {
				t := bq.NewTermQuery(stem)
				t.SetField(f)
				t.SetBoost(fieldWeight[f])
				dis = append(dis, t)
			}
			if fz := query.TypoEdits(lens[i]); fz > 0 && !common(snap, stem) {
				for _, f := range []string{fBrand, fTitle} {
					fq := bq.NewFuzzyQuery(stem)
					fq.SetField(f)
					fq.SetFuzziness(fz)
					fq.SetBoost(fieldWeight[f] / 2)
					dis = append(dis, fq)
				}
			}
			out = append(out, bq.NewDisjunctionQuery(dis))
		}
		return out
	}
	for i := 0; i < len(words); {
		n, brand := x.aliasAt(words[i:])
		if n == 0 {
			clauses = append(clauses, wordQ(words[i])...)
			i++
			continue
		}
		alias := bq.NewTermQuery(strings.ToLower(brand))
		alias.SetField(fBrandKey)
		alias.SetBoost(aliasWeight)
		var sub []bq.Query
		for _, w := range words[i : i+n] {
			sub = append(sub, wordQ(w)...)
		}
		if len(sub) == 0 {
			clauses = append(clauses, alias)
		} else {
			clauses = append(clauses, bq.NewDisjunctionQuery([]bq.Query{alias, bq.NewConjunctionQuery(sub)}))
		}
		i += n
	}
	if len(clauses) == 0 {
		return nil, false
	}
	if len(clauses) == 1 {
		return clauses[0], true
	}
	return bq.NewConjunctionQuery(clauses), true
}

// matchSearcher runs a Bleve query's Searcher directly on the snapshot and
// maps each match to its ordinal through the segment maps. It was the text
// path before matchText; BenchmarkHitMapping keeps it for comparison.
func (x *Index) matchSearcher(ctx context.Context, snap *scorch.IndexSnapshot, segs []segView, q bq.Query) (*textHits, error) {
	s, err := q.Searcher(ctx, snap, x.m, search.SearcherOptions{Score: "default"})
	if err != nil {
		return nil, fmt.Errorf("embedded: text query: %w", err)
	}
	defer s.Close()
	sctx := &search.SearchContext{DocumentMatchPool: search.NewDocumentMatchPool(s.DocumentMatchPoolSize(), 0), IndexReader: snap}
	h := &textHits{}
	seg := 0
	for {
		dm, err := s.Next(sctx)
		if err != nil {
			return nil, fmt.Errorf("embedded: text query: %w", err)
		}
		if dm == nil {
			return h, nil
		}
		num := dm.IndexInternalID.Value()
		for seg+1 < len(segs) && num >= segs[seg+1].offset {
			seg++
		}
		if local := num - segs[seg].offset; local < uint64(len(segs[seg].ords)) {
			if o := segs[seg].ords[local]; o != noOrd {
				h.ords = append(h.ords, o)
				h.scores = append(h.scores, dm.Score)
			}
		}
		sctx.DocumentMatchPool.Put(dm)
	}
}

// matchExternalID is matchSearcher the simple way, one ExternalID per hit.
// BenchmarkHitMapping shows why nothing uses it.
func (x *Index) matchExternalID(ctx context.Context, snap *scorch.IndexSnapshot, q bq.Query) (*textHits, error) {
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
		if o, ok := x.cols.ids.lookup(id); ok {
			h.ords = append(h.ords, o)
			h.scores = append(h.scores, dm.Score)
		}
		sctx.DocumentMatchPool.Put(dm)
	}
}
