package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"text/tabwriter"
	"time"

	"github.com/rummage/rummage/api"
	"github.com/rummage/rummage/audit"
	"github.com/rummage/rummage/keys"
	"github.com/rummage/rummage/keys/pgkeys"
)

const keysHelp = `Manages the API keys (docs/keys.md):

  rummage keys create --kind KIND --name NAME   make a key; prints it once
  rummage keys list                             every key: id, kind, name, prefix, dates
  rummage keys revoke ID                        revoke a key (at once on every process)
  rummage keys user-token --key K --user U      sign a user token for a browser

Kinds: search (reads), public (reads and events, for browsers), events
(POST /v1/events), admin (everything). Keys are 256 random bits; only their
SHA-256 is stored: in rummage.api_keys with --database-url, else in
--keys-file (mode 0600, replaced atomically). Run "rummage keys COMMAND
--help" for the flags of each.`

// defaultKeysFile is where keys live without a database, for serve and
// the keys commands alike.
const defaultKeysFile = "./data/keys.json"

func runKeys(ctx context.Context, args []string) error {
	if len(args) == 0 || isHelp(args[0]) {
		fmt.Fprintf(os.Stderr, "Usage: rummage keys COMMAND [flags]\n\n%s\n", keysHelp)
		if len(args) == 0 {
			return errUsage
		}
		return flag.ErrHelp
	}
	cmds := map[string]func(context.Context, []string, io.Writer) error{
		"create": keysCreate, "list": keysList, "revoke": keysRevoke, "user-token": keysUserToken,
	}
	run, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(os.Stderr, "rummage keys: unknown command %q; use create, list, revoke or user-token\n", args[0])
		return errUsage
	}
	return run(ctx, args[1:], os.Stdout)
}

// keyFlags choose the key store: Postgres with a database URL, else the
// file; and, for a serving command, the rule for reads without a key.
type keyFlags struct {
	dbURL       *string
	file        string
	publicReads bool
}

// addKeyFlags adds --keys-file, and --database-url unless the command has
// one already (dbURL); serving commands also get --public-reads.
func addKeyFlags(fs *flag.FlagSet, dbURL *string, serving bool) *keyFlags {
	k := &keyFlags{dbURL: dbURL}
	if dbURL == nil {
		k.dbURL = fs.String("database-url", "", "Postgres `URL` whose table rummage.api_keys holds the API keys (default: --keys-file)")
	}
	fs.StringVar(&k.file, "keys-file", defaultKeysFile, "API keys `file` (mode 0600) when there is no --database-url")
	if serving {
		fs.BoolVar(&k.publicReads, "public-reads", false, "answer reads without an API key on any address (without it: only while the API listens on loopback alone)")
	}
	return k
}

func (k *keyFlags) where() string {
	if *k.dbURL != "" {
		return "postgres table rummage.api_keys"
	}
	return "file " + k.file
}

// openToChange opens the store for a change the audit log attributes to
// the person at this command line (the returned context says who).
func (k *keyFlags) openToChange(ctx context.Context) (context.Context, keys.Store, func(), error) {
	store, closeStore, err := k.open(ctx, slog.Default())
	if err != nil {
		return ctx, nil, nil, err
	}
	return cliActor(ctx), store, closeStore, nil
}

func (k *keyFlags) open(ctx context.Context, log *slog.Logger) (keys.Store, func(), error) {
	if *k.dbURL == "" {
		return keys.NewFileStore(k.file), func() {}, nil
	}
	s, err := pgkeys.Open(ctx, *k.dbURL, log)
	if err != nil {
		return nil, nil, err
	}
	return s, s.Close, nil
}

// serving loads the keys of a serving process and keeps them fresh until
// stop; it logs where they come from and which rule applies to reads
// without a key on apiAddrs. The returned Auth is the API's; admin
// listeners use Auth{Keys: ring} (never anonymous).
func (k *keyFlags) serving(ctx context.Context, apiAddrs []string, log *slog.Logger) (auth api.Auth, ring *keys.Ring, stop func(), err error) {
	store, closeStore, err := k.open(ctx, log)
	if err != nil {
		return api.Auth{}, nil, nil, fmt.Errorf("api keys: %w", err)
	}
	ring, err = keys.Open(ctx, store, keys.RingConfig{Logger: log})
	if err != nil {
		closeStore()
		return api.Auth{}, nil, nil, fmt.Errorf("api keys: %w", err)
	}
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() { defer close(done); ring.Run(rctx) }()
	all, active := ring.Len()
	log.Info("api keys", "store", k.where(), "active", active, "revoked", all-active)
	anon, why := api.AnonymousReads(apiAddrs, k.publicReads)
	if apiAddrs != nil {
		log.Info(why)
	}
	return api.Auth{Keys: ring, AnonymousReads: anon}, ring, func() { cancel(); <-done; closeStore() }, nil
}

