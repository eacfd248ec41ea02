package elastic

import (
	"fmt"
	"maps"
	"slices"

	bleveanalysis "github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/bleve/v2/analysis/lang/en"
)

// MaxCategoryDepth is the number of depth-keyed category fields
// (category_lvl0 ... category_lvl9). The category facet lists the children of
// a selected path of at most MaxCategoryDepth-1 segments; deeper paths are
// still filtered on, through category_path.
const MaxCategoryDepth = 10

// Field names beyond the canonical document, computed at write time.
const (
	fieldCategoryPath = "category_path"   // every ancestor prefix: "Women", "Women/Dresses", ...
	fieldCategoryLvl  = "category_lvl"    // + depth: the prefix of that depth, for the facet
	fieldListedAt     = "listed_at"       // max(created_at, available_at): the "newest" sort
	fieldSharedMs     = "last_shared_ms"  // last_shared_at in Unix ms, 0 if never: recently_shared sort
	fieldBrandKeyword = "brand.keyword"   // brand as listed: filter and facet
	analyzerText      = "rummage_english" // English analysis of every text field
)

// templateBody is the index template for cfg's indices: explicit mappings
// (dynamic: strict, so a field the code forgot to map fails loudly) and the
// analysis chain.
func templateBody(cfg Config) map[string]any {
	return map[string]any{
		"index_patterns": []string{cfg.IndexPrefix + "-v*"},
		"priority":       200,
		"_meta":          map[string]any{"managed_by": "rummage", "description": "Rummage listings; see query/elastic"},
		"template": map[string]any{
			"settings": indexSettings(cfg),
			"mappings": indexMappings(),
		},
	}
}

func indexSettings(cfg Config) map[string]any {
	s := map[string]any{
		"number_of_shards": cfg.Shards,
		"gc_deletes":       fmt.Sprintf("%ds", int(cfg.GCDeletes.Seconds())),
		"analysis":         analysis(),
	}
	if cfg.Replicas > 0 {
		s["number_of_replicas"] = cfg.Replicas
	} else {
		s["auto_expand_replicas"] = "0-1"
	}
	return map[string]any{"index": s}
}

// analysis: one English chain (possessives, lower case, accents folded,
// stop words, stemming) for every text field, so "dresses" finds "dress".
// Brand aliases are not a synonym filter here: like the embedded backend,
// Search expands an alias into an exact brand match next to the text match,
// so editing the alias file needs a restart, not a reindex.
//
// The stop words are Bleve's English list (stopWords), the embedded
// backend's, listed in the mapping; the query builder (searchable, which
// drops a query word the analyzer would drop) reads the same list.
func analysis() map[string]any {
	return map[string]any{
		"filter": map[string]any{
			"english_possessive": map[string]any{"type": "stemmer", "language": "possessive_english"},
			"english_stop":       map[string]any{"type": "stop", "stopwords": stopWords},
			"english_stemmer":    map[string]any{"type": "stemmer", "language": "english"},
		},
		"analyzer": map[string]any{
			analyzerText: map[string]any{
				"type":      "custom",
				"tokenizer": "standard",
				"filter":    []string{"english_possessive", "lowercase", "asciifolding", "english_stop", "english_stemmer"},
			},
		},
	}
}

func indexMappings() map[string]any {
	keyword := map[string]any{"type": "keyword"}
	long := map[string]any{"type": "long"}
	date := map[string]any{"type": "date"}
	text := map[string]any{"type": "text", "analyzer": analyzerText}
	textKeyword := map[string]any{"type": "text", "analyzer": analyzerText, "fields": map[string]any{"keyword": map[string]any{"type": "keyword", "ignore_above": 256}}}
	props := map[string]any{
		"id":                   keyword,
		"seller_id":            keyword,
		"title":                text,
		"description":          text,
		"brand":                textKeyword,
		"category":             keyword,
		"size":                 keyword,
		"condition":            keyword,
		"price_cents":          long,
		"original_price_cents": long,
		"colors":               keyword,
		"tags":                 textKeyword,
		"images":               map[string]any{"type": "object", "enabled": false},
		"status":               keyword,
		"created_at":           date,
		"updated_at":           date,
		"available_at":         date,
		"like_count":           long,
		"share_count":          long,
		"last_shared_at":       date,
		fieldCategoryPath:      keyword,
		fieldListedAt:          date,
		fieldSharedMs:          long,
	}
	for d := range MaxCategoryDepth {
		props[levelField(d)] = keyword
	}
	return map[string]any{
		"dynamic":    "strict",
		"_source":    map[string]any{"enabled": true},
		"properties": props,
	}
}

func levelField(depth int) string { return fmt.Sprintf("%s%d", fieldCategoryLvl, depth) }

// stopWords is the stop filter's list: Bleve's English stop words
// (analysis/lang/en, the Snowball list), the ones the embedded backend's
// analyzer drops, so that both backends ignore the same query words. It is
// listed in the mapping rather than named ("_english_" is Lucene's shorter
// set), and searchable reads the same list.
var stopWords = func() []string {
	tm := bleveanalysis.NewTokenMap()
	if err := tm.LoadBytes(en.EnglishStopWords); err != nil {
		panic(err) // a constant of the library
	}
	return slices.Sorted(maps.Keys(tm))
}()

// englishStop is stopWords as a set.
var englishStop = func() map[string]bool {
	m := make(map[string]bool, len(stopWords))
	for _, w := range stopWords {
		m[w] = true
	}
	return m
}()
