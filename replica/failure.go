package replica

import (
	"context"
	"errors"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sqlreplica/sqlreplica/internal/dberr"
)

// failure says what an error from a node means for the statement and for
// the node.
type failure uint8

const (
	// failFinal: the statement's own error, or the caller's context ended:
	// return it as it is; the node is fine.
	failFinal failure = iota + 1
	// failRetry: the node could not serve this statement now (a recovery
	// conflict, too many connections) but is not down: a read moves on.
	failRetry
	// failDown: the connection to the node failed: it leaves rotation at
	// once, and a read moves on.
	failDown
	// failRefused: a replica refused the statement as a write: nothing was
	// applied, and it is a write.
	failRefused
	// failPrimaryOnly: the statement only runs on a primary (PostgreSQL's
	// primary-only functions on a standby); nothing was applied.
	failPrimaryOnly
)

// judge is the one place that decides whether a failure is the node's
// fault, by the error's type and code rather than its text. A caller's own
// context ending is never the node's fault, and neither is waiting for a
// free connection in a busy pool (that wait ends with the caller's
// context).
func judge(ctx context.Context, err error) failure {
	if ctx.Err() != nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return failFinal
	}
	if dberr.IsReadOnly(err) {
		return failRefused
	}
	if dberr.IsConn(err) {
		return failDown
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "40001": // on a standby: canceled by a conflict with recovery
			return failRetry
		case "53300": // too_many_connections
			return failRetry
		case "55000": // object_not_in_prerequisite_state: "recovery is in progress"
			return failPrimaryOnly
		}
	}
	var me *mysql.MySQLError
	if errors.As(err, &me) && me.Number == 1040 { // ER_CON_COUNT_ERROR
		return failRetry
	}
	return failFinal
}

// failed reports a statement's failure on n: a failed connection takes the
// node out of rotation at once and asks for a check. It returns judge's
// verdict.
func (db *DB) failed(ctx context.Context, n *node, err error) failure {
	f := judge(ctx, err)
	if f == failDown {
		db.checker.MarkDown(n.idx, err)
	}
	return f
}
