// Package dberr classifies database errors by type and code, never by
// message text: did the connection fail, or did a server refuse a write
// because it is read-only?
package dberr

import (
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
)

// IsConn reports whether err means the connection to the server failed or
// the server is going away, rather than that the statement failed.
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
