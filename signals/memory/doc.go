// Package memory is the embedded signals.Store: the social state in memory,
// compact (ids interned to uint32, instants as int64 milliseconds, likes and
// shares in one arena of columns that every index refers to by number),
// durable on local disk (an fsynced log of applied batches with their
// positions, and snapshots, written in the background while batches go on,
// that cut it), recovered on restart from the last snapshot and the logs
// after it rather than from the stream.
//
// Party feeds read a per-party share log (sorted by time, for the share
// count of a window) and each listing's latest share into the party, going
// back along the listing's chain of events for "its latest share before t";
// following feeds merge per-closet timelines at read time, so a share costs
// one timeline entry however many followers its closet has. A party's
// listings sorted by their latest share are kept per version of the party
// (built by the first reader after a change, shared by the others), so a
// page of a party that did not change costs no sort. Each user keeps their
// shares and their likes in two timelines (following feeds merge shares
// only). Events older than the newest of a timeline or party log (a
// snapshot of the shares table arrives in listing order) are appended and
// settled once per applied chunk: the tail sorted and merged in.
//
// It is one of the two signals stores (the other is signals/redis) and runs
// signals/signalstest. It imports signals, query (the theme's filters) and
// internal/atomicfile: never feed, api, indexer or a query backend.
package memory
