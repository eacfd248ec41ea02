// Package redisstore is the signals store on Redis (signals.Store), shared
// by every API replica, and the home feed's ranked snapshots on Redis
// (feed.Snapshots) so that a walk through the home feed may hop replicas.
//
// It owns the Redis layout below; the indexer's signals applier writes it
// through Apply, the surfaces read it through the signals.Reader calls.
// Every key starts with a hash tag, so that each user's, party's and
// listing's keys share a slot (P is Config.Prefix):
//
//	{P}:epoch                  random id of this Redis's data (see Positions)
//	{P}:pos                    applied positions, "topic\0partition" → offset
//	{P}:trunc                  per table, the version of its latest truncate
//	{P}:sellers, {P}:parties   id → row (JSON); {P}:v:<table> id → version
//	{P}:suspended              suspended seller ids
//	{P}:users, {P}:sb          users with per-user rows, share-record buckets
//	{P}:s:<id/128>             share id → version and row (a delete needs it)
//	{P}:recent                 listing → its latest like or share by anyone
//	{P}:hot                    listing → log2 of its decayed count of engagers
//	{P:u:U}:fo                 closets U follows → follow time
//	{P:u:U}:fr                 users following closet U (a set)
//	{P:u:U}:bl                 closets U blocked
//	{P:u:U}:lk                 listings U liked → like time
//	{P:u:U}:sl                 ms13 .. L for each listing U shared, at U's latest share of it
//	{P:u:U}:sh                 U's shares, "L\0ms13\0id" (lexicographic)
//	{P:u:U}:v                  versions of U's follows, likes, blocks
//	{P:p:X}:pl                 ms13 .. L for each listing shared into X, at its latest
//	{P:p:X}:ph                 X's shares, "L\0ms13\0id" (lexicographic)
//	{P:p:X}:pt                 X's shares, share id → share time
//	{P:l:L}:e                  users who liked or shared L → latest time
//	{P:l:L}:lc                 L's number of likes (absent: none)
//	{P:l:L}:st                 L's shares, share id → share time (Counters)
//	{P:snap:<id>}              a home feed snapshot (JSON, with a TTL)
//
// A share is one entry in its closet's timeline and, when it has a party,
// in the party's log: a closet with 100k followers costs no fan-out on
// write. SharedBy merges the followed closets' timelines at read time in
// one pipeline (a second one only for listings re-shared after the
// instant read at). The "latest" zsets answer the present; the
// lexicographic histories answer "the latest share of L at or before t"
// for the few listings re-shared since t, so that every read is as of its
// instant.
//
// Writes are one Lua script per chunk of a batch (apply.lua): the version
// rule is enforced there, atomically, and the batch's positions are
// written by the script of its last chunk, so they are never ahead of the
// data; an interrupted batch left partly applied is replayed from the old
// positions and the versions make that harmless. The script refuses to
// write when {P}:epoch is not the epoch this Store read with Positions:
// a Redis emptied (or replaced) under a running applier is detected, and
// Positions answers none so that the applier replays the stream from its
// start. The script builds its keys from the prefix, so it runs on one
// Redis (or one Cluster shard holding the whole prefix); every read is a
// pipeline of single-key commands and runs on Redis Cluster as it is.
// Redis must not evict these keys (maxmemory-policy noeviction).
//
// Costs (measured by the benchmarks and TestRoundTrips): every Reader
// call is one round trip, two when it
// reads as of an instant with events after it, TopEngaged at most three.
// Reads cost Redis and the client CPU per entry returned (a following feed
// of 5,000 closets reads up to 50,000 timeline entries). TopEngaged scores
// a small horizon exactly from the engagers; beyond 4,096 listings it reads
// the decayed sums apply.lua keeps per listing ({P}:hot), the top k. A party
// share held ~441 bytes of Redis, a closet share ~324, a follow ~104,
// measured before the counters' {P:l:L}:st entry (a share id and a score
// more per share) was added.
//
// It must not import api, indexer or a query backend; it imports feed only
// for the Snapshots contract.
package redisstore
