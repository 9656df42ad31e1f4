package replica

import (
	"log/slog"
	"time"

	"github.com/sqlreplica/sqlreplica/consistency"
	"github.com/sqlreplica/sqlreplica/health"
	"github.com/sqlreplica/sqlreplica/router"
)

// Option configures a [DB]; pass options to [New] or [Open].
type Option func(*config)

type config struct {
	dialect     router.Dialect
	writeFuncs  []string
	readFuncs   []string
	logger      *slog.Logger
	check       health.Config
	maxLag      time.Duration
	maxLagBytes uint64
	fallback    Fallback
	balancer    router.Balancer
	weights     []int
	failover    *FailoverConfig
	names       []string
	policy      consistency.Policy
}

// ReadYourWrites sets what a read of a session, or one with a token, does
// when no replica is known to have applied what it needs: wait on a replica
// up to p.Wait (default one second), then read on the primary, or fail with
// consistency.ErrNotReplicated when p.ReplicaOnly. [consistency.WithPolicy]
// overrides it per query.
func ReadYourWrites(p consistency.Policy) Option {
	return func(c *config) { c.policy = p }
}

// NodeNames names the nodes in statuses, events, logs and errors: the
// primary first, then each replica in the order given (for example their
// host names). The default is "primary", "replica1", "replica2", ….
func NodeNames(names ...string) Option {
	return func(c *config) { c.names = append([]string(nil), names...) }
}

// Dialect fixes the SQL dialect instead of detecting it from the driver and
// the server's version. The classifier lexes by it and the health checks
// query by it.
func Dialect(d router.Dialect) Option {
	return func(c *config) { c.dialect = d }
}

// WriteFunctions names functions, besides the built-in ones, whose calls must
// run on the primary because they write, lock or depend on the session that
// wrote (for example "audit_event" or "app.next_invoice_number"; the schema
// is ignored, case is not significant). It wins over [ReadFunctions].
func WriteFunctions(names ...string) Option {
	return func(c *config) { c.writeFuncs = append(c.writeFuncs, names...) }
}

// ReadFunctions names user functions that only read (for example
// "order_total" or "app.order_total"), so that statements calling them may
// run on replicas. A statement that calls a function neither built in nor
// declared goes to the primary while the DB looks the function up in the
// primary's catalog in the background; see [router.Functions] for how
// qualified names match.
func ReadFunctions(names ...string) Option {
	return func(c *config) { c.readFuncs = append(c.readFuncs, names...) }
}

// Logger sends the DB's events (nodes down and up, role changes, lag
// alerts, split brain, replication errors, retries) to l. The default
// discards them. No event includes a password or a DSN.
func Logger(l *slog.Logger) Option {
	return func(c *config) { c.logger = l; c.check.Logger = l }
}

// CheckInterval sets how often every node is checked (default 1s, with a
// jitter of a tenth either way). It is also the resolution of measured lag.
func CheckInterval(d time.Duration) Option {
	return func(c *config) { c.check.Interval = d }
}

// CheckTimeout bounds one check of one node (default 1s).
func CheckTimeout(d time.Duration) Option {
	return func(c *config) { c.check.Timeout = d }
}

// Hysteresis sets how many failed checks in a row take a node out of
// rotation (fall, default 2) and how many good ones bring it back (rise,
// default 2). A connection that fails, in a check or in a caller's statement,
// takes the node out at once.
func Hysteresis(fall, rise int) Option {
	return func(c *config) { c.check.Fall, c.check.Rise = fall, rise }
}

// MaxLag keeps reads off replicas that lag the primary by more than d, or
// whose lag is unknown. Zero (the default) sets no limit. [WithMaxLag]
// overrides it per query. See [WhenAllLag] for what happens when no replica
// is fresh enough.
func MaxLag(d time.Duration) Option {
	return func(c *config) { c.maxLag = d }
}

// MaxLagBytes keeps reads off replicas more than n bytes of WAL (PostgreSQL)
// or n transactions (MySQL, MariaDB) behind the primary. Zero sets no limit.
func MaxLagBytes(n uint64) Option {
	return func(c *config) { c.maxLagBytes = n }
}

// Fallback says where a read goes when no replica is within the lag limit.
type Fallback uint8

const (
	// FallbackPrimary sends the read to the primary: never stale, at the
	// primary's expense. It is the default.
	FallbackPrimary Fallback = iota + 1
	// FallbackLeastLagging sends the read to the least-lagging healthy
	// replica (one whose lag is known first), and to the primary only when no
	// replica is healthy: the primary is spared, and the read may be staler
	// than the limit.
	FallbackLeastLagging
)

// WhenAllLag sets where reads go when every replica lags beyond the limit
// (default [FallbackPrimary]). When every replica is down, reads go to the
// primary whatever the setting.
func WhenAllLag(f Fallback) Option {
	return func(c *config) { c.fallback = f }
}

// Balance sets how a read picks among the eligible replicas (default
// [router.RoundRobin]).
func Balance(b router.Balancer) Option {
	return func(c *config) { c.balancer = b }
}

// Weights gives each replica, in the order given to [New] or [Open], its
// weight for [router.Weighted] (default 1 each).
func Weights(w ...int) Option {
	return func(c *config) { c.weights = append([]int(nil), w...) }
}

// LagAlert fires a [health.LagHigh] event when a replica's lag goes over d,
// and [health.LagNormal] when it comes back (the playbooks' lag alert).
func LagAlert(d time.Duration) Option {
	return func(c *config) { c.check.LagAlert = d }
}

// OnEvent calls f with every health event (see [health.EventKind]), from
// the checker's goroutine: f must not block.
func OnEvent(f func(health.Event)) Option {
	return func(c *config) { c.check.OnEvent = f }
}
