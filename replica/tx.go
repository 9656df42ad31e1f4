package replica

import (
	"context"
	"database/sql"

	"github.com/sqlreplica/sqlreplica/router"
)

// Tx is a transaction on one node. Every statement in it runs on that node,
// whatever its class. A Tx is not safe for concurrent use, as *sql.Tx is not.
type Tx struct {
	tx       *sql.Tx
	node     *node
	db       *DB
	ctx      context.Context // BeginTx's: its session records the commit
	readOnly bool
}

// BeginTx starts a transaction. A read-only transaction (opts.ReadOnly) runs
// on one replica, chosen round-robin, or on the primary when no replica can
// begin it; every other transaction runs wholly on the primary, its reads
// included. [WithPrimary] and [WithReplica] override the choice. On
// PostgreSQL, a read-only SERIALIZABLE transaction runs on the primary: a hot
// standby cannot run one.
func (db *DB) BeginTx(ctx context.Context, opts *sql.TxOptions) (*Tx, error) {
	if db.closed.Load() {
		return nil, ErrClosed
	}
	var t *Tx
	fn := func(n *node) error {
		tx, err := n.db.BeginTx(ctx, opts)
		if err != nil {
			return err
		}
		t = &Tx{tx: tx, node: n, db: db, ctx: ctx, readOnly: opts != nil && opts.ReadOnly}
		return nil
	}
	if db.txOnReplica(ctx, opts) {
		err := db.onReplica(ctx, optsFrom(ctx), fn)
		return t, err
	}
	err := db.onPrimary(ctx, captureNone, fn)
	return t, err
}

// Begin is [DB.BeginTx] with context.Background and default options: a
// read-write transaction on the primary.
func (db *DB) Begin() (*Tx, error) { return db.BeginTx(context.Background(), nil) }

func (db *DB) txOnReplica(ctx context.Context, opts *sql.TxOptions) bool {
	if len(db.replicas) == 0 {
		return false
	}
	switch hintFrom(ctx) {
	case hintPrimary:
		return false
	case hintReplica:
		return true
	}
	if opts == nil || !opts.ReadOnly {
		return false
	}
	if opts.Isolation == sql.LevelSerializable && db.Dialect() != router.MySQL && db.Dialect() != router.MariaDB {
		return false
	}
	return true
}

// Node names the node the transaction runs on (see [NodeError] for names).
func (tx *Tx) Node() string { return tx.node.name }

// ExecContext runs a statement in the transaction.
func (tx *Tx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return tx.tx.ExecContext(ctx, query, args...)
}

// Exec is [Tx.ExecContext] with context.Background.
func (tx *Tx) Exec(query string, args ...any) (sql.Result, error) {
	return tx.tx.Exec(query, args...)
}

// QueryContext runs a query in the transaction.
func (tx *Tx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return tx.tx.QueryContext(ctx, query, args...)
}

// Query is [Tx.QueryContext] with context.Background.
func (tx *Tx) Query(query string, args ...any) (*sql.Rows, error) {
	return tx.tx.Query(query, args...)
}

// QueryRowContext runs a query expected to return at most one row in the
// transaction.
func (tx *Tx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return tx.tx.QueryRowContext(ctx, query, args...)
}

// QueryRow is [Tx.QueryRowContext] with context.Background.
func (tx *Tx) QueryRow(query string, args ...any) *sql.Row {
	return tx.tx.QueryRow(query, args...)
}

// PrepareContext prepares a statement for use in the transaction.
func (tx *Tx) PrepareContext(ctx context.Context, query string) (*sql.Stmt, error) {
	return tx.tx.PrepareContext(ctx, query)
}

// Prepare is [Tx.PrepareContext] with context.Background.
func (tx *Tx) Prepare(query string) (*sql.Stmt, error) { return tx.tx.Prepare(query) }

// StmtContext returns a transaction-specific copy of a statement prepared
// with [DB.PrepareContext]. The statement must have been prepared on the
// transaction's node (a write statement and a read-write transaction are both
// on the primary).
func (tx *Tx) StmtContext(ctx context.Context, stmt *sql.Stmt) *sql.Stmt {
	return tx.tx.StmtContext(ctx, stmt)
}

// Stmt is [Tx.StmtContext] with context.Background.
func (tx *Tx) Stmt(stmt *sql.Stmt) *sql.Stmt { return tx.tx.Stmt(stmt) }

// Commit commits the transaction. The commit of a read-write transaction
// begun with a session in its context records its position in the session.
func (tx *Tx) Commit() error {
	if err := tx.tx.Commit(); err != nil {
		return err
	}
	if !tx.readOnly && tx.node == tx.db.view.Load().writer {
		tx.db.record(tx.ctx, tx.node, captureNow)
	}
	return nil
}

// Rollback aborts the transaction.
func (tx *Tx) Rollback() error { return tx.tx.Rollback() }
