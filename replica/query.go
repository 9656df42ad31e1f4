package replica

import (
	"context"
	"database/sql"
	"reflect"

	"github.com/sqlreplica/sqlreplica/internal/errrow"
)

// classOf returns the decision's input for query arriving through c: its
// class, and whether a read relies on functions declared read-only.
func (db *DB) classOf(c caller, query string) decisionInput {
	k, declared := db.cls.Load().classify(query)
	return decisionInput{caller: c, class: k, declared: declared}
}

// ExecContext runs a statement that returns no rows: on a replica when it
// is a read (see [router.Classify]), on the primary otherwise. A write is
// never retried. See [DB] for how sessions and hints change the choice.
func (db *DB) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if db.closed.Load() {
		return nil, ErrClosed
	}
	var res sql.Result
	err := db.route(ctx, query, db.classOf(callStatement, query), captureNow, func(ctx context.Context, _ *node, q querier) (err error) {
		res, err = q.ExecContext(ctx, query, args...)
		return err
	})
	return res, err
}

// Exec is [DB.ExecContext] with context.Background.
func (db *DB) Exec(query string, args ...any) (sql.Result, error) {
	return db.ExecContext(context.Background(), query, args...)
}

// QueryContext runs a statement that returns rows, routed as
// [DB.ExecContext] routes. A read whose node fails before any row came back
// runs on the next replica, then the primary; a write (INSERT … RETURNING)
// runs once, on the primary.
func (db *DB) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if db.closed.Load() {
		return nil, ErrClosed
	}
	var rows *sql.Rows
	err := db.route(ctx, query, db.classOf(callStatement, query), captureLater, func(ctx context.Context, _ *node, q querier) (err error) {
		rows, err = q.QueryContext(ctx, query, args...)
		return err
	})
	if err != nil {
		return nil, err
	}
	return rows, nil
}

// Query is [DB.QueryContext] with context.Background.
func (db *DB) Query(query string, args ...any) (*sql.Rows, error) {
	return db.QueryContext(context.Background(), query, args...)
}

// QueryRowContext runs a statement expected to return at most one row,
// routed and retried as [DB.QueryContext]. Errors are deferred to the Row's
// Scan, as with *sql.DB; the library's own ([ErrClosed], [ErrSplitBrain], …)
// too.
func (db *DB) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if db.closed.Load() {
		return errrow.Row(ErrClosed)
	}
	var row *sql.Row
	err := db.route(ctx, query, db.classOf(callStatement, query), captureLater, func(ctx context.Context, _ *node, q querier) error {
		row = q.QueryRowContext(ctx, query, args...)
		return row.Err()
	})
	if row == nil || err != nil && !identical(err, row.Err()) {
		// The statement never ran, or the error is the library's own.
		return errrow.Row(err)
	}
	return row
}

// identical reports whether a and b are the same error value.
func identical(a, b error) bool {
	return a != nil && b != nil && reflect.TypeOf(a) == reflect.TypeOf(b) && reflect.TypeOf(a).Comparable() && a == b
}

// QueryRow is [DB.QueryRowContext] with context.Background.
func (db *DB) QueryRow(query string, args ...any) *sql.Row {
	return db.QueryRowContext(context.Background(), query, args...)
}

// PrepareContext returns a statement of [DB.SQLDB]: prepared lazily on
// whichever node runs it, and routed at each execution as the DB's own
// statements are (a read spreads over the replicas, a write goes to the
// primary, a session or token in the execution's context is honoured). An
// error in the statement therefore shows at its first execution. Such a
// statement can be given to [Tx.StmtContext].
func (db *DB) PrepareContext(ctx context.Context, query string) (*sql.Stmt, error) {
	if db.closed.Load() {
		return nil, ErrClosed
	}
	st, err := db.SQLDB().PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	db.stmts.add(st, query)
	return st, nil
}

// Prepare is [DB.PrepareContext] with context.Background.
func (db *DB) Prepare(query string) (*sql.Stmt, error) {
	return db.PrepareContext(context.Background(), query)
}

// Conn returns a single connection of [DB.SQLDB], for work that needs one
// session (SET, temporary tables, advisory locks, LAST_INSERT_ID, …). Its
// reads go to the replicas until it runs anything that may write or change
// session state; from then on every statement runs on one primary
// connection, where that state is (see [DB.SQLDB]). Its statements honour
// the context's session, token and hints, and a write is refused with
// [ErrSplitBrain] in a split brain. [DriverConn.Primary], through
// (*sql.Conn).Raw, gives the primary's driver connection.
func (db *DB) Conn(ctx context.Context) (*sql.Conn, error) {
	if db.closed.Load() {
		return nil, ErrClosed
	}
	return db.SQLDB().Conn(ctx)
}
