// Package kafkainv carries the serving cache's invalidations between
// processes over one Kafka topic, <prefix>.invalidations (one partition,
// segmentio/kafka-go): the indexer's Hook publishes the dependencies of
// every applied batch (Publisher is a cache.Sink), and every API replica
// reads the topic from its end when it starts (Subscriber) and invalidates
// its own cache. A replica that loses its place — a gap in the offsets, a
// read error, a topic recreated — drops its whole cache, since it cannot
// know what it missed.
//
// It must not import api, indexer or cmd.
package kafkainv
