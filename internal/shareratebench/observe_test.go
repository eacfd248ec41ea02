package shareratebench

import (
	"strings"
	"testing"
	"time"
)

// TestVisible: a share is at the top at the first read that shows its
// listing at or after its created_at (at its commit when a read before
// showed it so), or at the first full page entirely newer (displaced) if
// that came first; else not at all.
func TestVisible(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	o := &observer{seen: map[string][]sighting{
		"a": {{at(10), 100}, {at(50), 200}},
		"b": {{at(5), 300}},
		"d": {{at(200), 350}}, // came back up long after the pages moved past its share
	}, reads: []pageRead{{at(10), true, 50}, {at(50), true, 150}, {at(90), true, 400}, {at(120), false, 500}}}
	for _, c := range []struct {
		name          string
		id            string
		created       int64
		committed     time.Time
		want          time.Time
		displaced, ok bool
	}{
		{"seen", "a", 150, at(20), at(50), false, true},
		{"seen at once", "a", 90, at(5), at(10), false, true},
		{"shown before its commit", "b", 250, at(30), at(30), false, true},
		{"displaced", "c", 300, at(20), at(90), true, true},
		{"never", "c", 450, at(20), time.Time{}, false, false}, // the page newer than it was not full
		{"displaced before seen", "d", 300, at(20), at(90), true, true},
	} {
		got, displaced, ok := o.visible(c.id, c.created, c.committed)
		if !got.Equal(c.want) || displaced != c.displaced || ok != c.ok {
			t.Errorf("%s: visible = %v, %v, %v; want %v, %v, %v", c.name, got.Sub(t0), displaced, ok, c.want.Sub(t0), c.displaced, c.ok)
		}
	}
}

// TestDistMissing: shares never seen are beyond every percentile they
// fall in (-1).
func TestDistMissing(t *testing.T) {
	var ds []time.Duration
	for i := 1; i <= 98; i++ {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	if d := dist(ds, 2); d.N != 100 || d.P50 != 50 || d.P99 != -1 || d.Max != -1 {
		t.Errorf("2 of 100 missing: %+v", d)
	}
	if d := dist(ds, 0); d.P50 != 49 || d.P99 != 98 || d.Max != 98 { // nearest rank of 98
		t.Errorf("none missing: %+v", d)
	}
}

// TestCounterTriggerSQL: migration 0001's function and trigger are cut
// out whole.
func TestCounterTriggerSQL(t *testing.T) {
	fn, trig, err := counterTriggerSQL()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(fn, "CREATE OR REPLACE FUNCTION rummage_count_share()") || !strings.Contains(fn, "UPDATE listings") || !strings.HasSuffix(fn, "END $$;") {
		t.Errorf("function:\n%s", fn)
	}
	if trig != "CREATE TRIGGER shares_count AFTER INSERT ON shares\n    FOR EACH ROW EXECUTE FUNCTION rummage_count_share();" {
		t.Errorf("trigger: %q", trig)
	}
}
