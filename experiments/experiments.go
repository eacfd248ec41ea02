package experiments

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
)

// DefaultStrength is the personalization strength (0–100) of a shopper in
// no experiment that sets one.
const DefaultStrength = 50

// Settings are the ranking settings a variant changes; unset fields keep
// the defaults.
type Settings struct {
	// Personalization is the strength of the profile boost, 0–100
	// (Algolia's impact); 0 turns it off.
	Personalization *int `json:"personalization,omitempty"`
}

// Variant is one arm of an experiment.
type Variant struct {
	Name string `json:"name"`
	// Percent of the units assigned to it; an experiment's variants add
	// up to at most 100, the rest is not in the experiment.
	Percent  int      `json:"percent"`
	Settings Settings `json:"settings"`
	// ChangesRetrieval marks settings that change what retrieval returns
	// (not only its order above the cache): the variant is then part of
	// the cache key.
	ChangesRetrieval bool `json:"changes_retrieval,omitempty"`
}

// Experiment is a named experiment.
type Experiment struct {
	Name     string    `json:"name"`
	Variants []Variant `json:"variants"`
}

// Config is the set of running experiments and the defaults.
type Config struct {
	// Strength is the default personalization strength (0–100); nil:
	// DefaultStrength.
	Strength    *int         `json:"strength,omitempty"`
	Experiments []Experiment `json:"experiments"`
}

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,63}$`)

// Validate reports a configuration New refuses.
func (c Config) Validate() error {
	if c.Strength != nil && (*c.Strength < 0 || *c.Strength > 100) {
		return fmt.Errorf("experiments: strength %d: want 0..100", *c.Strength)
	}
	seen := map[string]bool{}
	for _, e := range c.Experiments {
		if !nameRE.MatchString(e.Name) {
			return fmt.Errorf("experiments: name %q: want [a-z0-9][a-z0-9_.-]*, at most 64 bytes", e.Name)
		}
		if seen[e.Name] {
			return fmt.Errorf("experiments: %s twice", e.Name)
		}
		seen[e.Name] = true
		if len(e.Variants) < 1 {
			return fmt.Errorf("experiments: %s has no variant", e.Name)
		}
		total := 0
		vs := map[string]bool{}
		for _, v := range e.Variants {
			if !nameRE.MatchString(v.Name) || vs[v.Name] {
				return fmt.Errorf("experiments: %s: variant name %q bad or repeated", e.Name, v.Name)
			}
			vs[v.Name] = true
			if v.Percent < 0 {
				return fmt.Errorf("experiments: %s/%s: percent %d < 0", e.Name, v.Name, v.Percent)
			}
			if p := v.Settings.Personalization; p != nil && (*p < 0 || *p > 100) {
				return fmt.Errorf("experiments: %s/%s: personalization %d: want 0..100", e.Name, v.Name, *p)
			}
			total += v.Percent
		}
		if total > 100 {
			return fmt.Errorf("experiments: %s: variants add up to %d %%, want at most 100", e.Name, total)
		}
	}
	return nil
}

// Load reads a JSON configuration file.
func Load(path string) (Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("experiments: %w", err)
	}
	var c Config
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return Config{}, fmt.Errorf("experiments: %s: %w", path, err)
	}
	return c, c.Validate()
}

// Set is a validated configuration, safe for concurrent use.
type Set struct{ cfg Config }

// New returns the experiments of cfg.
func New(cfg Config) (*Set, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Set{cfg: cfg}, nil
}

// Assignment is a unit's variant in one experiment.
type Assignment struct {
	Experiment string
	Variant    *Variant
}

// String is "<experiment>/<variant>", the form impressions carry.
func (a Assignment) String() string { return a.Experiment + "/" + a.Variant.Name }

// buckets is the resolution of a split: 0.01 %.
const buckets = 10000

// Bucket is unit's place in experiment's split, in [0, 10000): the first
// 64 bits of SHA-256(experiment, NUL, unit), so that experiments split
// independently of each other.
func Bucket(experiment, unit string) int {
	h := sha256.Sum256([]byte(experiment + "\x00" + unit))
	return int(binary.BigEndian.Uint64(h[:8]) % buckets)
}

// Assign returns unit's variant in each experiment it is in, in the
// configuration's order; none for "" (an anonymous shopper without a
// device id) or a nil Set.
func (s *Set) Assign(unit string) []Assignment {
	if s == nil || unit == "" {
		return nil
	}
	var out []Assignment
	for i := range s.cfg.Experiments {
		e := &s.cfg.Experiments[i]
		b, lo := Bucket(e.Name, unit), 0
		for j := range e.Variants {
			v := &e.Variants[j]
			hi := lo + v.Percent*buckets/100
			if b >= lo && b < hi {
				out = append(out, Assignment{Experiment: e.Name, Variant: v})
				break
			}
			lo = hi
		}
	}
	return out
}

// Stamp is the events.Event.Variant of unit's impressions: its
// assignments joined by ","; "" when it is in none.
func (s *Set) Stamp(unit string) string {
	as := s.Assign(unit)
	parts := make([]string, len(as))
	for i, a := range as {
		parts[i] = a.String()
	}
	return strings.Join(parts, ",")
}

// CacheKey is what unit's answers add to a cache key: the assignments
// whose variant changes retrieval, joined by ","; "" otherwise (the
// answers of every variant are the same entries).
func (s *Set) CacheKey(unit string) string {
	var parts []string
	for _, a := range s.Assign(unit) {
		if a.Variant.ChangesRetrieval {
			parts = append(parts, a.String())
		}
	}
	return strings.Join(parts, ",")
}

// Strength is unit's personalization strength: the first assignment that
// sets one, else the default; 0 for "".
func (s *Set) Strength(unit string) int {
	if unit == "" {
		return 0
	}
	for _, a := range s.Assign(unit) {
		if p := a.Variant.Settings.Personalization; p != nil {
			return *p
		}
	}
	if s != nil && s.cfg.Strength != nil {
		return *s.cfg.Strength
	}
	return DefaultStrength
}

// ErrUnknown is an experiment the Set does not hold.
var ErrUnknown = errors.New("experiments: unknown experiment")

// Experiment returns the named experiment (for the analytics endpoint).
func (s *Set) Experiment(name string) (Experiment, error) {
	if s != nil {
		for _, e := range s.cfg.Experiments {
			if e.Name == name {
				return e, nil
			}
		}
	}
	return Experiment{}, fmt.Errorf("%w: %s", ErrUnknown, name)
}
