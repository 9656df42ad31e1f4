package replica

import (
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/sqlreplica/sqlreplica/consistency"
	"github.com/sqlreplica/sqlreplica/health"
	"github.com/sqlreplica/sqlreplica/router"
)

// Option configures a [DB]; pass options to [New] or [Open]. Each option
// checks its own input, and [New] checks how the options fit the nodes
// given: a bad value makes New and Open return an error wrapping
// [ErrBadOption], never a DB that silently ignores it.
type Option func(*config) error

// ErrBadOption is wrapped by the error [New] and [Open] return for an option
// whose value cannot be used (a negative duration, a count below one, an
// unknown enum value, a nil function, names or weights that do not fit the
// nodes).
var ErrBadOption = errors.New("replica: bad option")

// badOption returns an error wrapping ErrBadOption.
func badOption(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrBadOption}, args...)...)
}

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
	causal      bool // CausalReads
	checkPools  []*sql.DB
	// writerWeight, when positive, lets the writer of a multi-primary
	// topology serve reads with that weight (WriterReads).
	writerWeight int
	tracer       Tracer     // WithTracer; nil: none
	steps        StepTracer // tracer, when it is one
	// ownsCheckPools is set by Open, which made checkPools: Close closes them.
	ownsCheckPools bool
}

// ReadYourWrites sets what a read of a session, or one with a token, does
// when no replica is known to have applied what it needs: wait on a replica
// up to p.Wait (default one second), then read on the primary, or fail with
// consistency.ErrNotReplicated when p.ReplicaOnly. [consistency.WithPolicy]
// overrides it per query.
func ReadYourWrites(p consistency.Policy) Option {
	return func(c *config) error { c.policy = p; return nil }
}

// NodeNames names the nodes in statuses, events, logs and errors: the
// primary first, then each replica in the order given (for example their
// host names). The default is "primary", "replica1", "replica2", …. Every
// name must be non-empty and unique, and there must be one per node.
func NodeNames(names ...string) Option {
	return func(c *config) error {
		seen := map[string]bool{}
		for i, n := range names {
			if n == "" || seen[n] {
				return badOption("NodeNames: name %d (%q) is empty or given twice", i, n)
			}
			seen[n] = true
		}
		if len(names) == 0 {
			return badOption("NodeNames: no names")
		}
		c.names = append([]string(nil), names...)
		return nil
	}
}

// Dialect fixes the SQL dialect instead of detecting it from the driver's
// type and the server's version (see [DB.Dialect]): with a wrapped driver,
// it is known from the start instead of once the server has answered. The
// classifier lexes by it, the health checks and session positions query by
// it. d must be [router.PostgreSQL], [router.MySQL] or [router.MariaDB];
// leave the option out to detect it.
func Dialect(d router.Dialect) Option {
	return func(c *config) error {
		switch d {
		case router.PostgreSQL, router.MySQL, router.MariaDB:
			c.dialect = d
			return nil
		}
		return badOption("Dialect(%d): not a dialect", d)
	}
}

// WriteFunctions names functions, besides the built-in ones, whose calls must
// run on the primary because they write, lock or depend on the session that
// wrote (for example "audit_event" or "app.next_invoice_number"; the schema
// is ignored, case is not significant). It wins over [ReadFunctions].
func WriteFunctions(names ...string) Option {
	return func(c *config) error {
		if _, err := router.NewClassifier(0, router.Functions{Write: names}); err != nil {
			return badOption("WriteFunctions: %w", err)
		}
		c.writeFuncs = append(c.writeFuncs, names...)
		return nil
	}
}

// ReadFunctions names user functions that only read (for example
// "order_total" or "app.order_total"), so that statements calling them may
// run on replicas. A statement that calls a function neither built in nor
// declared goes to the primary while the DB looks the function up in the
// primary's catalog in the background; see [router.Functions] for how
// qualified names match.
func ReadFunctions(names ...string) Option {
	return func(c *config) error {
		if _, err := router.NewClassifier(0, router.Functions{Read: names}); err != nil {
			return badOption("ReadFunctions: %w", err)
		}
		c.readFuncs = append(c.readFuncs, names...)
		return nil
	}
}

// Logger sends the DB's events (nodes down and up, role changes, lag
// alerts, split brain, replication errors, retries) to l. The default
// discards them, as nil does. No event includes a password or a DSN.
func Logger(l *slog.Logger) Option {
	return func(c *config) error { c.logger = l; c.check.Logger = l; return nil }
}

// CheckInterval sets how often every node is checked (default 1s, with a
// jitter of a tenth either way). It is also the resolution of measured lag.
// d must be positive.
func CheckInterval(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return badOption("CheckInterval(%v): must be positive", d)
		}
		c.check.Interval = d
		return nil
	}
}

// CheckTimeout bounds one check of one node (default 1s). d must be
// positive.
func CheckTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return badOption("CheckTimeout(%v): must be positive", d)
		}
		c.check.Timeout = d
		return nil
	}
}

// Hysteresis sets how many failed checks in a row take a node out of
// rotation (fall, default 2) and how many good ones bring it back (rise,
// default 2). A connection that fails, in a check or in a caller's statement,
// takes the node out at once. Both must be at least 1.
func Hysteresis(fall, rise int) Option {
	return func(c *config) error {
		if fall < 1 || rise < 1 {
			return badOption("Hysteresis(%d, %d): fall and rise must be at least 1", fall, rise)
		}
		c.check.Fall, c.check.Rise = fall, rise
		return nil
	}
}

