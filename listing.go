package rummage

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// Listing conditions, from best to worst.
const (
	ConditionNWT     = "nwt"
	ConditionLikeNew = "like_new"
	ConditionGood    = "good"
	ConditionFair    = "fair"
)

// Listing statuses. Only StatusAvailable is shown by search unless asked.
const (
	StatusAvailable = "available"
	StatusReserved  = "reserved"
	StatusSold      = "sold"
	StatusRemoved   = "removed"
)

var conditions = [...]string{ConditionNWT, ConditionLikeNew, ConditionGood, ConditionFair}

// Conditions returns the valid condition values in display order (a new
// slice: callers may keep or change it).
func Conditions() []string { return slices.Clone(conditions[:]) }

// Statuses returns the valid status values (a new slice: callers may keep
// or change it).
func Statuses() []string { return append([]string(nil), statuses...) }

var statuses = []string{StatusAvailable, StatusReserved, StatusSold, StatusRemoved}

// Image is one variant of a listing photo (thumbnail, medium, large).
type Image struct {
	URL    string `json:"url"`
	Width  int    `json:"width"`
	Height int    `json:"height"`
}

// Listing is the canonical listing document of DESIGN.md. Optional time fields
// are pointers so that "absent" and "zero" stay distinct in JSON.
type Listing struct {
	ID                 string     `json:"id"`
	SellerID           string     `json:"seller_id"`
	Title              string     `json:"title"`
	Description        string     `json:"description,omitempty"`
	Brand              string     `json:"brand,omitempty"`
	Category           []string   `json:"category,omitempty"`
	Size               string     `json:"size,omitempty"`
	Condition          string     `json:"condition,omitempty"`
	PriceCents         int64      `json:"price_cents"`
	OriginalPriceCents int64      `json:"original_price_cents,omitempty"`
	Colors             []string   `json:"colors,omitempty"`
	Tags               []string   `json:"tags,omitempty"`
	Images             []Image    `json:"images,omitempty"`
	Status             string     `json:"status"`
	CreatedAt          time.Time  `json:"created_at"`
	UpdatedAt          time.Time  `json:"updated_at"`
	AvailableAt        *time.Time `json:"available_at,omitempty"`
	LikeCount          int64      `json:"like_count"`
	ShareCount         int64      `json:"share_count"`
	LastSharedAt       *time.Time `json:"last_shared_at,omitempty"`
}

// CategoryPath joins the category path with "/", the form used by the API.
func (l *Listing) CategoryPath() string { return strings.Join(l.Category, "/") }

// ListedAt is max(created_at, available_at): when shoppers first saw the
// listing. "Newest", feed_at and freshness use it, so a drop lands at the
// top at its instant rather than days deep.
func (l *Listing) ListedAt() time.Time {
	if l.AvailableAt != nil && l.AvailableAt.After(l.CreatedAt) {
		return *l.AvailableAt
	}
	return l.CreatedAt
}

// VisibleAt reports whether the listing is shown to shoppers at instant now:
// it is available, and a drop (available_at) has started.
func (l *Listing) VisibleAt(now time.Time) bool {
	if l.Status != StatusAvailable {
		return false
	}
	return l.AvailableAt == nil || !l.AvailableAt.After(now)
}

