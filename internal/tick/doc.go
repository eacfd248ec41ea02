// Package tick owns the periodic loop that background workers share (the
// key ring's refresh, the file key store's watch, the serving cache's
// coalesced invalidations): call a function every interval, and at once
// when woken, until the context ends.
//
// It imports the standard library only, never a Rummage package.
package tick
