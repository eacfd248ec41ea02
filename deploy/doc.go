// Package deploy holds the production-shaped stack (docker-compose.yml:
// Postgres with logical replication, Kafka in KRaft mode, Elasticsearch 8,
// and Rummage's cdc, indexer and api roles) and the test that keeps it in
// step with the binary's flags. It has no code of its own and must not be
// imported.
package deploy
