// Package replica puts a primary database and its read replicas behind one
// handle, [DB], with the methods of *sql.DB: each statement goes to the
// primary or a replica by what it does ([router.Classify]) or by a hint in
// its context ([WithPrimary], [WithReplica]).
//
// Open one over data source names with [Open] (the pools are the DB's), or
// over pools you already have with [New]:
//
//	db, err := replica.Open("pgx", primaryDSN, []string{replicaDSN})
//
// Importing the package registers nothing of its own: it imports pgx's
// stdlib ("pgx") and go-sql-driver/mysql ("mysql"), which register those
// driver names.
//
// What the DB promises:
//
//   - A statement that may write, lock or change session state never runs
//     on a replica; when the classifier is unsure, the primary.
//   - A write is never retried; a read that a replica cannot serve moves to
//     the next replica, then the primary.
//   - Replicas are checked in the background: down, lagging or split-brain
//     nodes leave rotation; writes follow the node that reports itself
//     writable.
//   - Read-your-writes: a session in the context ([consistency.WithSession])
//     or a token ([consistency.WithToken]) sends a read only where the
//     session's writes are; [CausalReads] does it for every read of the DB.
//     Reads that wait for a replica to apply their writes share its
//     position reads: one query per 2 ms at most, however many wait.
//   - [DB.SQLDB] is a real *sql.DB routed the same way, for sqlx, GORM, bun,
//     ent, goose, otelsql and sqlc.
//
// Every wait is bounded by the caller's context or the DB's own limits, and
// [DB.Close] stops every goroutine the DB started.
package replica
