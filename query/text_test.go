package query

import "testing"

func TestTypoEdits(t *testing.T) {
	for _, tc := range []struct{ runes, want int }{{0, 0}, {3, 0}, {4, 1}, {7, 1}, {8, 2}, {30, 2}} {
		if got := TypoEdits(tc.runes); got != tc.want {
			t.Errorf("TypoEdits(%d) = %d, want %d", tc.runes, got, tc.want)
		}
	}
}
