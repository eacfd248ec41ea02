// Package signals owns Rummage's social state: closets and their status,
// follows, likes, shares (per party and per closet), parties and blocks —
// the rows of the marketplace's social tables, followed through the CDC
// like listings, and answered to the discovery layer (package feed) at
// read time.
//
// Store is one small interface (Writer for the indexer's signals applier,
// Reader for the surfaces) with two implementations and one conformance
// suite (signals/signalstest): signals/memory (in process, durable on local
// disk) and signals/redis (shared by API replicas). The applied stream
// positions live in the store with its data, so that an emptied or new
// store is rebuilt by reading the stream from its start.
//
// It knows nothing of listings beyond their ids: visibility, filters and
// themes are evaluated by retrieval (package query), ordering by ranking.
// It must not import feed, api, indexer or a query backend.
package signals
