package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/rummage/rummage/api"
	"github.com/rummage/rummage/events"
	"github.com/rummage/rummage/experiments"
	"github.com/rummage/rummage/signals"
)

// personalFlags turn personalization on: the default strength, the
// experiments file, and the pseudonymization key of the events topic (the
// profiles learned from events are kept by pseudonym).
type personalFlags struct {
	strength     int
	experiments  string
	pseudonymKey string
	// keyFile, when set (dev), is the key file the events producer uses
	// when no key is given (startEvents): the same pseudonyms.
	keyFile string
}

func (f *personalFlags) add(fs *flag.FlagSet) {
	fs.IntVar(&f.strength, "personalization", experiments.DefaultStrength, "personalization `strength` 0-100 of search and the home feed for a user with an affinity profile (0: off; experiments may override it)")
	fs.StringVar(&f.experiments, "experiments", "", "JSON `file` of ranking experiments (experiments.Config); empty: none")
	fs.StringVar(&f.pseudonymKey, "pseudonym-key", os.Getenv(pseudonymKeyEnv), "HMAC `key` in hex (at least 32 digits) of the user pseudonyms on the events topic, the events producer's, the same on every replica (default $"+pseudonymKeyEnv+"); empty: profiles leave out what events taught (dev: its key file)")
}

// pseudonymizer is the process's pseudonymizer (nil: none), the one its
// events producer uses too.
func (f *personalFlags) pseudonymizer() (*events.Pseudonymizer, error) {
	return pseudonymizer(f.pseudonymKey, f.keyFile)
}

// apply sets the API's personalization over store.
func (f *personalFlags) apply(cfg *api.Config, store signals.Store) error {
	if store == nil || f.strength == 0 && f.experiments == "" {
		return nil
	}
	var ec experiments.Config
	if f.experiments != "" {
		var err error
		if ec, err = experiments.Load(f.experiments); err != nil {
			return fmt.Errorf("--experiments: %w", err)
		}
	}
	ec.Strength = &f.strength
	set, err := experiments.New(ec)
	if err != nil {
		return fmt.Errorf("--personalization: %w", err)
	}
	cfg.Experiments = set
	pc := &cfg.Feeds.Personal
	pc.Strength = set.Strength
	p, err := f.pseudonymizer()
	if err != nil {
		return err
	}
	if ps, ok := store.(signals.ProfileStore); ok && p != nil {
		pc.Profiles, pc.Pseudonym = ps, p.Of
	}
	return nil
}