func keysCreate(ctx context.Context, args []string, out io.Writer) error {
	fs := newFlags("keys create", "--kind KIND --name NAME [flags]", `Makes an API key and prints it once, on standard output: only its
SHA-256 is stored, so it cannot be shown again (revoke and create another
if it is lost).`)
	kind := fs.String("kind", "", "`kind` of key: search, public, events or admin")
	name := fs.String("name", "", "who or what uses the key (shown by list)")
	kf := addKeyFlags(fs, nil, false)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	k, err := keys.ParseKind(*kind)
	if err != nil {
		fmt.Fprintln(fs.Output(), err)
		return errUsage
	}
	ctx, store, closeStore, err := kf.openToChange(ctx)
	if err != nil {
		return err
	}
	defer closeStore()
	secret, rec, err := keys.Create(ctx, store, k, *name)
	if err != nil {
		return err
	}
	auditKey(ctx, slog.Default(), audit.ActionKeyCreate, rec)
	fmt.Fprintln(out, secret)
	fmt.Fprintf(os.Stderr, "created %s key %s (%q) in %s; it is shown this once\n", rec.Kind, rec.ID, rec.Name, kf.where())
	return nil
}

func keysList(ctx context.Context, args []string, out io.Writer) error {
	fs := newFlags("keys list", "[flags]", "Lists every API key, revoked ones included: never a secret, only its id and first characters.")
	kf := addKeyFlags(fs, nil, false)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	store, closeStore, err := kf.open(ctx, slog.Default())
	if err != nil {
		return err
	}
	defer closeStore()
	list, err := store.List(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tKIND\tNAME\tPREFIX\tCREATED\tREVOKED")
	for _, k := range list {
		revoked := "-"
		if k.RevokedAt != nil {
			revoked = k.RevokedAt.Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s…\t%s\t%s\n", k.ID, k.Kind, k.Name, k.Prefix, k.CreatedAt.Format(time.RFC3339), revoked)
	}
	return tw.Flush()
}

func keysRevoke(ctx context.Context, args []string, out io.Writer) error {
	fs := newFlags("keys revoke", "ID [flags]", `Revokes the key with this id (see list). Serving processes stop taking it
within a second with Postgres (a notification), within a few seconds with
the file; the user tokens it signed stop with it.`)
	kf := addKeyFlags(fs, nil, false)
	id, err := parseFlagsAroundArg(fs, args)
	if err != nil {
		return err
	}
	if id == "" {
		fmt.Fprintln(fs.Output(), "rummage keys revoke: the key's ID is required (rummage keys list shows them)")
		return errUsage
	}
	ctx, store, closeStore, err := kf.openToChange(ctx)
	if err != nil {
		return err
	}
	defer closeStore()
	k, err := store.Revoke(ctx, id, time.Now())
	if err != nil {
		return err
	}
	auditKey(ctx, slog.Default(), audit.ActionKeyRevoke, k)
	fmt.Fprintf(out, "revoked %s key %s (%q) at %s\n", k.Kind, k.ID, k.Name, k.RevokedAt.Format(time.RFC3339))
	return nil
}

func keysUserToken(_ context.Context, args []string, out io.Writer) error {
	fs := newFlags("keys user-token", "--key K --user U [--ttl 1h]", `Signs a user token: what the marketplace's backend gives a browser so that
its requests with the public key may carry user=U (header
Rummage-User-Token). --key is a server key (search or admin) of the
backend, never the public key: anything a public key could sign, anyone
could. Nothing is looked up or stored: the token is signed with a key
derived from --key, which Rummage verifies with what it stores.`)
	key := fs.String("key", os.Getenv("RUMMAGE_KEY"), "the signing server `key` (default $RUMMAGE_KEY)")
	user := fs.String("user", "", "the user `id` the token is for")
	ttl := fs.Duration("ttl", time.Hour, "how long the token is valid (at most 24h)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	tok, err := keys.SignUserToken(*key, *user, time.Now(), *ttl)
	if err != nil {
		fmt.Fprintln(fs.Output(), err)
		return errUsage
	}
	fmt.Fprintln(out, tok)
	return nil
}

// devKeys makes one key of each kind when the store has none (the first
// start of dev) and prints them; later starts say how many there are.
func devKeys(ctx context.Context, ring *keys.Ring, w io.Writer) error {
	if all, active := ring.Len(); all > 0 {
		fmt.Fprintf(w, "api keys: %d active in rummage.api_keys, printed at the first start (rummage keys list|create --database-url ...)\n", active)
		return nil
	}
	fmt.Fprintln(w, "api keys (made at this first start and shown once; only their SHA-256 is stored):")
	ctx = audit.WithActor(ctx, "dev")
	for _, kind := range keys.Kinds() {
		secret, k, err := ring.Create(ctx, kind, "dev "+string(kind))
		if err != nil {
			return err
		}
		auditKey(ctx, slog.Default(), audit.ActionKeyCreate, k)
		fmt.Fprintf(w, "  %-7s %s\n", kind, secret)
	}
	return nil
}
