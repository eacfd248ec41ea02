package devpg

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// libGlob is where Debian and Ubuntu install each major version's server.
const libGlob = "/usr/lib/postgresql/*/bin"

// libDirs lists them; the tests replace it.
var libDirs = func() []string {
	dirs, _ := filepath.Glob(libGlob)
	return dirs
}

// FindBinDir returns the directory of the newest installed Postgres server
// binaries (initdb, pg_ctl, postgres): pg_config --bindir when it holds
// them, else the newest /usr/lib/postgresql/N/bin, else initdb's directory
// on $PATH; ErrNotInstalled when there are none.
func FindBinDir(ctx context.Context) (string, error) {
	return binDir(ctx, "", "")
}

// binDir is given when set, else the first candidate of FindBinDir; with a
// version (the cluster's PG_VERSION), /usr/lib/postgresql/<version>/bin
// comes first and a server of another major version is an error, as the
// server would refuse the cluster.
func binDir(ctx context.Context, given, version string) (string, error) {
	candidates := []string{given}
	if given == "" {
		candidates = findCandidates(ctx, version)
	}
	var found []string
	for _, d := range candidates {
		if !hasServer(d) {
			continue
		}
		if version == "" {
			return d, nil
		}
		major, err := serverMajor(ctx, d)
		if err != nil {
			return "", err
		}
		if major == version {
			return d, nil
		}
		found = append(found, fmt.Sprintf("%s in %s", major, d))
	}
	switch {
	case len(found) > 0:
		return "", fmt.Errorf("devpg: it was initialized by Postgres %s, and the installed server is %s: install Postgres %s, or delete the cluster to start over", version, strings.Join(found, ", "), version)
	case given != "":
		return "", fmt.Errorf("%w: not in %s", ErrNotInstalled, given)
	}
	return "", ErrNotInstalled
}

func findCandidates(ctx context.Context, version string) []string {
	var out []string
	if version != "" {
		out = append(out, strings.Replace(libGlob, "*", version, 1))
	}
	if b, err := exec.CommandContext(ctx, "pg_config", "--bindir").Output(); err == nil {
		out = append(out, strings.TrimSpace(string(b)))
	}
	lib := libDirs()
	slices.SortFunc(lib, func(a, b string) int { return versionOf(b) - versionOf(a) }) // newest first
	out = append(out, lib...)
	if p, err := exec.LookPath("initdb"); err == nil {
		out = append(out, filepath.Dir(p))
	}
	return out
}

// versionOf is the major version N of /usr/lib/postgresql/N/bin (0 when
// it is not a number).
func versionOf(dir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(dir)))
	return n
}

func hasServer(dir string) bool {
	for _, b := range []string{"initdb", "pg_ctl", "postgres"} {
		if fi, err := os.Stat(filepath.Join(dir, b)); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			return false
		}
	}
	return true
}

var majorRE = regexp.MustCompile(`\(PostgreSQL\) ([0-9]+)`)

// serverMajor is the major version of dir's postgres ("15").
func serverMajor(ctx context.Context, dir string) (string, error) {
	out, err := exec.CommandContext(ctx, filepath.Join(dir, "postgres"), "--version").Output()
	if err != nil {
		return "", fmt.Errorf("devpg: %s --version: %w", filepath.Join(dir, "postgres"), err)
	}
	m := majorRE.FindSubmatch(out)
	if m == nil {
		return "", fmt.Errorf("devpg: %s --version: no version in %q", filepath.Join(dir, "postgres"), out)
	}
	return string(m[1]), nil
}
