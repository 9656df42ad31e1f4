// Package health checks the nodes of a replicated database in the
// background and says what it found: each node's role, whether it is in
// rotation, its replication position and lag, its replication threads and
// errors, semi-synchronous replication, and who the writer is (or a split
// brain). A [Checker] publishes a [Snapshot] after every round and reports
// changes as [Event]s; [Audit] reviews the servers' settings for risks;
// [Handler] serves the status over HTTP.
//
// Package replica runs a Checker for its DB; use this package directly for
// the status, events and audit of a replica.DB (DB.Status, the OnEvent
// option, Audit(ctx, db)).
package health
