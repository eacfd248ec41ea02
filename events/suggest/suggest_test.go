package suggest

import "testing"

func TestSoundex(t *testing.T) {
	for in, want := range map[string]string{"robert": "R163", "rupert": "R163", "ashcraft": "A261", "tymczak": "T522", "pfister": "P236"} {
		if got := soundex(in); got != want {
			t.Errorf("soundex(%q) = %s, want %s", in, got, want)
		}
	}
}

// TestSuggest: misspellings, prefixes, initials and sound-alikes of real
// brands are proposed; a brand itself, an existing alias and a query
// close to nothing are not.
func TestSuggest(t *testing.T) {
	brands := []string{"Adidas", "Lululemon", "The North Face", "Nike", "Levi's", "Madewell", "Patagonia"}
	zero := []Query{
		{"addidas", 40}, {"lulu", 30}, {"tnf", 20}, {"patagucci", 3}, {"Nike", 9}, {"madwell", 8},
		{"north face", 7}, {"zzqx", 50}, {"sofa", 12}, {"leevis", 5},
	}
	got := Suggest(zero, brands, map[string]string{"north face": "The North Face"})
	want := map[string]string{"addidas": "Adidas", "lulu": "Lululemon", "tnf": "The North Face", "madwell": "Madewell", "leevis": "Levi's"}
	seen := map[string]bool{}
	for _, s := range got {
		if want[s.Alias] != s.Brand {
			t.Errorf("suggested %q → %q (%s, %.2f)", s.Alias, s.Brand, s.Why, s.Score)
		}
		seen[s.Alias] = true
	}
	for a := range want {
		if !seen[a] {
			t.Errorf("%q → %q not suggested", a, want[a])
		}
	}
	if len(got) > 0 && got[0].Alias != "addidas" {
		t.Errorf("first %q: want the most frequent", got[0].Alias)
	}
}
