package replica

import (
	"context"
	"database/sql"
	"sync/atomic"
	"time"

	"github.com/sqlreplica/sqlreplica/consistency"
	"github.com/sqlreplica/sqlreplica/internal/errrow"
	"github.com/sqlreplica/sqlreplica/router"
)

// Tx is a transaction on one node. A Tx is not safe for concurrent use, as
// *sql.Tx is not.
//
// A read-write transaction runs every statement on the primary, whatever
// its class. A transaction routed as a read (read-only, or begun with
// [WithReplica]) refuses every statement that may write, lock or change
// session state with [ErrWriteOnReplica], without sending it, wherever it
// runs (on a replica, or on the primary when no replica could serve).
type Tx struct {
	tx      *sql.Tx
	node    *node
	db      *DB
	ctx     context.Context // BeginTx's: its session records the commit
	read    bool            // routed as a read: begun read only, statements checked
	conn    *sql.Conn       // a read-routed transaction's connection, returned at its end
	tainted atomic.Bool     // a statement relying on a declared read-only function ran or failed
}

// BeginTx starts a transaction. A read-only transaction (opts.ReadOnly), or
// any transaction begun with [WithReplica], runs on one replica, begun read
// only, chosen as a read is (honouring the context's session or token), or
// on the primary when no replica can serve. Every other transaction runs
// wholly on the primary, its reads included, and is refused with
// [ErrSplitBrain] in a split brain. [WithPrimary] sends any transaction to
// the primary. On PostgreSQL, a read-only SERIALIZABLE transaction runs on
// the primary: a hot standby cannot run one.
func (db *DB) BeginTx(ctx context.Context, opts *sql.TxOptions) (*Tx, error) {
	if db.closed.Load() {
		return nil, ErrClosed
	}
	cls := router.Write
	if opts != nil && opts.ReadOnly {
		cls = router.Read
	}
	in := decisionInput{caller: callBegin, class: cls, hint: hintFrom(ctx)}
	// A transaction the decision routes as a read (read-only, or begun with
	// WithReplica) is begun read only and checks its statements.
	read := !in.mayWrite()
	if opts != nil && opts.Isolation == sql.LevelSerializable && read &&
		db.Dialect() != router.MySQL && db.Dialect() != router.MariaDB {
		in.serializableOnPG = true
	}
	var t *Tx
	err := db.route(ctx, "", in, captureNone, func(qctx context.Context, n *node, q querier) error {
		o := opts
		if read && (o == nil || !o.ReadOnly) {
			ro := sql.TxOptions{ReadOnly: true}
			if o != nil {
				ro.Isolation = o.Isolation
			}
			o = &ro
		}
		if !read {
			tx, err := q.BeginTx(ctx, o)
			if err != nil {
				return err
			}
			t = &Tx{tx: tx, node: n, db: db, ctx: ctx}
			return nil
		}
		// A read-routed transaction holds its connection itself, so that
		// one a failed statement may have left a lock on can be closed.
		conn, err := n.db.Conn(ctx)
		if err != nil {
			return err
		}
		tx, err := conn.BeginTx(ctx, o)
		if err != nil {
			conn.Close()
			return err
		}
		t = &Tx{tx: tx, node: n, db: db, ctx: ctx, read: true, conn: conn}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}

// Begin is [DB.BeginTx] with context.Background and default options: a
// read-write transaction on the primary.
func (db *DB) Begin() (*Tx, error) { return db.BeginTx(context.Background(), nil) }

// Node names the node the transaction runs on (see [NodeError] for names).
func (tx *Tx) Node() string { return tx.node.name }

// allowed returns nil when query may run in the transaction: always in a
// read-write one; in one routed as a read, only when it is a read. It also
// says whether the statement relies on functions declared read-only.
func (tx *Tx) allowed(query string) (declared bool, err error) {
	if !tx.read {
		return false, nil
	}
	in := tx.db.classOf(callInReplicaTx, query)
	in.savepoint = isSavepoint(query)
	d := decide(in)
	if d.target == refuse {
		return false, refusal(d)
	}
	return d.isolate, nil
}

// failed notes a statement's failure: one that relied on a declared
// function taints the connection, which is then closed, not pooled.
func (tx *Tx) failed(declared bool, err error) {
	if declared && err != nil {
		tx.tainted.Store(true)
	}
}

// end returns a read-routed transaction's connection to its pool, or closes
// it when a statement may have left something on it.
func (tx *Tx) end() {
	if tx.conn == nil {
		return
	}
	if tx.tainted.Load() {
		discardConn(tx.conn)
	}
	tx.conn.Close()
}

// ExecContext runs a statement in the transaction.
func (tx *Tx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	declared, err := tx.allowed(query)
	if err != nil {
		return nil, err
	}
	res, err := tx.tx.ExecContext(ctx, query, args...)
	tx.failed(declared, err)
	return res, err
}

// Exec is [Tx.ExecContext] with context.Background.
func (tx *Tx) Exec(query string, args ...any) (sql.Result, error) {
	return tx.ExecContext(context.Background(), query, args...)
}

// QueryContext runs a query in the transaction.
func (tx *Tx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	declared, err := tx.allowed(query)
	if err != nil {
		return nil, err
	}
	if declared {
		tx.tainted.Store(true) // its error may come with its rows, out of sight
	}
	return tx.tx.QueryContext(ctx, query, args...)
}

// Query is [Tx.QueryContext] with context.Background.
func (tx *Tx) Query(query string, args ...any) (*sql.Rows, error) {
	return tx.QueryContext(context.Background(), query, args...)
}

// QueryRowContext runs a query expected to return at most one row in the
// transaction.
func (tx *Tx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	declared, err := tx.allowed(query)
	if err != nil {
		return errrow.Row(err)
	}
	if declared {
		tx.tainted.Store(true) // its error may come with its row, out of sight
	}
	return tx.tx.QueryRowContext(ctx, query, args...)
}

// QueryRow is [Tx.QueryRowContext] with context.Background.
func (tx *Tx) QueryRow(query string, args ...any) *sql.Row {
	return tx.QueryRowContext(context.Background(), query, args...)
}

// PrepareContext prepares a statement for use in the transaction.
func (tx *Tx) PrepareContext(ctx context.Context, query string) (*sql.Stmt, error) {
	declared, err := tx.allowed(query)
	if err != nil {
		return nil, err
	}
	if declared {
		tx.tainted.Store(true)
	}
	return tx.tx.PrepareContext(ctx, query)
}

// Prepare is [Tx.PrepareContext] with context.Background.
func (tx *Tx) Prepare(query string) (*sql.Stmt, error) {
	return tx.PrepareContext(context.Background(), query)
}

// StmtContext returns a transaction-specific copy of a statement prepared
// with [DB.PrepareContext]: the statement is prepared on the transaction's
// connection. In a transaction routed as a read, a statement that may write
// (or that this DB did not prepare, whose class it cannot know) gives a
// *sql.Stmt whose every use fails with [ErrWriteOnReplica]; nothing is sent.
// A statement this DB did not prepare is handed to *sql.Tx's StmtContext.
func (tx *Tx) StmtContext(ctx context.Context, stmt *sql.Stmt) *sql.Stmt {
	query, ok := tx.db.stmts.of(stmt)
	if tx.read {
		in := decisionInput{caller: callInReplicaTx, class: router.Write} // not prepared by this DB: its class is not known
		if ok {
			in = tx.db.classOf(callInReplicaTx, query)
			in.savepoint = isSavepoint(query)
		}
		d := decide(in)
		if d.target == refuse {
			return tx.tx.StmtContext(errrow.Ctx(refusal(d)), stmt) // a Stmt that fails with it
		}
		if d.isolate {
			tx.tainted.Store(true)
		}
	}
	if !ok {
		return tx.tx.StmtContext(ctx, stmt)
	}
	st, err := tx.tx.PrepareContext(ctx, query)
	if err != nil {
		return tx.tx.StmtContext(errrow.Ctx(err), stmt) // a Stmt that fails with it
	}
	return st
}

// Stmt is [Tx.StmtContext] with context.Background.
func (tx *Tx) Stmt(stmt *sql.Stmt) *sql.Stmt { return tx.StmtContext(context.Background(), stmt) }

// Commit commits the transaction. The commit of a read-write transaction
// begun with a session in its context records its position in the session,
// and with [CausalReads] in the DB-wide position; when the commit's outcome
// is unknown (its connection failed), they record the primary's position
// read later, which covers it if it was applied.
func (tx *Tx) Commit() error {
	s := consistency.SessionFrom(tx.ctx)
	err := tx.tx.Commit()
	tx.end()
	if tx.read || s == nil && !tx.db.causal.on {
		return err
	}
	db, n := tx.db, tx.node
	if err != nil {
		return db.writeFailed(tx.ctx, n, s, err)
	}
	db.recordWrite(tx.ctx, s, n, time.Now())
	return nil
}

// Rollback aborts the transaction.
func (tx *Tx) Rollback() error {
	err := tx.tx.Rollback()
	tx.end()
	return err
}
