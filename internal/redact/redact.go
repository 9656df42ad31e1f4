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
//   - A failed connection attempt ([pgconn.ConnectError] anywhere in the
//     chain) becomes an error wrapping [ErrConnect] whose text is
//     "failed to connect to HOST:PORT[, HOST:PORT…]: CAUSE[; CAUSE…]". A
//     connection string with an unescaped "/" in its password
//     ("postgres://app:1234/secret@h/db") parses without error, with the
//     user name as the host, the digits as the port and the rest of the
//     password in the database name, which ConnectError prints: so the user
//     and database names are dropped, and only these are kept:
//   - HOST is the configured host (and each fallback's) when it is an IP
//     address, a syntactically valid host name (RFC 1123 labels) or an
//     absolute unix socket path of letters, digits and "._-/"; otherwise it
//     reads "(host redacted)". In a URL, the host comes after the last "@"
//     of the authority, so a password cut short by "/", "?" or "#" leaves
//     the user name, not the password, as host; a keyword/value string whose
//     password holds an unquoted " host=word" would show word. PORT, a
//     number, is always kept: in the misparse above, it is the password's
//     leading digits (at most five), the one part of a password that can
//     show.
//   - A CAUSE is kept only when it is a network error (a *net.OpError or
//     *net.DNSError whose every address and name passes the same host rule;
//     kept whole, so errors.As finds it), a syscall.Errno (so
//     errors.Is(err, syscall.ECONNREFUSED) holds), a context error, io.EOF
//     or io.ErrUnexpectedEOF, or a server error: a new *pgconn.PgError with
//     the server's Code and Severity only and a fixed Message, because the
//     server's message quotes the user name and unknown startup parameters,
//     which a misparsed string can fill with its password. Every other
//     cause (TLS, authentication, the wrappers pgconn adds) is dropped with
//     its text; with no cause kept, CAUSE reads "(cause redacted)".
//   - Every other error is returned unchanged. Server errors keep the
//     server's text.
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
// from parsing a connection string, a redacted error wrapping [ErrConnect]
// when err holds a failed connection attempt (see the package comment), and
// err itself otherwise. It is idempotent and safe for concurrent use.
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
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return connect(ce)
	}
	var done *connectError
	if errors.As(err, &done) {
		return done // a wrapper's text is not known to be clean
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
