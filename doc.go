// Package sqlreplica puts read replicas behind database/sql safely.
//
// The module's packages each do one job:
//
//   - [github.com/sqlreplica/sqlreplica/replica]: the DB type. It wraps a
//     primary *sql.DB and its replicas, has the methods of *sql.DB, and
//     routes every statement.
//   - [github.com/sqlreplica/sqlreplica/router]: the SQL lexer and the
//     classifier that decides whether a statement is provably a read, and
//     the balancers that pick a replica.
//   - [github.com/sqlreplica/sqlreplica/health]: background checks of every
//     node (role, replication position, lag, replication state), the status
//     snapshot, its HTTP handler, the configuration audit and the opt-in
//     fail-over helper.
//   - [github.com/sqlreplica/sqlreplica/consistency]: replication positions
//     (PostgreSQL LSN, MySQL GTID set, MariaDB GTID list) as tokens.
//
// # Routing
//
// A statement goes to a replica only when [router.Classify] says it is a
// read: a SELECT, WITH … SELECT, VALUES, TABLE, SHOW, DESCRIBE or EXPLAIN of
// a read, with no write verb in any statement of the string, no locking
// clause, no SELECT … INTO, and no call to a function not known to be
// read-only (built-ins on the library's list, functions declared with
// [replica.ReadFunctions] or found read-only in the catalog). Everything
// else, including anything the classifier does not recognise, goes to the
// primary. Read-only transactions run on one replica and refuse statements
// that may write; all others run on the primary. [replica.WithPrimary] sends
// anything to the primary; [replica.WithReplica] asks for a replica but can
// never send a statement that may write to one.
//
// # A *sql.DB that routes
//
// [replica.DB.SQLDB] is a real *sql.DB whose every statement is routed by
// the same rules, for code that takes a *sql.DB: sqlx, GORM, bun, ent,
// goose, otelsql, sqlc. Its transactions run wholly on one node, and a
// *sql.Conn stays on one primary connection from its first statement that
// writes or changes session state. [replica.DB.PrepareContext] and
// [replica.DB.Conn] return its statements and connections.
//
// # Failures
//
// A read that a replica cannot serve moves to the next replica, then the
// primary; a write is never retried. A replica that refuses a read as a
// write (a function declared read-only by mistake) sends it to the primary,
// as a write. A node whose connection fails leaves rotation at once; a
// caller's own context ending never takes a node out. In a split brain,
// every statement that may write is refused with [replica.ErrSplitBrain].
//
// # Read-your-writes
//
// A session in the context ([consistency.WithSession]) records where each
// write landed (a PostgreSQL WAL position, a MySQL GTID set, a MariaDB GTID
// list); the session's reads go to a replica known to have applied it, else
// wait a bounded time, else run on the primary. Tokens carry a position
// across requests and services ([consistency.WithToken]). Code that cannot
// carry a session (an ORM, a migration tool) can open the DB with
// [replica.CausalReads]: every read then sees every write the DB
// acknowledged before it began, the same way, without pinning reads to a
// replica. [replica.DB.RecordWrite] tells a session, and the DB, of a write
// made outside it.
//
// # Health and topology
//
// Every node is checked in the background. Reads avoid replicas that are
// down or lag beyond a limit; writes go to whichever node reports itself
// writable, so they follow an external fail-over; two writable nodes (a
// split brain) make writes fail rather than diverge.
//
// # Concurrency
//
// Every exported type is safe for concurrent use unless its documentation
// says otherwise ([replica.Tx], like *sql.Tx, is not; nor is
// [replica.DriverConn], which database/sql uses from one goroutine at a
// time).
package sqlreplica
