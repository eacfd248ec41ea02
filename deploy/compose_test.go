package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

type compose struct {
	Services map[string]struct {
		Image       string            `yaml:"image"`
		Build       any               `yaml:"build"`
		Command     []string          `yaml:"command"`
		Environment map[string]string `yaml:"environment"`
		Healthcheck *struct {
			Test []string `yaml:"test"`
		} `yaml:"healthcheck"`
	} `yaml:"services"`
}

func load(t *testing.T) compose {
	t.Helper()
	b, err := os.ReadFile("docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var c compose
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	return c
}

// TestComposeStack checks the shape of the stack: the services the design
// names, logical replication, KRaft, Elasticsearch 8, health checks.
func TestComposeStack(t *testing.T) {
	c := load(t)
	for _, name := range []string{"postgres", "kafka", "elasticsearch", "migrate", "cdc", "indexer", "api"} {
		if _, ok := c.Services[name]; !ok {
			t.Errorf("service %s is missing", name)
		}
	}
	pg := c.Services["postgres"]
	if !strings.HasPrefix(pg.Image, "postgres:15") || !slices.Contains(pg.Command, "wal_level=logical") {
		t.Errorf("postgres: image %q command %v; want postgres:15 with wal_level=logical", pg.Image, pg.Command)
	}
	if roles := c.Services["kafka"].Environment["KAFKA_PROCESS_ROLES"]; roles != "broker,controller" {
		t.Errorf("kafka: KAFKA_PROCESS_ROLES %q, want broker,controller (KRaft, single node)", roles)
	}
	if img := c.Services["elasticsearch"].Image; !regexp.MustCompile(`elasticsearch:8\.`).MatchString(img) {
		t.Errorf("elasticsearch: image %q, want Elasticsearch 8", img)
	}
	for name, s := range c.Services {
		if name == "migrate" {
			continue // runs once and exits
		}
		if s.Healthcheck == nil || len(s.Healthcheck.Test) == 0 {
			t.Errorf("service %s has no health check", name)
		}
	}
	for _, role := range []string{"indexer", "api"} {
		cmd := strings.Join(c.Services[role].Command, " ")
		if !strings.Contains(cmd, "--backend elasticsearch") || !strings.Contains(cmd, "--es-url http://elasticsearch:9200") {
			t.Errorf("%s: command %q does not use the Elasticsearch backend", role, cmd)
		}
	}
}

var flagRE = regexp.MustCompile(`^--?([A-Za-z0-9][A-Za-z0-9-]*)`)

// TestComposeFlagsExist builds the binary and checks, for every service
// built from the Dockerfile, that its subcommand exists and that each flag
// it is given is listed by "rummage <command> --help".
func TestComposeFlagsExist(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the rummage binary")
	}
	c := load(t)
	bin := buildBinary(t)
	roles := 0
	for name, s := range c.Services {
		if s.Build == nil {
			continue
		}
		roles++
		t.Run(name, func(t *testing.T) { checkFlags(t, bin, s.Command, "docker-compose.yml") })
	}
	if roles < 4 {
		t.Errorf("%d services are built from the Dockerfile, want migrate, cdc, indexer and api", roles)
	}
}

// buildBinary builds cmd/rummage into a temporary directory.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "rummage")
	build := exec.Command("go", "build", "-o", bin, "../cmd/rummage")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/rummage: %v\n%s", err, out)
	}
	return bin
}

// checkFlags checks that command[0] is a subcommand of bin and that each
// flag in the rest is listed by "rummage <command> --help".
func checkFlags(t *testing.T, bin string, command []string, file string) {
	t.Helper()
	if len(command) == 0 {
		t.Fatal("no command: the image's default would run")
	}
	out, _ := exec.Command(bin, command[0], "--help").CombinedOutput()
	help := string(out)
	if strings.Contains(help, "unknown command") || !strings.Contains(help, "Usage: rummage "+command[0]) {
		t.Fatalf("rummage %s is not a command of the binary:\n%s", command[0], help)
	}
	for _, arg := range command[1:] {
		m := flagRE.FindStringSubmatch(arg)
		if m == nil {
			continue
		}
		if !regexp.MustCompile(`(?m)^\s+-` + regexp.QuoteMeta(m[1]) + `\b`).MatchString(help) {
			t.Errorf("rummage %s has no flag --%s (used in %s)", command[0], m[1], file)
		}
	}
}
