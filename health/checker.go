package health

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sqlreplica/sqlreplica/consistency"
	"github.com/sqlreplica/sqlreplica/internal/redact"
	"github.com/sqlreplica/sqlreplica/router"
)

// Node is one database a Checker watches.
type Node struct {
	// Name identifies the node in statuses and events.
	Name string
	// DB is the node's pool: the application's.
	DB *sql.DB
	// Check, if set, is the pool the checks use instead of DB, so that
	// they do not compete with the application for DB's connections (one or
	// two connections are enough). The Checker never closes it. Without
	// it, a check that cannot get one of DB's connections before its
	// timeout because every connection is in use is counted as busy (see
	// [Status.Busy]), never as the node's failure.
	Check *sql.DB
	// Primary marks the node expected to take writes until checks say
	// otherwise.
	Primary bool
}

// Config tunes a Checker. The zero value gives the defaults written on each
// field.
type Config struct {
	// Interval between rounds of checks (default 1s), each with a jitter of
	// up to a tenth either way. Zero means the default; negative is an
	// error, as for every duration and count below.
	Interval time.Duration
	// Timeout of one check of one node (default 1s).
	Timeout time.Duration
	// Fall is how many checks in a row must fail before a node leaves
	// rotation (default 2). A check or connection whose connection fails
	// (refused, reset) takes the node out at once.
	Fall int
	// Rise is how many checks in a row must succeed before a node that left
	// rotation comes back (default 2).
	Rise int
	// LagAlert is the replica lag above which a LagHigh event fires; zero
	// turns lag events off.
	LagAlert time.Duration
	// Dialect returns the servers' dialect; nil or zero means unknown, and
	// checks then only ping.
	Dialect func() router.Dialect
	// Logger receives events; nil discards them.
	Logger *slog.Logger
	// OnEvent, if set, is called for every event, from the checker's
	// goroutine: it must not block.
	OnEvent func(Event)
	// MultiPrimary says several writable nodes are expected (a
	// master-master pair or ring): they are not a split brain, writes go
	// to one of them at a time (see [Snapshot].MultiPrimary) and the
	// others serve reads. Galera clusters need no setting: their nodes are
	// recognised by their wsrep status.
	MultiPrimary bool
	// ServeDesynced lets a Galera node that is Donor or Desynced (but in
	// the quorum component) serve reads; by default it leaves rotation until
	// it is Synced again. It never takes writes.
	ServeDesynced bool
	// OnSnapshot, if set, is called with every snapshot as it is published,
	// in order, from the publishing goroutine: it must be quick.
	OnSnapshot func(*Snapshot)
}

// ErrNoNodes is returned by [NewChecker] for an empty node list.
var ErrNoNodes = errors.New("health: no nodes")

// ErrBadConfig is wrapped by the error [NewChecker] returns for a [Config]
// or a [Node] it cannot use: a negative duration or count, a nil pool, an
// empty or repeated node name.
var ErrBadConfig = errors.New("health: bad configuration")

// Checker checks every node in the background, in parallel, and publishes
// each round's result as an immutable [Snapshot] that readers load without a
// lock. A Checker is safe for concurrent use.
type Checker struct {
	nodes   []Node
	cfg     Config
	log     *slog.Logger
	snap    atomic.Pointer[Snapshot]
	trigger chan struct{} // buffered 1: asks for a round now

	// mu guards the fields below and serialises publishing.
	mu      sync.Mutex
	state   []nodeState
	history []sample // the primary's positions, oldest first, each when first seen
	split   bool

	given int // index of the node given as primary; -1 if none (set once)
}

type nodeState struct {
	fails, oks int
	healthy    bool
	seen       bool // a check has succeeded once
	status     Status
	lagAlerted bool

	// semiAlerted: a SemiSyncFallback was emitted and not cleared yet.
	semiAlerted bool
}

// sample is a position the primary reached, and when it was first seen.
type sample struct {
	at  time.Time
	pos consistency.Token
}

const maxHistory = 1024

