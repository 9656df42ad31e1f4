package redact

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
)

// ErrConnect is wrapped by every error [Error] makes of a
// [pgconn.ConnectError]: a failed attempt to connect.
var ErrConnect = errors.New("failed to connect")

// connectError is a redacted pgconn.ConnectError. Its text is built only
// from parts checked by safeHost and from the kept causes.
type connectError struct {
	text   string
	causes []error // each kept by keep: Unwrap returns them
}

func (e *connectError) Error() string { return e.text }

// Unwrap returns ErrConnect and the kept causes, never the ConnectError.
func (e *connectError) Unwrap() []error { return append([]error{ErrConnect}, e.causes...) }

// redactedServer is the Message of a server error kept from a connect
// attempt: the server's own message can quote the user name or a startup
// parameter taken from a misparsed connection string.
const redactedServer = "server error (message redacted)"

// connect builds the redacted form of ce.
func connect(ce *pgconn.ConnectError) *connectError {
	var addrs []string
	if c := ce.Config; c != nil {
		addrs = append(addrs, address(c.Host, c.Port))
		for _, f := range c.Fallbacks {
			if f != nil {
				addrs = append(addrs, address(f.Host, f.Port))
			}
		}
	}
	e := &connectError{}
	var texts []string
	walk(errors.Unwrap(ce), func(err error) {
		e.causes = append(e.causes, err)
		texts = append(texts, err.Error())
	})
	var b strings.Builder
	b.WriteString("failed to connect")
	if len(addrs) > 0 {
		b.WriteString(" to " + strings.Join(slices.Compact(addrs), ", "))
	}
	b.WriteString(": ")
	if len(texts) == 0 {
		b.WriteString("(cause redacted)")
	} else {
		b.WriteString(strings.Join(slices.Compact(texts), "; "))
	}
	e.text = b.String()
	return e
}

// walk calls keep for every cause in err's tree that may be kept (see
// keepable), and descends into the others.
func walk(err error, keep func(error)) {
	if err == nil {
		return
	}
	if k := keepable(err); k != nil {
		keep(k)
		return
	}
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		walk(u.Unwrap(), keep)
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			walk(e, keep)
		}
	}
}

// keepable returns err, or a copy of it holding only what is safe, when it
// may be kept whole in a redacted connect error, and nil otherwise.
func keepable(err error) error {
	switch e := err.(type) {
	case *net.OpError:
		if safeNetError(e) {
			return e
		}
	case *net.DNSError:
		if safeNetError(e) {
			return e
		}
	case *pgconn.PgError:
		return &pgconn.PgError{Severity: e.Severity, SeverityUnlocalized: e.SeverityUnlocalized, Code: e.Code,
			Message: redactedServer}
	case syscall.Errno:
		return e
	}
	for _, s := range []error{context.Canceled, context.DeadlineExceeded, os.ErrDeadlineExceeded, io.EOF, io.ErrUnexpectedEOF} {
		if err == s {
			return err
		}
	}
	return nil
}

// safeNetError reports whether every address and host name in err's tree
// passes safeHost: the rest of a network error's text comes from the
// system, not from the connection string.
func safeNetError(err error) bool {
	ok := true
	var visit func(error)
	visit = func(err error) {
		switch e := err.(type) {
		case nil:
			return
		case *net.OpError:
			for _, a := range []net.Addr{e.Source, e.Addr} {
				if a != nil && !safeAddr(a.String()) {
					ok = false
				}
			}
		case *net.DNSError:
			if !safeHost(e.Name) || (e.Server != "" && !safeAddr(e.Server)) {
				ok = false
			}
		case *net.AddrError:
			if !safeAddr(e.Addr) && !safeHost(e.Addr) {
				ok = false
			}
		case *net.ParseError:
			ok = false
		}
		switch u := err.(type) {
		case interface{ Unwrap() error }:
			visit(u.Unwrap())
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				visit(e)
			}
		}
	}
	visit(err)
	return ok
}

// address is host:port with the host replaced when safeHost refuses it.
func address(host string, port uint16) string {
	if !safeHost(host) {
		host = "(host redacted)"
	}
	if strings.HasPrefix(host, "/") {
		return host + " port " + strconv.Itoa(int(port))
	}
	return net.JoinHostPort(host, strconv.Itoa(int(port)))
}

// safeAddr reports whether a is host:port with a safe host and a numeric
// port, or a safe unix socket path.
func safeAddr(a string) bool {
	if strings.HasPrefix(a, "/") {
		return safeHost(a)
	}
	h, p, err := net.SplitHostPort(a)
	if err != nil {
		return false
	}
	if _, err := strconv.ParseUint(p, 10, 16); err != nil {
		return false
	}
	return safeHost(h)
}

// safeHost reports whether h is an IP address, a syntactically valid host
// name (RFC 1123: dot-separated labels of 1 to 63 letters, digits and
// hyphens, no label starting or ending with a hyphen, 253 characters at
// most), or an absolute unix socket path of letters, digits and ". _ - /".
func safeHost(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	if _, err := netip.ParseAddr(h); err == nil {
		return true
	}
	if strings.HasPrefix(h, "/") {
		for _, r := range h {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._-/", r)) {
				return false
			}
		}
		return !strings.Contains(h, "..")
	}
	for _, label := range strings.Split(strings.TrimSuffix(h, "."), ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return false
			}
		}
	}
	return true
}
