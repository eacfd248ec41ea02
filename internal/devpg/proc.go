package devpg

// procState is what postmasterState tells of a postmaster.pid's process.
type procState int

const (
	unknown procState = iota // no way to tell on this system
	alive                    // the cluster's postmaster
	gone                     // exited, a zombie, or another program
)
