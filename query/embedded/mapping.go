package embedded

import (
	"fmt"
	"strings"

	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/bleve/v2/analysis/analyzer/custom"
	"github.com/blevesearch/bleve/v2/analysis/analyzer/keyword"
	"github.com/blevesearch/bleve/v2/analysis/lang/en"
	"github.com/blevesearch/bleve/v2/analysis/token/lowercase"
	"github.com/blevesearch/bleve/v2/analysis/tokenizer/single"
	"github.com/blevesearch/bleve/v2/analysis/tokenizer/unicode"
	"github.com/blevesearch/bleve/v2/document"
	"github.com/blevesearch/bleve/v2/mapping"
	index "github.com/blevesearch/bleve_index_api"

	"github.com/rummage/rummage"
)

// Field names in the Bleve index.
const (
	fTitle       = "title"
	fBrand       = "brand"
	fTags        = "tags"
	fDescription = "description"
	fBrandKey    = "brand_key" // the whole brand, lower-cased: exact alias matches
	fStored      = "_r"        // the stored record; not indexed

	// Only with Config.BaselineFacetFields: what Bleve's own facet builder
	// and sort need, for the baseline of rummage bench search.
	fbBrand     = "f_brand"
	fbSize      = "f_size"
	fbCondition = "f_condition"
	fbColor     = "f_color"
	fbCategory  = "f_category" // every prefix of the path, joined by "/"
	fbPrice     = "f_price"
	fbStatus    = "f_status"
	fbAvail     = "f_avail"
	fbCreated   = "f_created" // listed_at: max(created_at, available_at)
	fbShared    = "f_shared"
)

const (
	analyzerText = en.AnalyzerName
	analyzerKey  = "rummage_lower_keyword"
	analyzerRaw  = "rummage_raw" // query side only: words, lower-cased, unstemmed
)

// newMapping is the explicit, lean mapping: no dynamic fields, no _all, no
// term vectors (no phrase queries or highlighting are needed), no doc values
// on text. Documents are built by hand (see buildDoc), so the mapping serves
// query analysis and documents the schema.
func newMapping(baseline bool) (*mapping.IndexMappingImpl, error) {
	m := mapping.NewIndexMapping()
	// Both custom analyzers lower-case what a tokenizer cuts: the keyword
	// one keeps the whole value, the raw one splits words.
	for name, tokenizer := range map[string]string{analyzerKey: single.Name, analyzerRaw: unicode.Name} {
		if err := m.AddCustomAnalyzer(name, map[string]any{
			"type":          custom.Name,
			"tokenizer":     tokenizer,
			"token_filters": []any{lowercase.Name},
		}); err != nil {
			return nil, err
		}
	}
	m.DefaultAnalyzer = analyzerText
	m.StoreDynamic = false
	m.IndexDynamic = false
	m.DocValuesDynamic = false

	// lean is a text field with nothing kept beside its index: no stored
	// value, term vectors, _all or doc values.
	lean := func() *mapping.FieldMapping {
		f := mapping.NewTextFieldMapping()
		f.Store = false
		f.IncludeTermVectors = false
		f.IncludeInAll = false
		f.DocValues = false
		return f
	}
	text := func() *mapping.FieldMapping {
		f := lean()
		f.Analyzer = analyzerText
		return f
	}
	dm := mapping.NewDocumentStaticMapping()
	for _, f := range textFields {
		dm.AddFieldMappingsAt(f, text())
	}
	bk := text()
	bk.Analyzer = analyzerKey
	dm.AddFieldMappingsAt(fBrandKey, bk)
	st := lean() // stored only: the record
	st.Index = false
	st.Store = true
	dm.AddFieldMappingsAt(fStored, st)
	if baseline {
		for _, f := range []string{fbBrand, fbSize, fbCondition, fbColor, fbCategory, fbStatus} {
			k := mapping.NewKeywordFieldMapping()
			k.Analyzer = keyword.Name
			k.Store = false
			k.IncludeInAll = false
			k.DocValues = true
			dm.AddFieldMappingsAt(f, k)
		}
		for _, f := range []string{fbPrice, fbAvail, fbCreated, fbShared} {
			n := mapping.NewNumericFieldMapping()
			n.Store = false
			n.IncludeInAll = false
			n.DocValues = true
			dm.AddFieldMappingsAt(f, n)
		}
	}
	m.DefaultMapping = dm
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("embedded: mapping: %w", err)
	}
	return m, nil
}

// analyzers are the analyzers documents are built with, from the mapping.
type analyzers struct {
	text, key, raw, exact analysis.Analyzer
}

func newAnalyzers(m *mapping.IndexMappingImpl) (analyzers, error) {
	var a analyzers
	for _, x := range []struct {
		name string
		dst  *analysis.Analyzer
	}{{analyzerText, &a.text}, {analyzerKey, &a.key}, {analyzerRaw, &a.raw}, {keyword.Name, &a.exact}} {
		an := m.AnalyzerNamed(x.name)
		if an == nil {
			return a, fmt.Errorf("embedded: analyzer %q missing", x.name)
		}
		*x.dst = an
	}
	return a, nil
}

const (
	optText   = index.IndexField
	optStored = index.StoreField
	optFacet  = index.IndexField | index.DocValues
)

// buildDoc makes the Bleve document of a listing, or of a tombstone when l
// is nil: a tombstone is a document with no indexed field, which keeps the
// version of a delete durable in the same batch as everything else.
func buildDoc(id string, l *rummage.Listing, version uint64, an *analyzers, baseline bool) (*document.Document, error) {
	rec, err := encodeRecord(nil, l, version)
	if err != nil {
		return nil, err
	}
	d := document.NewDocument(id)
	d.AddField(document.NewTextFieldCustom(fStored, nil, rec, optStored, nil))
	if l == nil {
		return d, nil
	}
	add := func(name, v string, a analysis.Analyzer) {
		if v != "" {
			d.AddField(document.NewTextFieldCustom(name, nil, []byte(v), optText, a))
		}
	}
	add(fTitle, l.Title, an.text)
	add(fBrand, l.Brand, an.text)
	add(fBrandKey, l.Brand, an.key)
	add(fDescription, l.Description, an.text)
	for i, t := range l.Tags {
		if t != "" {
			d.AddField(document.NewTextFieldCustom(fTags, []uint64{uint64(i)}, []byte(t), optText, an.text))
		}
	}
	if baseline {
		kw := func(name, v string) {
			if v != "" {
				d.AddField(document.NewTextFieldCustom(name, nil, []byte(v), optFacet, an.exact))
			}
		}
		kw(fbBrand, l.Brand)
		kw(fbSize, l.Size)
		kw(fbCondition, l.Condition)
		kw(fbStatus, l.Status)
		for _, c := range l.Colors {
			kw(fbColor, c)
		}
		for i := range l.Category {
			kw(fbCategory, strings.Join(l.Category[:i+1], "/"))
		}
		num := func(name string, v int64) {
			d.AddField(document.NewNumericFieldWithIndexingOptions(name, nil, float64(v), optFacet))
		}
		num(fbPrice, l.PriceCents)
		num(fbCreated, l.ListedAt().UnixMilli())
		if l.AvailableAt != nil {
			num(fbAvail, l.AvailableAt.UnixMilli())
		}
		if l.LastSharedAt != nil {
			num(fbShared, l.LastSharedAt.UnixMilli())
		} else {
			num(fbShared, 0)
		}
	}
	return d, nil
}

// textFields are the full-text fields, by decreasing weight.
var textFields = []string{fBrand, fTitle, fTags, fDescription}
