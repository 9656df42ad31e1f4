package replica

import (
	"context"
	"database/sql"
	"errors"
)

// ExecContext runs a statement that returns no rows: on a replica when it
// is a read (see [router.Classify]) or the context says [WithReplica], on the
// primary otherwise. A write is never retried.
func (db *DB) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if db.closed.Load() {
		return nil, ErrClosed
	}
	var res sql.Result
	fn := func(n *node) (err error) {
		res, err = n.db.ExecContext(ctx, query, args...)
		return err
	}
	if o := optsFrom(ctx); db.isRead(o, query) {
		err := db.onReplica(ctx, o, fn)
		return res, err
	}
	err := db.onPrimary(ctx, captureNow, fn)
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
	fn := func(n *node) (err error) {
		rows, err = n.db.QueryContext(ctx, query, args...)
		return err
	}
	if o := optsFrom(ctx); db.isRead(o, query) {
		err := db.onReplica(ctx, o, fn)
		return rows, err
	}
	err := db.onPrimary(ctx, captureLater, fn)
	return rows, err
}

// Query is [DB.QueryContext] with context.Background.
func (db *DB) Query(query string, args ...any) (*sql.Rows, error) {
	return db.QueryContext(context.Background(), query, args...)
}

// QueryRowContext runs a statement expected to return at most one row,
// routed and retried as [DB.QueryContext]. Errors are deferred to the Row's
// Scan, as with *sql.DB; [ErrSplitBrain] and [ErrClosed] too.
func (db *DB) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if db.closed.Load() {
		return db.primary.db.QueryRowContext(closedCtx{ctx, ErrClosed}, query, args...)
	}
	var row *sql.Row
	fn := func(n *node) error {
		row = n.db.QueryRowContext(ctx, query, args...)
		return row.Err()
	}
	if o := optsFrom(ctx); db.isRead(o, query) {
		if err := db.onReplica(ctx, o, fn); row == nil {
			// The statement never ran (ErrNotReplicated, ErrSplitBrain):
			// hand back a Row that carries the error.
			return db.primary.db.QueryRowContext(closedCtx{ctx, err}, query, args...)
		}
		return row
	}
	if err := db.onPrimary(ctx, captureLater, fn); row == nil || errors.Is(err, ErrReadOnlyPrimary) {
		return db.primary.db.QueryRowContext(closedCtx{ctx, err}, query, args...)
	}
	return row
}

// QueryRow is [DB.QueryRowContext] with context.Background.
func (db *DB) QueryRow(query string, args ...any) *sql.Row {
	return db.QueryRowContext(context.Background(), query, args...)
}

// PrepareContext prepares a statement on the node its class sends it to: a
// replica (picked by the balancer, the next one if it cannot prepare) for a
// read, the primary otherwise. It is prepared there only, not on every node,
// and the *sql.Stmt stays bound to that node: for reads spread over every
// replica and following fail-overs, run the query unprepared (both drivers
// cache prepared statements per connection). Statements run through the
// *sql.Stmt bypass the DB: their writes are not recorded in a session, and
// their reads do not honour one.
func (db *DB) PrepareContext(ctx context.Context, query string) (*sql.Stmt, error) {
	if db.closed.Load() {
		return nil, ErrClosed
	}
	var st *sql.Stmt
	fn := func(n *node) (err error) {
		st, err = n.db.PrepareContext(ctx, query)
		return err
	}
	if o := optsFrom(ctx); db.isRead(o, query) {
		err := db.onReplica(ctx, o, fn)
		return st, err
	}
	err := db.onPrimary(ctx, captureNone, fn)
	return st, err
}

// Prepare is [DB.PrepareContext] with context.Background.
func (db *DB) Prepare(query string) (*sql.Stmt, error) {
	return db.PrepareContext(context.Background(), query)
}

// Conn returns a single connection, for work that needs one session: on the
// primary, or on a replica when ctx says [WithReplica]. Statements run
// through it bypass the DB: no routing, and no read-your-writes session.
func (db *DB) Conn(ctx context.Context) (*sql.Conn, error) {
	if db.closed.Load() {
		return nil, ErrClosed
	}
	var c *sql.Conn
	fn := func(n *node) (err error) {
		c, err = n.db.Conn(ctx)
		return err
	}
	if o := optsFrom(ctx); len(db.replicas) > 0 && o != nil && o.Hint == hintReplica {
		err := db.onReplica(ctx, o, fn)
		return c, err
	}
	err := db.onPrimary(ctx, captureNone, fn)
	return c, err
}
