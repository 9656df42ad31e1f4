package replica

import (
	"context"
	"errors"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sqlreplica/sqlreplica/internal/dberr"
)

var (
	// ErrClosed is returned by every method of a [DB] after [DB.Close].
	ErrClosed = errors.New("replica: database is closed")
	// ErrNilPool is returned by [New] for a nil primary or replica pool.
	ErrNilPool = errors.New("replica: nil pool")
	// ErrSplitBrain is returned for a write while more than one node reports
	// itself writable: writing to either could make them diverge, so writes
	// are refused until only one node is writable. The write was not sent.
	ErrSplitBrain = errors.New("replica: split brain: more than one node accepts writes; the write was not sent")
	// ErrReadOnlyPrimary is wrapped by the error of a write that the node
	// taken for the primary refused as read-only (it was demoted, or another
	// node was promoted). The write was not applied and is safe to retry once
	// the checks have found the new primary, which they start at once.
	ErrReadOnlyPrimary = errors.New("replica: the primary refused the write as read-only; it was not applied and is safe to retry")
)

// NodeError is an error from one node, named as [NodeNames] says, or
// "primary" and "replicaN" (N counting from 1 in the order the replicas were
// given). errors.Is and errors.As see the driver's error through it.
type NodeError struct {
	Node string
	Err  error
}

func (e *NodeError) Error() string { return "replica: " + e.Node + ": " + e.Err.Error() }

// Unwrap returns the node's error.
func (e *NodeError) Unwrap() error { return e.Err }

// failure says how an error from a node bears on retrying a read elsewhere.
type failure uint8

const (
	failFinal    failure = iota // the statement's own error: return it
	failNode                    // the node could not serve: try another node
	failReadOnly                // a replica refused it as a write: only the primary can run it
)

// classifyFailure decides, by the error's type and code rather than its
// text, whether a read that failed on a node may run on another. It never
// retries once the caller's context is done.
func classifyFailure(ctx context.Context, err error) failure {
	if ctx.Err() != nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return failFinal
	}
	if dberr.IsReadOnly(err) {
		return failReadOnly
	}
	if dberr.IsConn(err) {
		return failNode
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "40001": // on a standby: canceled by a conflict with recovery
			return failNode
		case "53300": // too_many_connections
			return failNode
		}
	}
	var me *mysql.MySQLError
	if errors.As(err, &me) && me.Number == 1040 { // ER_CON_COUNT_ERROR
		return failNode
	}
	return failFinal
}
