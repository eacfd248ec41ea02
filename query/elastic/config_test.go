package elastic

import (
	"strings"
	"testing"
)

func TestConfigValidate(t *testing.T) {
	cases := []struct {
		name string
		cfg  Config
		want string // "" for valid
	}{
		{"defaults", Config{}, ""},
		{"full", Config{URLs: []string{"https://es1:9200", "https://es2:9200"}, APIKey: "a2V5", IndexPrefix: "shop.listings", Refresh: RefreshWaitFor}, ""},
		{"basic auth", Config{Username: "rummage", Password: "secret"}, ""},
		{"bad url", Config{URLs: []string{"localhost:9200"}}, "want http(s)://host:port"},
		{"ftp url", Config{URLs: []string{"ftp://es:21"}}, "want http(s)://host:port"},
		{"user without password", Config{Username: "rummage"}, "both username and password"},
		{"key and user", Config{APIKey: "k", Username: "u", Password: "p"}, "not both"},
		{"upper-case prefix", Config{IndexPrefix: "Listings"}, "index prefix"},
		{"prefix with star", Config{IndexPrefix: "list*"}, "index prefix"},
		{"bad refresh", Config{Refresh: "sometimes"}, "use false, true or wait_for"},
		{"negative retries", Config{MaxRetries: -2}, "must not be negative"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.cfg.Validate()
			switch {
			case c.want == "" && err != nil:
				t.Errorf("Validate: %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Errorf("Validate = %v, want %q", err, c.want)
			}
		})
	}
}

func TestNames(t *testing.T) {
	c := Config{IndexPrefix: "shop"}
	if c.ReadAlias() != "shop" || c.WriteAlias() != "shop-write" || c.IndexName(12) != "shop-v000012" {
		t.Errorf("names %s %s %s", c.ReadAlias(), c.WriteAlias(), c.IndexName(12))
	}
	if d := (Config{}); d.ReadAlias() != DefaultIndexPrefix {
		t.Errorf("default read alias %s", d.ReadAlias())
	}
}

func TestNewReadsCACert(t *testing.T) {
	if _, err := New(Config{CACertFile: "testdata/no-such-ca.pem"}, nil); err == nil || !strings.Contains(err.Error(), "CA certificate") {
		t.Errorf("New with a missing CA file: %v", err)
	}
}
