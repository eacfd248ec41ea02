package devpg

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"strconv"
	"strings"
)

// osUser is the OS user the server runs as when this process is root
// (initdb and postgres refuse to run as root). A nil *osUser is this
// process's own user.
type osUser struct {
	name, home string
	uid, gid   int
	groups     []int
}

// serverUser is the postgres user when running as root, else nil.
func serverUser() (*osUser, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup(Superuser)
	if err != nil {
		return nil, fmt.Errorf("devpg: running as root, which Postgres refuses, and there is no %s OS user to run it as: %w", Superuser, err)
	}
	o := &osUser{name: u.Username, home: u.HomeDir}
	if o.uid, err = strconv.Atoi(u.Uid); err != nil {
		return nil, fmt.Errorf("devpg: user %s: uid %q: %w", u.Username, u.Uid, err)
	}
	if o.gid, err = strconv.Atoi(u.Gid); err != nil {
		return nil, fmt.Errorf("devpg: user %s: gid %q: %w", u.Username, u.Gid, err)
	}
	gids, _ := u.GroupIds()
	for _, g := range gids {
		if n, err := strconv.Atoi(g); err == nil {
			o.groups = append(o.groups, n)
		}
	}
	return o, nil
}

// command runs path in dir as u, with an environment of no PG* variables
// (the command line says everything) and u's HOME.
func (u *osUser) command(ctx context.Context, dir, path string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Dir = dir
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "PG") || (u != nil && (strings.HasPrefix(kv, "HOME=") || strings.HasPrefix(kv, "USER=") || strings.HasPrefix(kv, "LOGNAME="))) {
			continue
		}
		cmd.Env = append(cmd.Env, kv)
	}
	if u != nil {
		cmd.Env = append(cmd.Env, "HOME="+u.home, "USER="+u.name, "LOGNAME="+u.name)
		runAs(cmd, u)
	}
	return cmd
}

// canEnter reports whether u can reach and enter dir.
func (u *osUser) canEnter(ctx context.Context, dir string) bool {
	test, err := exec.LookPath("test")
	if err != nil {
		return false
	}
	return u.command(ctx, "/", test, "-d", dir, "-a", "-x", dir).Run() == nil
}

// chown gives path to u (nothing for a nil u).
func (u *osUser) chown(path string) error {
	if u == nil {
		return nil
	}
	if err := os.Chown(path, u.uid, u.gid); err != nil {
		return fmt.Errorf("devpg: %w", err)
	}
	return nil
}
