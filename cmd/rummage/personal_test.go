package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/rummage/rummage/api"
	"github.com/rummage/rummage/signals/memory"
)

func TestPersonalFlags(t *testing.T) {
	st, err := memory.Open("")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var off api.Config
	if err := (&personalFlags{}).apply(&off, st); err != nil || off.Feeds.Personal.Strength != nil || off.Experiments != nil {
		t.Fatalf("strength 0 without experiments turned personalization on: %v", err)
	}
	var on api.Config
	f := &personalFlags{strength: 70, pseudonymKey: "00112233445566778899aabbccddeeff"}
	if err := f.apply(&on, st); err != nil {
		t.Fatal(err)
	}
	pc := on.Feeds.Personal
	if pc.Strength == nil || pc.Strength("u") != 70 || pc.Profiles == nil || pc.Pseudonym("u") == "u" || on.Experiments == nil {
		t.Fatalf("personalization not wired: %+v", pc)
	}
	if err := (&personalFlags{strength: 50, pseudonymKey: "short"}).apply(&api.Config{}, st); err == nil {
		t.Error("a short pseudonym key accepted")
	}
	if err := (&personalFlags{strength: 101}).apply(&api.Config{}, st); err == nil {
		t.Error("strength 101 accepted")
	}
	bad := filepath.Join(t.TempDir(), "x.json")
	os.WriteFile(bad, []byte(`{"experiments":[{"name":"e","variants":[{"name":"a","percent":120}]}]}`), 0o644)
	if err := (&personalFlags{strength: 50, experiments: bad}).apply(&api.Config{}, st); err == nil {
		t.Error("an invalid experiments file accepted")
	}
}
