// Package audit is the audit log of admin actions: who (an actor: an API
// key id, the operator at the command line) did what (an action such as
// key.create, key.revoke, reindex.start) to what (a target id), when, and
// how it ended. A Recorder records an Event: Logger writes it as one
// structured log line (message "audit"), Postgres as a row of the table
// rummage.audit_log (fixtures/migrations/0006_rummage_audit.sql), Multi
// with several. keys/pgkeys writes the row of a key change with Insert, in
// the transaction of the change itself.
//
// The actor travels in the context (WithActor, ActorFrom). HTTP records
// the mutations of an admin handler once they are answered.
//
// It imports pgx and the standard library only; it must not import api,
// keys or cmd.
package audit
