package main

import (
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/rummage/rummage/api"
	"github.com/rummage/rummage/feed"
	"github.com/rummage/rummage/internal/atomicfile"
)

// cursorFlags are the key that signs the surfaces' cursors, shared by every
// replica behind one load balancer, and the previous one during a rotation.
type cursorFlags struct {
	key, previous string
}

func addCursorFlags(fs *flag.FlagSet) *cursorFlags {
	c := &cursorFlags{}
	fs.StringVar(&c.key, "cursor-key", os.Getenv("RUMMAGE_CURSOR_KEY"), "`key` (hex or base64, at least 32 bytes) that signs cursors; every replica must share it (default $RUMMAGE_CURSOR_KEY; none: a random key of this process, or dev's own under its data directory)")
	fs.StringVar(&c.previous, "cursor-key-previous", os.Getenv("RUMMAGE_CURSOR_KEY_PREVIOUS"), "the previous cursor `key`, still accepted while a rotation is under way (default $RUMMAGE_CURSOR_KEY_PREVIOUS)")
	return c
}

// codec returns the cursor signer. Without --cursor-key it reads the key
// kept in keep (creating it, 0600), or makes a random key of this process
// when keep is empty: cursors then do not survive a restart.
func (c *cursorFlags) codec(keep string, log *slog.Logger) (*feed.Cursors, error) {
	cfg := feed.CursorConfig{}
	var err error
	switch {
	case c.key != "":
		if cfg.Key, err = feed.ParseCursorKey(c.key); err != nil {
			return nil, fmt.Errorf("--cursor-key: %w", err)
		}
	case keep != "":
		if cfg.Key, err = keptCursorKey(keep); err != nil {
			return nil, err
		}
	default:
		cfg.Key = feed.RandomCursorKey()
		log.Info("cursors are signed with a random key of this process (set --cursor-key for replicas, and to keep cursors across restarts)")
	}
	if c.previous != "" {
		if cfg.PreviousKey, err = feed.ParseCursorKey(c.previous); err != nil {
			return nil, fmt.Errorf("--cursor-key-previous: %w", err)
		}
	}
	return feed.NewCursors(cfg)
}

// keptCursorKey reads the hex key in path, or writes a new one there.
func keptCursorKey(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		return feed.ParseCursorKey(strings.TrimSpace(string(b)))
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	k := feed.RandomCursorKey()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("cursor key: %w", err)
	}
	if err := atomicfile.Write(path, []byte(hex.EncodeToString(k)+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("cursor key: %w", err)
	}
	return k, nil
}

// serving fills what the API's surfaces need besides the index: the cursor
// signer (its key kept beside the index directory unless --cursor-key is
// given) and the brand aliases the brand filter resolves.
func (b *backendFlags) serving(cfg *api.Config, cf *cursorFlags, log *slog.Logger) error {
	keep := ""
	if b.kind == backendEmbedded {
		keep = filepath.Clean(b.indexDir) + ".cursor-key"
	}
	cursors, err := cf.codec(keep, log)
	if err != nil {
		return err
	}
	aliases, err := b.brandAliases()
	if err != nil {
		return err
	}
	cfg.Cursors, cfg.Aliases = cursors, aliases
	return nil
}
