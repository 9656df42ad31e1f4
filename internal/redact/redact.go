// Package redact keeps connection strings out of error text.
//
// A driver that cannot parse a connection string tends to quote it, or a
// piece of it, in its error: pgconn's ParseConfigError masks the password
// only when it can parse the string well enough to find it, and its inner
// error (a url.Error, a strconv error) quotes the raw text; go-sql-driver's
// DSN errors quote values. This package replaces such errors by construction
// with a fixed text, so that nothing derived from the string can reach a
// status, an event, a log line or a caller's error.
//
// What is redacted and what is kept:
//
//   - An error raised while parsing a connection string or a driver
//     configuration ([pgconn.ParseConfigError] anywhere in the chain, or any
//     error passed to [Config]) becomes an error whose text is
//     "invalid connection string (details redacted)". It unwraps to
//     [ErrConnString] and to nothing else: the driver's error is dropped,
//     because a caller's %v of an unwrapped inner error would print the
//     string. The original is never reachable through errors.Unwrap,
//     errors.Is or errors.As.
//   - Every other error is returned unchanged. Connection errors keep the
//     address they dialled and pgconn's ConnectError keeps the user and
//     database names it prints from the parsed configuration: neither holds a
//     password, and an operator needs the address to find a wrong port.
//     Server errors keep the server's text.
package redact

import (
	"errors"

	"github.com/jackc/pgx/v5/pgconn"
)

// ErrConnString is wrapped by every error [Error] and [Config] redact.
var ErrConnString = errors.New("invalid connection string (details redacted)")

// configError is a redacted configuration error. Its text is fixed.
type configError struct{}

func (configError) Error() string { return ErrConnString.Error() }

// Unwrap returns ErrConnString only, never the driver's error.
func (configError) Unwrap() error { return ErrConnString }

// Error returns err with any text taken from a connection string removed:
// nil for nil, a fixed-text error wrapping [ErrConnString] when err comes
// from parsing a connection string (see the package comment), and err itself
// otherwise. It is idempotent and safe for concurrent use.
func Error(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, ErrConnString) {
		if _, ok := err.(configError); ok {
			return err
		}
		return configError{} // a wrapper's text is not known to be clean
	}
	var pce *pgconn.ParseConfigError
	if errors.As(err, &pce) {
		return configError{}
	}
	return err
}

// Config returns nil for nil, and otherwise a fixed-text error wrapping
// [ErrConnString], for an error known to come from parsing a connection
// string or a driver configuration (sql.Open's error for a registered
// driver, mysql.ParseDSN's) whose type does not say so.
func Config(err error) error {
	if err == nil {
		return nil
	}
	return configError{}
}