// FieldError reports one invalid field of a document.
type FieldError struct {
	Field   string
	Message string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

// MaxIDLen bounds ids so that they fit in keys, cursors and URLs.
const MaxIDLen = 128

// Normalize fills defaults for missing optional fields: an empty status means
// available, and a zero updated_at takes created_at.
func (l *Listing) Normalize() {
	if l.Status == "" {
		l.Status = StatusAvailable
	}
	if l.UpdatedAt.IsZero() {
		l.UpdatedAt = l.CreatedAt
	}
}

// Validate checks the document against the schema and returns a *FieldError
// naming the first bad field.
func (l *Listing) Validate() error {
	switch {
	case l.ID == "":
		return &FieldError{"id", "is required"}
	case len(l.ID) > MaxIDLen:
		return &FieldError{"id", fmt.Sprintf("is longer than %d bytes", MaxIDLen)}
	case strings.ContainsAny(l.ID, "/\x00"):
		return &FieldError{"id", "must not contain '/' or NUL"}
	case l.SellerID == "":
		return &FieldError{"seller_id", "is required"}
	case strings.TrimSpace(l.Title) == "":
		return &FieldError{"title", "is required"}
	case l.PriceCents < 0:
		return &FieldError{"price_cents", "must be >= 0"}
	case l.OriginalPriceCents < 0:
		return &FieldError{"original_price_cents", "must be >= 0"}
	case l.LikeCount < 0:
		return &FieldError{"like_count", "must be >= 0"}
	case l.ShareCount < 0:
		return &FieldError{"share_count", "must be >= 0"}
	}
	if l.Condition != "" && !contains(conditions[:], l.Condition) {
		return &FieldError{"condition", fmt.Sprintf("%q is not one of %s", l.Condition, strings.Join(conditions[:], ", "))}
	}
	if l.Status != "" && !contains(statuses, l.Status) {
		return &FieldError{"status", fmt.Sprintf("%q is not one of %s", l.Status, strings.Join(statuses, ", "))}
	}
	for i, c := range l.Category {
		if strings.TrimSpace(c) == "" || strings.Contains(c, "/") {
			return &FieldError{fmt.Sprintf("category[%d]", i), "must be non-empty and must not contain '/'"}
		}
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// LineError is a bad line of a JSONL stream. Decoding can go on after it.
type LineError struct {
	Line  int
	Field string // empty when the line is not valid JSON
	Err   error
}

func (e *LineError) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("line %d: field %s: %v", e.Line, e.Field, e.Err)
	}
	return fmt.Sprintf("line %d: %v", e.Line, e.Err)
}

func (e *LineError) Unwrap() error { return e.Err }

// MaxLineBytes bounds one JSONL line.
const MaxLineBytes = 1 << 20

// Decoder reads listings from JSONL, one object per line. Blank lines are
// skipped; unknown fields are ignored.
type Decoder struct {
	sc   *bufio.Scanner
	line int
}

// NewDecoder returns a Decoder reading from r.
func NewDecoder(r io.Reader) *Decoder {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), MaxLineBytes)
	return &Decoder{sc: sc}
}

// Next returns the next listing, normalized and validated. A bad line yields a
// *LineError and the decoder stays usable: call Next again to go on. At the end
// of input it returns io.EOF; a read failure is returned as is and is final.
func (d *Decoder) Next() (Listing, error) {
	for d.sc.Scan() {
		d.line++
		b := d.sc.Bytes()
		if len(strings.TrimSpace(string(b))) == 0 {
			continue
		}
		var l Listing
		if err := json.Unmarshal(b, &l); err != nil {
			var te *json.UnmarshalTypeError
			if errors.As(err, &te) {
				return Listing{}, &LineError{Line: d.line, Field: te.Field, Err: fmt.Errorf("wrong type: want %s", te.Type)}
			}
			return Listing{}, &LineError{Line: d.line, Err: fmt.Errorf("invalid JSON: %w", err)}
		}
		l.Normalize()
		if err := l.Validate(); err != nil {
			var fe *FieldError
			errors.As(err, &fe)
			return Listing{}, &LineError{Line: d.line, Field: fe.Field, Err: errors.New(fe.Message)}
		}
		return l, nil
	}
	if err := d.sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return Listing{}, fmt.Errorf("line %d: longer than %d bytes", d.line+1, MaxLineBytes)
		}
		return Listing{}, err
	}
	return Listing{}, io.EOF
}

// Line is the number of the line last read.
func (d *Decoder) Line() int { return d.line }

// DecodeAll reads every listing of a JSONL stream; the first bad line is
// an error.
func DecodeAll(r io.Reader) ([]Listing, error) {
	var out []Listing
	for dec := NewDecoder(r); ; {
		l, err := dec.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		out = append(out, l)
	}
}
