package replica

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/sqlreplica/sqlreplica/health"
)

// FailoverConfig turns on the fail-over helper. Exactly one process may run
// fail-overs for a cluster: leave it off everywhere else.
type FailoverConfig struct {
	// After is how long the primary must have been unreachable before a
	// replica is promoted automatically. Zero turns the automatic fail-over
	// off: only [DB.Failover] promotes.
	After time.Duration
	// Nodes gives, for every node in the order given to [New] or [Open]
	// (the primary first), the address other servers replicate from it at,
	// and optionally a pool with the privileges to promote and re-point it
	// (nil: the DB's own pool). Their names are the DB's.
	Nodes []health.FailoverNode
	// ReplicationUser and ReplicationPassword are what replicas log in to a
	// new primary with.
	ReplicationUser     string
	ReplicationPassword string
	// CatchUp bounds the wait for the candidate to apply what it received
	// (default 30s).
	CatchUp time.Duration
}

// FailoverPolicy configures the fail-over helper: [DB.Failover], and, when
// cfg.After is set, an automatic fail-over once the primary has been
// unreachable that long. See [health.Failover] for what it does and when it
// refuses. A negative After or CatchUp, or a node with an empty Host (or
// one holding a NUL) or a Port outside 1 to 65535, is an error.
func FailoverPolicy(cfg FailoverConfig) Option {
	return func(c *config) error {
		if cfg.After < 0 || cfg.CatchUp < 0 {
			return badOption("FailoverPolicy: negative After (%v) or CatchUp (%v)", cfg.After, cfg.CatchUp)
		}
		for i, n := range cfg.Nodes {
			if n.Host == "" || strings.ContainsRune(n.Host, 0) {
				return badOption("FailoverPolicy: Nodes[%d] has no usable Host", i)
			}
			if n.Port < 1 || n.Port > 65535 {
				return badOption("FailoverPolicy: Nodes[%d] has Port %d, not 1 to 65535", i, n.Port)
			}
		}
		cfg.Nodes = append([]health.FailoverNode(nil), cfg.Nodes...)
		c.failover = &cfg
		return nil
	}
}

// ErrNoFailover is returned by [DB.Failover] when no [FailoverPolicy] was
// given.
var ErrNoFailover = errors.New("replica: no fail-over policy configured")

// failover holds the automatic fail-over's state.
type failover struct {
	trigger chan struct{} // buffered 1

	mu        sync.Mutex // guards the fields below
	downSince time.Time  // when the writer was first seen unreachable; zero while it is reachable
	running   bool
}

// Failover promotes the most advanced reachable replica and points the
// other replicas at it, now, whatever the primary's state (but never while
// a node is writable). It needs a [FailoverPolicy].
func (db *DB) Failover(ctx context.Context) (health.FailoverResult, error) {
	if db.closed.Load() {
		return health.FailoverResult{}, ErrClosed
	}
	cfg := db.cfg.failover
	if cfg == nil {
		return health.FailoverResult{}, ErrNoFailover
	}
	hc := health.FailoverConfig{ReplicationUser: cfg.ReplicationUser, ReplicationPassword: cfg.ReplicationPassword,
		CatchUp: cfg.CatchUp, Nodes: make([]health.FailoverNode, len(db.all))}
	for i, n := range db.all {
		hc.Nodes[i] = cfg.Nodes[i]
		hc.Nodes[i].Name = n.name
		if hc.Nodes[i].Admin == nil {
			hc.Nodes[i].Admin = n.db
		}
	}
	snap := db.CheckNow(ctx)
	res, err := health.Failover(ctx, snap, db.Dialect(), hc)
	now := time.Now()
	if err != nil {
		db.checker.Emit(health.Event{Kind: health.FailoverFailed, Time: now, Detail: err.Error()})
	} else {
		detail := "re-pointed: " + strings.Join(res.Repointed, ", ")
		for name, e := range res.Failed {
			detail += fmt.Sprintf("; %s not re-pointed: %v", name, e)
		}
		db.checker.Emit(health.Event{Kind: health.FailedOver, Node: res.Promoted, Time: now, Role: health.Primary, Detail: detail})
	}
	db.CheckNow(ctx)
	return res, err
}

// watchWriter notes when the writer became unreachable and asks for a
// fail-over once it has been for long enough. The checker calls it with
// every snapshot.
func (db *DB) watchWriter(s *health.Snapshot) {
	f := db.failover
	if f == nil || s.Writer < 0 {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if s.Nodes[s.Writer].Reachable || s.WriterKnown {
		f.downSince = time.Time{}
		return
	}
	if f.downSince.IsZero() {
		f.downSince = s.Time
		return
	}
	if !f.running && s.Time.Sub(f.downSince) >= db.cfg.failover.After {
		select {
		case f.trigger <- struct{}{}:
		default:
		}
	}
}

// runFailovers runs the automatic fail-over when watchWriter asks, until
// ctx ends. After an attempt it waits a full After before the next one.
func (db *DB) runFailovers(ctx context.Context) {
	defer db.wg.Done()
	f := db.failover
	for {
		select {
		case <-ctx.Done():
			return
		case <-f.trigger:
		}
		f.mu.Lock()
		f.running = true
		f.mu.Unlock()
		fctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		_, _ = db.Failover(fctx)
		cancel()
		select {
		case <-ctx.Done():
			return
		case <-time.After(db.cfg.failover.After):
		}
		f.mu.Lock()
		f.running, f.downSince = false, time.Time{}
		f.mu.Unlock()
	}
}