// NewChecker returns a checker for nodes. Until its first round, every node
// is taken to be healthy in the role it was given, so that nothing waits for
// the first check; a node whose first check fails leaves rotation at once,
// with a [NodeDown] event, whatever Fall says. Start it with [Checker.Run].
// An empty node list is [ErrNoNodes]; a bad node or Config wraps
// [ErrBadConfig].
func NewChecker(nodes []Node, cfg Config) (*Checker, error) {
	if len(nodes) == 0 {
		return nil, ErrNoNodes
	}
	seen := map[string]bool{}
	for i, n := range nodes {
		switch {
		case n.DB == nil:
			return nil, fmt.Errorf("%w: node %d (%s) has a nil pool", ErrBadConfig, i, n.Name)
		case n.Name == "":
			return nil, fmt.Errorf("%w: node %d has no name", ErrBadConfig, i)
		case seen[n.Name]:
			return nil, fmt.Errorf("%w: node name %q is given twice", ErrBadConfig, n.Name)
		}
		seen[n.Name] = true
	}
	for _, f := range []struct {
		name string
		bad  bool
	}{
		{"Interval", cfg.Interval < 0}, {"Timeout", cfg.Timeout < 0}, {"LagAlert", cfg.LagAlert < 0},
		{"Fall", cfg.Fall < 0}, {"Rise", cfg.Rise < 0},
	} {
		if f.bad {
			return nil, fmt.Errorf("%w: negative %s", ErrBadConfig, f.name)
		}
	}
	if cfg.Interval <= 0 {
		cfg.Interval = time.Second
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = time.Second
	}
	if cfg.Fall <= 0 {
		cfg.Fall = 2
	}
	if cfg.Rise <= 0 {
		cfg.Rise = 2
	}
	c := &Checker{nodes: nodes, cfg: cfg, log: cfg.Logger, trigger: make(chan struct{}, 1)}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	c.state = make([]nodeState, len(nodes))
	c.given = -1
	snap := &Snapshot{Nodes: make([]Status, len(nodes)), Writer: -1, Time: time.Now()}
	for i, n := range nodes {
		role := Replica
		if n.Primary {
			role = Primary
			if snap.Writer < 0 {
				snap.Writer, c.given = i, i
			}
		}
		st := Status{Name: n.Name, Role: role, Healthy: true, Reachable: true, Writable: n.Primary}
		c.state[i] = nodeState{healthy: true, status: st}
		snap.Nodes[i] = st
	}
	c.publishLocked(snap)
	return c, nil
}

// Snapshot returns the latest snapshot. It never blocks.
func (c *Checker) Snapshot() *Snapshot { return c.snap.Load() }

// Trigger asks for a round of checks now, without waiting for it.
func (c *Checker) Trigger() {
	select {
	case c.trigger <- struct{}{}:
	default:
	}
}

// Run checks every node each interval, and at once when triggered, until ctx
// is done. Call it once, in its own goroutine.
func (c *Checker) Run(ctx context.Context) {
	timer := time.NewTimer(0) // the first round runs at once
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case <-c.trigger:
			if !timer.Stop() {
				select {
				case <-timer.C:
				default:
				}
			}
		}
		c.Check(ctx)
		jitter := time.Duration((rand.Float64()*0.2 - 0.1) * float64(c.cfg.Interval))
		timer.Reset(c.cfg.Interval + jitter)
	}
}

// MarkDown takes node i out of rotation at once because a connection to it
// failed (passive ejection), and asks for a round of checks. The node comes
// back after Rise good checks.
func (c *Checker) MarkDown(i int, err error) {
	if i < 0 || i >= len(c.nodes) {
		return
	}
	c.mu.Lock()
	st := &c.state[i]
	if !st.healthy {
		c.mu.Unlock()
		c.Trigger()
		return
	}
	st.healthy, st.oks, st.fails = false, 0, c.cfg.Fall
	st.status.Healthy = false
	if err != nil {
		st.status.LastError = redact.Error(err).Error()
	}
	prev := c.snap.Load()
	snap := &Snapshot{Nodes: append([]Status(nil), prev.Nodes...), Writer: prev.Writer,
		WriterKnown: prev.WriterKnown, SplitBrain: prev.SplitBrain, MultiPrimary: prev.MultiPrimary, Time: time.Now()}
	snap.Nodes[i] = st.status
	if prev.MultiPrimary && i == prev.Writer {
		// Writes move now, not at the next round: the same choice a round
		// makes, with this node out.
		ch := chooseWriter(snap.Nodes, prev.Writer, c.given, c.cfg.MultiPrimary)
		snap.Writer, snap.WriterKnown = ch.writer, ch.known
	}
	c.publishLocked(snap)
	e := Event{Kind: NodeDown, Node: c.nodes[i].Name, Time: snap.Time, Role: st.status.Role, Detail: st.status.LastError}
	c.mu.Unlock()
	c.emit(e)
	c.Trigger()
}

