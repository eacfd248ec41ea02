// Package affinity is the events consumer that learns affinity profiles:
// a consumer group of its own on the events topic (events.Topic) applies
// every click, add-to-cart and purchase to the profile of its (already
// pseudonymous) user, as decayed weights of the listing's brand, category,
// size, price band and closet (ranking.FeaturesOf), in the signals store.
//
// Likes, shares and follows are not read here: they are counted from the
// change stream only (DESIGN.md "Events and analytics"), and the discovery
// layer derives their half of a profile from the signals store's rows
// (feed.Profiles). like, share and view events are attribution records
// and are skipped.
//
// Exactly once in effect: the store keeps the topic positions with the
// deltas, atomically; a message at or below its partition's stored
// position (redelivered after a crash between the store's write and the
// group's commit) is skipped.
//
// It imports events, indexer (the Source contract), query (the listings'
// Loader), ranking (the features) and signals; no backend, no API.
package affinity