// MaxLag keeps reads off replicas that lag the primary by more than d, or
// whose lag is unknown. Zero (the default) sets no limit. [WithMaxLag]
// overrides it per query. See [WhenAllLag] for what happens when no replica
// is fresh enough. A negative d is an error.
func MaxLag(d time.Duration) Option {
	return func(c *config) error {
		if d < 0 {
			return badOption("MaxLag(%v): negative", d)
		}
		c.maxLag = d
		return nil
	}
}

// MaxLagBytes keeps reads off replicas more than n bytes of WAL (PostgreSQL)
// or n transactions (MySQL, MariaDB) behind the primary. Zero sets no limit.
func MaxLagBytes(n uint64) Option {
	return func(c *config) error { c.maxLagBytes = n; return nil }
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
// primary whatever the setting. Any other value is an error.
func WhenAllLag(f Fallback) Option {
	return func(c *config) error {
		if f != FallbackPrimary && f != FallbackLeastLagging {
			return badOption("WhenAllLag(%d): not a Fallback", f)
		}
		c.fallback = f
		return nil
	}
}

// Balance sets how a read picks among the eligible replicas (default
// [router.RoundRobin]). A nil b is an error.
func Balance(b router.Balancer) Option {
	return func(c *config) error {
		if b == nil {
			return badOption("Balance(nil)")
		}
		c.balancer = b
		return nil
	}
}

// Weights gives each replica, in the order given to [New] or [Open], its
// weight for [router.Weighted] (default 1 each). Every weight must be at
// least 1 and at most [router.MaxWeight] (1<<20), and there may not be more
// weights than replicas.
func Weights(w ...int) Option {
	return func(c *config) error {
		for i, x := range w {
			if x < 1 || x > router.MaxWeight {
				return badOption("Weights: weight %d is %d, not 1 to %d", i, x, router.MaxWeight)
			}
		}
		c.weights = append([]int(nil), w...)
		return nil
	}
}

// LagAlert fires a [health.LagHigh] event when a replica's lag goes over d,
// and [health.LagNormal] when it comes back (the playbooks' lag alert).
// Zero turns the alert off (the default); negative is an error.
func LagAlert(d time.Duration) Option {
	return func(c *config) error {
		if d < 0 {
			return badOption("LagAlert(%v): negative", d)
		}
		c.check.LagAlert = d
		return nil
	}
}

// OnEvent calls f with every health event (see [health.EventKind]), from
// the checker's goroutine: f must not block. A nil f is an error.
func OnEvent(f func(health.Event)) Option {
	return func(c *config) error {
		if f == nil {
			return badOption("OnEvent(nil)")
		}
		c.check.OnEvent = f
		return nil
	}
}

// CheckPools gives the health checks pools of their own, one per node in
// the order of [DB.Status]'s nodes (the primary first), so that they never
// wait behind the application for a connection: a pool with one or two
// connections is enough (SetMaxOpenConns(2)). A nil entry leaves that node's
// checks on its own pool. The DB never closes them.
//
// Without this option, [Open] gives each node a check pool of its own and
// closes it on [DB.Close]; [New], which has no DSNs, checks on the
// application's pools, and a check that times out waiting for a connection
// of a saturated pool is counted as busy ([health.Status].Busy), never as the
// node's failure.
func CheckPools(pools ...*sql.DB) Option {
	return func(c *config) error {
		if len(pools) == 0 {
			return badOption("CheckPools: no pools")
		}
		c.checkPools = append([]*sql.DB(nil), pools...)
		return nil
	}
}

// MultiPrimary declares that several nodes are writable on purpose: two
// MySQL or MariaDB servers replicating each other (a master-master pair), or
// more in a ring. Without it, two writable nodes are a split brain and
// writes are refused ([ErrSplitBrain]). With it, writes go to one writable
// node at a time: the node given as primary while it is healthy, else the
// first healthy writable node in the order given, kept until it stops being
// healthy (it does not move back when the primary returns); the others
// serve reads as replicas of it, with lag and read-your-writes by GTID.
// Galera clusters need no option: their nodes are recognised by their
// wsrep status (see [health.Snapshot].MultiPrimary).
func MultiPrimary() Option {
	return func(c *config) error { c.check.MultiPrimary = true; return nil }
}

// WriterReads lets the writer of a multi-primary topology (a Galera
// cluster, or [MultiPrimary]) serve reads too, with weight w for
// [router.Weighted] (the other nodes have theirs from [Weights], 1 by
// default). By default reads go to the other serving nodes only, and to the
// writer when none can serve. In a primary-replica topology it changes
// nothing: reads stay off the primary. w must be 1 to [router.MaxWeight].
func WriterReads(w int) Option {
	return func(c *config) error {
		if w < 1 || w > router.MaxWeight {
			return badOption("WriterReads(%d): weight not 1 to %d", w, router.MaxWeight)
		}
		c.writerWeight = w
		return nil
	}
}

// ServeDesynced lets a Galera node that is Donor or Desynced (it gives a
// state transfer, or was desynced by hand with wsrep_desync) but still in
// the quorum component serve reads; it never takes writes. By default such
// a node leaves rotation until it is Synced again: a donor may lag and, with
// rsync or mysqldump state transfers, block.
func ServeDesynced() Option {
	return func(c *config) error { c.check.ServeDesynced = true; return nil }
}