// Check runs one round of checks now, publishes and returns its snapshot.
func (c *Checker) Check(ctx context.Context) *Snapshot {
	var d router.Dialect
	if c.cfg.Dialect != nil {
		d = c.cfg.Dialect()
	}
	results := make([]probeResult, len(c.nodes))
	var wg sync.WaitGroup
	for i, n := range c.nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
			defer cancel()
			pool := n.DB
			if n.Check != nil {
				pool = n.Check
			}
			results[i] = probe(pctx, pool, d)
		}()
	}
	wg.Wait()
	if ctx.Err() != nil {
		return c.Snapshot() // closing: publish nothing half-done
	}
	c.mu.Lock()
	snap, events := c.applyLocked(results)
	c.publishLocked(snap)
	c.mu.Unlock()
	for _, e := range events {
		c.emit(e)
	}
	return snap
}

// applyLocked folds a round's results into the state and builds the next
// snapshot and the events it causes.
func (c *Checker) applyLocked(results []probeResult) (*Snapshot, []Event) {
	prev := c.snap.Load()
	now := time.Now()
	var events []Event
	snap := &Snapshot{Nodes: make([]Status, len(c.nodes)), Writer: prev.Writer, Time: now}
	for i, r := range results {
		st := &c.state[i]
		s := st.status
		s.CheckedAt = r.at
		wasHealthy := st.healthy
		s.Busy = r.busy
		switch {
		case r.busy:
			// The application holds every connection of the node's pool:
			// this round says nothing about the node.
		case r.err != nil:
			st.oks = 0
			st.fails++
			if r.hard || !st.seen {
				// A failed connection, or a node never seen up: out at once.
				st.fails = max(st.fails, c.cfg.Fall)
			}
			if st.fails >= c.cfg.Fall {
				st.healthy = false
			}
			s.Reachable = false
			s.LastError = r.err.Error() // probe redacted it
		default:
			st.seen = true
			st.fails = 0
			serving, why := true, ""
			if r.galera != nil {
				serving, why = r.galera.servesReads(c.cfg.ServeDesynced)
			}
			if serving {
				st.oks++
				if !st.healthy && st.oks >= c.cfg.Rise {
					st.healthy = true
				}
			} else {
				// The node says it must not serve: out at once, back after
				// Rise checks that find it serving.
				st.oks = 0
				st.healthy = false
			}
			s.Reachable = true
			s.Latency = ewma(s.Latency, r.latency)
			if r.role != 0 {
				prevRole := s.Role
				if s.Role != 0 && s.Role != r.role {
					events = append(events, Event{Kind: RoleChange, Node: c.nodes[i].Name, Time: now, Role: r.role,
						Detail: fmt.Sprintf("%s → %s", s.Role, r.role)})
				}
				s.Role, s.Writable = r.role, r.writable
				s.Position, s.Received = r.position, r.received
				if r.repl.LastError != "" && r.repl.LastError != s.Replication.LastError {
					events = append(events, Event{Kind: ReplicationError, Node: c.nodes[i].Name, Time: now, Role: s.Role, Detail: r.repl.LastError})
				}
				s.Replication = r.repl
				var semi []Event
				st.semiAlerted, semi = semiSyncEvents(c.nodes[i].Name, st.semiAlerted, s.SemiSync, prevRole, r.semi, r.role, now)
				events = append(events, semi...)
				s.SemiSync = r.semi
				if e, ok := galeraChange(s.Galera, r.galera); ok {
					e.Node, e.Time, e.Role = c.nodes[i].Name, now, s.Role
					events = append(events, e)
				}
				s.Galera = r.galera
			}
			switch {
			case st.healthy:
				s.LastError = ""
			case !serving:
				s.LastError = why
			}
		}
		s.Healthy = st.healthy
		if wasHealthy != st.healthy {
			kind := NodeUp
			if !st.healthy {
				kind = NodeDown
			}
			events = append(events, Event{Kind: kind, Node: c.nodes[i].Name, Time: now, Role: s.Role, Detail: s.LastError})
		}
		st.status = s
		snap.Nodes[i] = s
	}
	ch := chooseWriter(snap.Nodes, prev.Writer, c.given, c.cfg.MultiPrimary)
	snap.Writer, snap.WriterKnown, snap.SplitBrain, snap.MultiPrimary = ch.writer, ch.known, ch.split, ch.multi
	if snap.SplitBrain != c.split {
		c.split = snap.SplitBrain
		e := Event{Kind: SplitBrainOver, Time: now, Detail: "one writable node again"}
		if snap.SplitBrain {
			e = Event{Kind: SplitBrain, Time: now, Detail: ch.detail}
		}
		events = append(events, e)
	}
	events = append(events, c.lagLocked(snap, now)...)
	return snap, events
}

