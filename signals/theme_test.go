package signals

import (
	"encoding/json"
	"testing"
)

func TestParseTheme(t *testing.T) {
	for _, c := range []struct {
		in, out string
		ok      bool
	}{
		{`{}`, `{}`, true},
		{``, `{}`, true},
		{`{"brand":["Nike","Adidas"],"category":"/Women/Shoes/","price_max":10000}`, `{"brand":["Nike","Adidas"],"category":"Women/Shoes","price_max":10000}`, true},
		{`{"q":"vintage denim","condition":["NWT"]}`, `{"q":"vintage denim","condition":["NWT"]}`, true},
		{`{"brands":["Nike"]}`, ``, false},               // unknown key
		{`{"condition":["mint"]}`, ``, false},            // a value search refuses
		{`{"price_min":500,"price_max":100}`, ``, false}, // min above max
		{`{"category":"Women//Shoes"}`, ``, false},
		{`[1,2]`, ``, false},
	} {
		th, err := ParseTheme([]byte(c.in))
		if (err == nil) != c.ok {
			t.Errorf("%s: err %v, want ok=%v", c.in, err, c.ok)
			continue
		}
		if !c.ok {
			continue
		}
		b, _ := json.Marshal(th)
		if string(b) != c.out {
			t.Errorf("%s: round trip %s, want %s", c.in, b, c.out)
		}
	}
}
