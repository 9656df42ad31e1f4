package replica

import (
	"log/slog"

	"github.com/sqlreplica/sqlreplica/router"
)

// Option configures a [DB]; pass options to [New] or [Open].
type Option func(*config)

type config struct {
	dialect    router.Dialect
	writeFuncs []string
	logger     *slog.Logger
}

// Dialect fixes the SQL dialect instead of detecting it from the driver and
// the server's version. The classifier lexes by it.
func Dialect(d router.Dialect) Option {
	return func(c *config) { c.dialect = d }
}

// WriteFunctions names functions, besides the built-in ones, whose calls must
// run on the primary because they write, lock or depend on the session that
// wrote (for example "audit_event" or "app.next_invoice_number"; the schema
// is ignored, case is not significant).
func WriteFunctions(names ...string) Option {
	return func(c *config) { c.writeFuncs = append(c.writeFuncs, names...) }
}

// Logger sends the DB's events (retries, dialect detection) to l. The
// default discards them. No event includes a password or a DSN.
func Logger(l *slog.Logger) Option {
	return func(c *config) { c.logger = l }
}
