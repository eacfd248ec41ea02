package events

import (
	"context"
	"errors"
	"fmt"
)

// Forgetter removes what one part of Rummage holds of a user: the signals
// store, the affinity profile and experiment assignment (package
// personalization implements it), the response cache, the rollups.
// pseudonym is the user's pseudonym (what the events topic and the rollups
// hold). It returns how many records went.
type Forgetter interface {
	Forget(ctx context.Context, user, pseudonym string) (int, error)
}

// ForgetFunc is a Forgetter of a function.
type ForgetFunc func(ctx context.Context, user, pseudonym string) (int, error)

// Forget implements Forgetter.
func (f ForgetFunc) Forget(ctx context.Context, user, pseudonym string) (int, error) {
	return f(ctx, user, pseudonym)
}

// Forgetting forgets a user everywhere (rummage users forget): each named
// part in turn, all of them even when one fails.
type Forgetting struct {
	Pseudonymizer *Pseudonymizer
	Parts         map[string]Forgetter
}

// Forget runs every part and returns how many records each removed. The
// events topic itself is not rewritten: it holds pseudonyms only, and
// its retention ages them out.
func (f *Forgetting) Forget(ctx context.Context, user string) (map[string]int, error) {
	if user == "" {
		return nil, errors.New("events: forget: no user")
	}
	p := ""
	if f.Pseudonymizer != nil {
		p = f.Pseudonymizer.Of(user)
	}
	out := map[string]int{}
	var errs []error
	for name, part := range f.Parts {
		n, err := part.Forget(ctx, user, p)
		out[name] = n
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
	}
	return out, errors.Join(errs...)
}
