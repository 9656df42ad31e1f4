package replica

import (
	"context"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
)

var (
	// ErrClosed is returned by every method of a [DB] after [DB.Close].
	ErrClosed = errors.New("replica: database is closed")
	// ErrNilPool is returned by [New] for a nil primary or replica pool.
	ErrNilPool = errors.New("replica: nil pool")
)

// NodeError is an error from one node, named "primary" or "replicaN" (N
// counts from 0 in the order the replicas were given). errors.Is and
// errors.As see the driver's error through it.
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
	if isReadOnlyError(err) {
		return failReadOnly
	}
	if isConnError(err) {
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

// isConnError reports whether err means the connection to the node failed
// or the node is going away, rather than that the statement failed.
func isConnError(err error) bool {
	if errors.Is(err, driver.ErrBadConn) || errors.Is(err, mysql.ErrInvalidConn) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return true
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) || pgconn.SafeToRetry(err) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case strings.HasPrefix(pe.Code, "08"): // connection_exception
			return true
		case pe.Code == "57P01", pe.Code == "57P02", pe.Code == "57P03": // shutting down or starting up
			return true
		}
	}
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		switch me.Number {
		case 1053, // ER_SERVER_SHUTDOWN
			1927,                               // ER_CONNECTION_KILLED
			1152, 1153, 1158, 1159, 1160, 1161: // aborted connection, network read/write errors
			return true
		}
	}
	return false
}

// isReadOnlyError reports whether err is a server refusing a write because it
// or the transaction is read-only: nothing was applied.
func isReadOnlyError(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "25006" // read_only_sql_transaction
	}
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		switch me.Number {
		case 1290, // ER_OPTION_PREVENTS_STATEMENT (--read-only)
			1792, // ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION
			1836: // ER_READ_ONLY_MODE
			return true
		}
	}
	return false
}
