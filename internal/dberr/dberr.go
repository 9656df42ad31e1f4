// Package dberr classifies database errors by type and code, never by
// message text: did the connection fail, or did a server refuse a write
// because it is read-only?
package dberr

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

	"github.com/sqlreplica/sqlreplica/internal/redact"
)

// IsConn reports whether err means the connection to the server failed or
// the server is going away, rather than that the statement failed. A
// connect failure is one before and after [redact.Error].
func IsConn(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, driver.ErrBadConn) || errors.Is(err, mysql.ErrInvalidConn) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return true
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) || errors.Is(err, redact.ErrConnect) || pgconn.SafeToRetry(err) {
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

// IsReadOnly reports whether err is a server refusing a write because it
// or the transaction is read-only: nothing was applied.
func IsReadOnly(err error) bool {
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

// IsStatementError reports whether err is the server's own verdict on a
// statement (a constraint, a syntax error, a read-only refusal …), not a
// failure of the connection: the statement was not applied.
func IsStatementError(err error) bool {
	if IsConn(err) {
		return false
	}
	var pe *pgconn.PgError
	var me *mysql.MySQLError
	return errors.As(err, &pe) || errors.As(err, &me)
}

// Fault says what an error from a node means for the statement and for the
// node.
type Fault uint8

const (
	// Final: the statement's own error, or the caller's context ended:
	// return it as it is; the node is fine.
	Final Fault = iota + 1
	// Retry: the node could not serve this statement now (a recovery
	// conflict, too many connections) but is not down: a read may move on.
	Retry
	// Down: the connection to the node failed: the node leaves rotation at
	// once, and a read may move on.
	Down
	// Refused: the server refused the statement as a write because it is
	// read-only: nothing was applied.
	Refused
	// PrimaryOnly: the statement only runs on a primary (PostgreSQL's
	// primary-only functions on a standby); nothing was applied.
	PrimaryOnly
	// NotServing: the node refused the statement because it does not
	// serve (a Galera node outside the quorum component, or not yet
	// synced: "WSREP has not yet prepared node for application use"):
	// nothing was applied; the node leaves rotation and a read may move on.
	NotServing
)

// Judge is the one place that decides whether a failure is the node's
// fault, by the error's type and code rather than its text. A caller's own
// context ending is never the node's fault, and neither is waiting for a
// free connection in a busy pool (that wait ends with the caller's
// context).
func Judge(ctx context.Context, err error) Fault {
	if ctx.Err() != nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return Final
	}
	if IsReadOnly(err) {
		return Refused
	}
	if IsConn(err) {
		return Down
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "40001": // on a standby: canceled by a conflict with recovery
			return Retry
		case "53300": // too_many_connections
			return Retry
		case "55000": // object_not_in_prerequisite_state: "recovery is in progress"
			return PrimaryOnly
		}
	}
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		switch me.Number {
		case 1040: // ER_CON_COUNT_ERROR
			return Retry
		case 1047: // ER_UNKNOWN_COM_ERROR: a Galera node that does not serve
			return NotServing
		}
	}
	return Final
}