// lagLocked records the primary's position and measures each replica's lag
// against the history of positions the primary reached.
func (c *Checker) lagLocked(snap *Snapshot, now time.Time) []Event {
	var primary consistency.Token
	if snap.WriterKnown {
		primary = snap.Nodes[snap.Writer].Position
		if !primary.IsZero() {
			n := len(c.history)
			switch {
			case n > 0 && !c.history[n-1].pos.SameOrigin(primary):
				c.history = c.history[:0] // a new cluster or timeline: start over
				c.history = append(c.history, sample{now, primary})
			case n == 0 || !c.history[n-1].pos.Covers(primary) || !primary.Covers(c.history[n-1].pos):
				c.history = append(c.history, sample{now, primary})
				if len(c.history) > maxHistory {
					c.history = append(c.history[:0], c.history[len(c.history)-maxHistory:]...)
				}
			}
		}
	}
	var events []Event
	for i := range snap.Nodes {
		s := &snap.Nodes[i]
		if i == snap.Writer && snap.WriterKnown {
			s.Lag = Lag{Known: true}
		} else {
			s.Lag = c.measureLocked(s, primary, now)
			if snap.WriterKnown {
				c.galeraLag(s, &snap.Nodes[snap.Writer])
			}
		}
		c.state[i].status.Lag = s.Lag
		reader := s.Role == Replica || snap.MultiPrimary && s.Writable
		if c.cfg.LagAlert <= 0 || !reader || i == snap.Writer {
			continue
		}
		st := &c.state[i]
		high := !s.Lag.Known && s.Reachable || s.Lag.Known && s.Lag.Time > c.cfg.LagAlert
		if high != st.lagAlerted {
			st.lagAlerted = high
			kind, detail := LagNormal, "lag back under the alert threshold"
			if high {
				kind, detail = LagHigh, fmt.Sprintf("lag over %v", c.cfg.LagAlert)
				if !s.Lag.Known {
					detail = "lag unknown"
				}
			}
			events = append(events, Event{Kind: kind, Node: s.Name, Time: now, Role: s.Role, Lag: s.Lag.Time, Detail: detail})
		}
	}
	return events
}

func (c *Checker) measureLocked(s *Status, primary consistency.Token, now time.Time) Lag {
	if !s.Reachable || s.Position.IsZero() || primary.IsZero() {
		return Lag{}
	}
	bytes, ok := s.Position.Behind(primary)
	if !ok {
		return Lag{}
	}
	lag := Lag{Bytes: bytes, Known: true}
	for _, h := range c.history {
		if !h.pos.SameOrigin(s.Position) {
			return Lag{}
		}
		if !s.Position.Covers(h.pos) {
			lag.Time = now.Sub(h.at)
			break
		}
	}
	return lag
}

func (c *Checker) publishLocked(s *Snapshot) {
	c.snap.Store(s)
	if c.cfg.OnSnapshot != nil {
		c.cfg.OnSnapshot(s)
	}
}

// Emit logs an event and hands it to OnEvent, as the checker's own events
// are; the fail-over helper's caller reports through it.
func (c *Checker) Emit(e Event) { c.emit(e) }

func (c *Checker) emit(e Event) {
	attrs := []any{"event", e.Kind.String(), "role", e.Role.String()}
	if e.Node != "" {
		attrs = append(attrs, "node", e.Node)
	}
	if e.Kind == LagHigh || e.Kind == LagNormal {
		attrs = append(attrs, "lag", e.Lag)
	}
	if e.Detail != "" {
		attrs = append(attrs, "detail", e.Detail)
	}
	c.log.Log(context.Background(), e.level(), "health: "+e.Kind.String(), attrs...)
	if c.cfg.OnEvent != nil {
		c.cfg.OnEvent(e)
	}
}

// ewma folds a new latency into a moving average that weighs it 30%.
func ewma(avg, x time.Duration) time.Duration {
	if avg == 0 {
		return x
	}
	return time.Duration(0.7*float64(avg) + 0.3*float64(x))
}
