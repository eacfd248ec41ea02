// Package devpg runs a private Postgres cluster for `rummage dev` from the
// server binaries installed on the machine, so that a fresh checkout runs
// the whole pipeline with no database set up by hand.
//
// It owns the cluster's lifecycle in one directory: the first Start
// initializes it (initdb), later ones reuse it — adopting a server left
// running by a killed dev, or clearing the postmaster.pid of a killed
// server — and Stop shuts it down (pg_ctl stop -m fast). The server is
// configured for the CDC (wal_level=logical, enough WAL senders and slots,
// max_slot_wal_keep_size so that a forgotten slot cannot fill the disk) and
// listens on a unix socket only, in a 0700 directory inside the cluster's
// own: trust is granted to local connections alone, TCP is rejected both by
// an empty listen_addresses and by pg_hba.conf. Started as root, it runs initdb
// and the server as the postgres OS user (Postgres refuses root), in a
// directory that user owns.
//
// It is plumbing: it imports no Rummage package, and reads no flags or
// environment variables of its own (cmd/rummage wires it).
package devpg
