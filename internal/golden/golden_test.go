package golden

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDiff(t *testing.T) {
	cases := []struct{ want, got, diff string }{
		{"a\nb\nc", "a\nb\nc", ""},
		{"a\nb\nc\nd", "a\nc\nb\nd", "-b\n+b\n"}, // a moved row
		{"a\nb", "a\nx\nb", "+x\n"},
		{"a\nb\nc", "a\nc", "-b\n"},
		{"a\nb", "a\nc", "-b\n+c\n"},
		{"", "a", "-\n+a\n"},
	}
	for _, c := range cases {
		if got := Diff(c.want, c.got); got != c.diff {
			t.Errorf("Diff(%q, %q) = %q, want %q", c.want, c.got, got, c.diff)
		}
	}
}

// recorder is a testing.TB that records failures instead of failing.
type recorder struct {
	testing.TB
	failed bool
	msg    string
}

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.failed = true
	r.msg = fmt.Sprintf(format, args...)
}

func TestCheck(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "x.txt")
	defer func(u bool) { *update = u }(*update)

	*update = true
	Check(t, path, []byte("a\nb\n"))
	if b, err := os.ReadFile(path); err != nil || string(b) != "a\nb\n" {
		t.Fatalf("-update wrote %q, %v", b, err)
	}

	*update = false
	r := &recorder{TB: t}
	Check(r, path, []byte("a\nb\n"))
	if r.failed {
		t.Error("an equal file failed")
	}
	Check(r, path, []byte("a\nc\n"))
	if !r.failed || !strings.Contains(r.msg, "-b\n+c\n") {
		t.Errorf("a different file: failed %v, message %q", r.failed, r.msg)
	}
}
