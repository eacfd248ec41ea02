// Package deploy holds the production-shaped stack (docker-compose.yml:
// Postgres with logical replication, Kafka in KRaft mode, Elasticsearch 8,
// and Rummage's cdc, indexer and api roles), a Kubernetes example for the
// API (k8s/: Deployment, Service, HPA on request rate, a pre-scale CronJob
// reading /v1/schedule; docs/deploy.md), and the tests that keep them in
// step with the binary's flags and with each other. It has no code of its
// own and must not be imported.
package deploy
