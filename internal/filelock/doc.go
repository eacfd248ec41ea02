// Package filelock holds advisory locks on files (flock on Unix), so that
// two processes never write one store: the key file, the embedded index's
// probe, the memory signals store's directory. Plumbing only: it imports
// nothing of Rummage.
package filelock
