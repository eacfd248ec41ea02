// Package signalstest is the conformance suite every signals.Store runs, the
// way benthos reuses integration.CacheTests across caches: a store's test
// hands Run a Harness that opens empty stores (and, for a durable store,
// reopens one over the same data), and the suite applies scripted batches
// and checks every Reader call against the answers written here by hand.
//
// The scenarios pin the contract of package signals where its comments
// leave a choice: instants are kept to the millisecond; ties in SharedBy,
// Activity, PartyShares and TopEngaged go to the smaller listing id;
// Suspended, Blocked and Engagers are compared as sets; a truncate is a
// floor for its table (a later change below it is stale).
//
// It imports signals and the standard library only: never a store.
package signalstest
