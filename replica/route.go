package replica

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"time"

	"github.com/sqlreplica/sqlreplica/consistency"
	"github.com/sqlreplica/sqlreplica/health"
	"github.com/sqlreplica/sqlreplica/internal/dberr"
	"github.com/sqlreplica/sqlreplica/internal/redact"
	"github.com/sqlreplica/sqlreplica/router"
)

// view is what routing needs from a health snapshot, built once per
// snapshot and read without a lock.
type view struct {
	snap   *health.Snapshot
	writer *node // never nil: the configured primary until checks find another
	split  bool  // split brain: statements that may write are refused
	// multi: the readers are writable (Galera, MultiPrimary): nothing on
	// them refuses a write a read-only declaration hid
	multi   bool
	readers []router.Candidate
	rnodes  []*node // rnodes[i] serves readers[i]
}

// buildView turns a health snapshot into the routing view. The checker calls
// it, in order, for every snapshot it publishes.
func (db *DB) buildView(s *health.Snapshot) {
	v := &view{snap: s, writer: db.primary, split: s.SplitBrain, multi: s.MultiPrimary}
	if s.Writer >= 0 && s.Writer < len(db.all) {
		v.writer = db.all[s.Writer]
	}
	for i, st := range s.Nodes {
		n := db.all[i]
		w := 1
		if r := i - 1; r >= 0 && r < len(db.cfg.weights) {
			w = db.cfg.weights[r]
		}
		switch {
		case !st.Healthy:
			continue
		case n == v.writer:
			// The writer serves reads only in a multi-primary topology,
			// and only when WriterReads says so.
			if !s.MultiPrimary || db.cfg.writerWeight == 0 {
				continue
			}
			w = db.cfg.writerWeight
		case st.Role == health.Replica && !st.Writable:
			// A replica.
		case s.MultiPrimary && st.Writable:
			// Another node of a Galera cluster or a multi-primary set: the
			// checks found the writable nodes to be one, not a split brain.
		default:
			continue
		}
		v.readers = append(v.readers, router.Candidate{
			Name: st.Name, Weight: w, Latency: st.Latency,
			Lag: st.Lag.Time, LagBytes: st.Lag.Bytes, LagKnown: st.Lag.Known,
			InFlight: &n.inFlight,
		})
		v.rnodes = append(v.rnodes, n)
	}
	db.view.Store(v)
}

// querier is what a statement runs on: a node's pool, or one connection
// taken from it. It is a struct, not an interface, so that the calls stay
// static and a statement's arguments do not escape to the heap.
type querier struct {
	db   *sql.DB
	conn *sql.Conn // when set, the statement runs on it
	// What a statement routed with captureByFn learns of its route (the
	// routing *sql.DB's, which takes its connections itself):
	write   bool                 // it runs as a write, on the writer
	isolate bool                 // a failure must close its connection, not pool it
	session *consistency.Session // a write records its position here (nil: nowhere)
}

func (q querier) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if q.conn != nil {
		return q.conn.ExecContext(ctx, query, args...)
	}
	return q.db.ExecContext(ctx, query, args...)
}

func (q querier) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if q.conn != nil {
		return q.conn.QueryContext(ctx, query, args...)
	}
	return q.db.QueryContext(ctx, query, args...)
}

func (q querier) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if q.conn != nil {
		return q.conn.QueryRowContext(ctx, query, args...)
	}
	return q.db.QueryRowContext(ctx, query, args...)
}

func (q querier) PrepareContext(ctx context.Context, query string) (*sql.Stmt, error) {
	if q.conn != nil {
		return q.conn.PrepareContext(ctx, query)
	}
	return q.db.PrepareContext(ctx, query)
}

func (q querier) BeginTx(ctx context.Context, opts *sql.TxOptions) (*sql.Tx, error) {
	if q.conn != nil {
		return q.conn.BeginTx(ctx, opts)
	}
	return q.db.BeginTx(ctx, opts)
}

// runFn runs a statement on node n through q, with ctx. It must not have
// handed rows to the caller when it fails: a read moves to another node only
// before any row came back.
type runFn func(ctx context.Context, n *node, q querier) error

// capture says when a write's position can be read for its session.
type capture uint8

const (
	captureNone  capture = iota // nothing is written by the call itself (Prepare, Begin, Conn)
	captureNow                  // the write has completed when fn returns (Exec)
	captureLater                // the write completes once its rows are read and closed (Query, QueryRow)
	// captureByFn: fn takes its connection from q.db itself, isolates a
	// read when q.isolate says so, and records a write's position in
	// q.session when it has completed (the routing *sql.DB's statements,
	// whose rows are the driver's, not *sql.Rows).
	captureByFn
)

// route is every entry point's way in: it completes the decision's input
// (the statement's caller and class, given) from the context and the routing
// view, decides where the statement goes (see decide), and runs fn there.
// query, the statement's text (empty for BeginTx and Conn), is for the
// tracer (see WithTracer).
// With a tracer, route runs again inside routeTraced, which reports each
// decision, node tried, wait and fallback (trace.go).
func (db *DB) route(ctx context.Context, query string, in decisionInput, when capture, fn runFn) error {
	if db.traced && !entered(ctx) {
		return db.routeTraced(ctx, query, in, when, fn)
	}
	v := db.view.Load()
	c := in.caller
	in.replicas, in.split, in.multiPrimary = len(db.replicas) > 0, v.split, v.multi
	o := optsFrom(ctx)
	if o == nil {
		// No session, token or hint: the common cases, kept short.
		d := decide(in)
		if db.traced && !(d.target == toReplica && db.causal.on && (c == callStatement || c == callBegin)) {
			ctx = db.traceDecided(ctx, v, in, d) // readCausal decides anew
		}
		switch {
		case d.target == toReplica && !d.isolate && !db.limited && len(v.readers) > 0 && !db.causal.on:
			// The balancer's pick serves it; the rest of read only when it
			// cannot.
			n := v.rnodes[db.pick(v.readers)]
			err := db.call(ctx, n, fn)
			if err == nil {
				return nil
			}
			return db.readAfter(ctx, v, in, d, n, err, when, fn)
		case d.target == toReplica && db.causal.on && (c == callStatement || c == callBegin):
			return db.readCausal(ctx, v, in, d, when, fn)
		case d.target == toReplica:
			return db.read(ctx, v, in, d, nil, nil, when, fn)
		case d.target == toPrimary && d.write && !db.causal.on:
			if err := db.callWith(ctx, v.writer, fn, querier{db: v.writer.db, write: when == captureByFn}); err != nil {
				return db.writeFailed(ctx, v.writer, nil, err)
			}
			return nil
		}
		return db.carryOut(ctx, v, in, d, nil, nil, when, fn)
	}
	in.hint = o.Hint
	r := &readState{o: o}
	if !in.mayWrite() && (c == callStatement || c == callBegin) {
		r.s, _ = o.Session.(*consistency.Session)
		r.tok, _ = o.Token.(consistency.Token)
		if r.s != nil || !r.tok.IsZero() {
			r.consistent = true
			r.pol = db.policy(o)
			in.replicaOnly = r.pol.ReplicaOnly
			if r.s != nil && in.hint != hintPrimary && in.replicas {
				r.need = r.s.NeedNow(ctx, time.Now())
				in.afterWrite, in.unsure, in.inProgress = r.need.AfterWrite, r.need.Unsure, r.need.InProgress
			}
		}
		if db.causal.on && in.hint != hintPrimary {
			db.causalRead(ctx, v, &in, o, r)
		}
	} else if in.mayWrite() {
		r.s, _ = o.Session.(*consistency.Session) // a write records its position there
	}
	d := decide(in)
	if db.traced {
		ctx = db.traceDecided(ctx, v, in, d)
	}
	return db.carryOut(ctx, v, in, d, o, r, when, fn)
}

// readState is what a statement's context says beyond its hint.
type readState struct {
	o          *queryOpts
	s          *consistency.Session // nil without a session
	consistent bool                 // the read honours the session or token
	tok        consistency.Token    // from WithToken
	need       consistency.Need
	pol        consistency.Policy
}

func (r *readState) session() *consistency.Session {
	if r == nil {
		return nil
	}
	return r.s
}

// carryOut runs fn where decision d sends it.
func (db *DB) carryOut(ctx context.Context, v *view, in decisionInput, d decision, o *queryOpts, r *readState, when capture, fn runFn) error {
	switch d.target {
	case refuse:
		return refusal(d)
	case toPrimary:
		if d.write {
			return db.write(ctx, v, r.session(), when, fn)
		}
		if r != nil && r.consistent {
			return db.readPrimary(ctx, v, r.s, fn, nil)
		}
		return db.readPrimary(ctx, v, nil, fn, nil)
	}
	return db.read(ctx, v, in, d, o, r, when, fn)
}

// refusal is the error of a refused decision.
func refusal(d decision) error {
	switch d.reason {
	case reasonSplitBrain:
		return ErrSplitBrain
	case reasonWriteOnReplica:
		return ErrWriteOnReplica
	case reasonUnsure:
		return fmt.Errorf("%w: where the session's (or, with CausalReads, the DB's) last write landed is not known", consistency.ErrNotReplicated)
	case reasonInProgress:
		return fmt.Errorf("%w: a write of the session (or, with CausalReads, of the DB) is still in progress", consistency.ErrNotReplicated)
	}
	return fmt.Errorf("replica: statement refused: %s", d.reason)
}

// fresh reports whether a candidate is within the lag limits for o. Unknown
// lag is never fresh where there is a limit.
func (db *DB) fresh(o *queryOpts, c *router.Candidate) bool {
	maxLag, limited := db.cfg.maxLag, db.cfg.maxLag > 0
	if o != nil && o.HasMaxLag {
		maxLag, limited = o.MaxLag, true
	}
	if limited && (!c.LagKnown || c.Lag > maxLag) {
		return false
	}
	return db.cfg.maxLagBytes == 0 || c.LagKnown && c.LagBytes <= db.cfg.maxLagBytes
}

// pick returns where the balancer starts among n candidates, kept in range
// whatever a custom balancer returns.
func (db *DB) pick(c []router.Candidate) int {
	i := db.balancer.Pick(c)
	if i < 0 || i >= len(c) {
		return 0
	}
	return i
}

// attempt is a read's progress over the nodes it tried.
type attempt struct {
	failed  []error // a NodeError per node that could not serve
	last    *node   // the node tried last, when traced
	isolate bool    // run on a connection of its own, closed if the statement fails
	byFn    bool    // fn isolates the statement itself (captureByFn)
}

func (a *attempt) note(n *node, err error) {
	a.failed = append(a.failed, &NodeError{Node: n.name, Err: err})
}

// outcome is what a try on a replica leads to.
type outcome uint8

const (
	served      outcome = iota + 1 // done: return err (nil, or the statement's own error)
	moveOn                         // the node could not serve: try the next
	asWrite                        // a replica refused it as a write: it is one
	primaryOnly                    // only the primary can run it
)

// try runs fn on replica n and says what follows.
func (db *DB) try(ctx context.Context, n *node, fn runFn, a *attempt) (outcome, error) {
	var err error
	switch {
	case a.byFn:
		err = db.callWith(ctx, n, fn, querier{db: n.db, isolate: a.isolate})
	case a.isolate:
		err = db.callIsolated(ctx, n, fn)
	default:
		err = db.call(ctx, n, fn)
	}
	if err == nil {
		return served, nil
	}
	if db.traced {
		a.last = n
	}
	return db.afterFailure(ctx, n, err, a)
}

// afterFailure says what a read's failure on replica n leads to.
func (db *DB) afterFailure(ctx context.Context, n *node, err error, a *attempt) (outcome, error) {
	switch db.failed(ctx, n, err) {
	case dberr.Final:
		return served, err
	case dberr.Refused:
		db.log.Debug("replica: a replica refused a read as a write; running it on the primary as a write", "node", n.name)
		return asWrite, err
	case dberr.PrimaryOnly:
		db.log.Debug("replica: a read only the primary can run; running it there", "node", n.name)
		return primaryOnly, err
	}
	a.note(n, err)
	db.log.Debug("replica: read failed on a node; trying the next", "node", n.name)
	if db.traced {
		db.traceFallback(ctx, CauseNodeFailed, n, err)
	}
	return moveOn, err
}

// read runs a read on the replicas: one the balancer picks among those
// fresh enough (and, for a read with a session or token, known to have what
// it needs, or given a bounded time to apply it), moving on while nodes
// cannot serve, and on the primary as the last resort. A replica that
// refuses the statement as a write makes it a write, decided anew.
func (db *DB) read(ctx context.Context, v *view, in decisionInput, d decision, o *queryOpts, r *readState, when capture, fn runFn) error {
	a := attempt{isolate: d.isolate, byFn: when == captureByFn}
	var out outcome
	var err error
	switch {
	case r != nil && r.consistent:
		out, err = db.readConsistent(ctx, v, o, r, fn, &a)
	case len(v.readers) > 0 && !a.isolate && !db.limited && (o == nil || !o.HasMaxLag):
		// The common case, kept short: the balancer's pick serves it.
		n := v.rnodes[db.pick(v.readers)]
		if err = db.call(ctx, n, fn); err == nil {
			return nil
		}
		return db.readAfter(ctx, v, in, d, n, err, when, fn)
	default:
		out, err = db.readAny(ctx, v, o, fn, &a, nil)
	}
	return db.afterReplicas(ctx, v, in, o, r, when, fn, &a, out, err)
}

// readAfter goes on with a read without a session, token or lag limit
// whose first replica, n, failed with err.
func (db *DB) readAfter(ctx context.Context, v *view, in decisionInput, d decision, n *node, err error, when capture, fn runFn) error {
	a := attempt{isolate: d.isolate, byFn: when == captureByFn, last: n}
	out, err := db.afterFailure(ctx, n, err, &a)
	if out == moveOn {
		out, err = db.readAny(ctx, v, nil, fn, &a, n)
	}
	return db.afterReplicas(ctx, v, in, nil, nil, when, fn, &a, out, err)
}

// afterReplicas finishes a read by what its tries on the replicas led to:
// done, a write decided anew, or the primary.
func (db *DB) afterReplicas(ctx context.Context, v *view, in decisionInput, o *queryOpts, r *readState, when capture, fn runFn, a *attempt, out outcome, err error) error {
	switch out {
	case served:
		return err
	case asWrite:
		in.refused = true
		if db.traced {
			db.traceFallback(ctx, CauseRefusedAsWrite, a.last, err)
		}
		return db.carryOut(ctx, v, in, decide(in), o, r, when, fn)
	}
	if r != nil && r.consistent && r.pol.ReplicaOnly {
		if out == primaryOnly {
			return err
		}
		return fmt.Errorf("%w: no replica applied the session's writes within %v", consistency.ErrNotReplicated, r.pol.Wait)
	}
	if db.traced {
		switch {
		case out == primaryOnly:
			db.traceFallback(ctx, CausePrimaryOnly, a.last, err)
		case r != nil && r.consistent && len(a.failed) == 0:
			db.traceFallback(ctx, CauseNotReplicated, nil, nil)
		default:
			db.traceFallback(ctx, CauseNoReplica, nil, nil)
		}
	}
	return db.readPrimary(ctx, v, r.session(), fn, a)
}

// readAny tries the replicas within the lag limits, in the balancer's order,
// but skip, which has failed already.
func (db *DB) readAny(ctx context.Context, v *view, o *queryOpts, fn runFn, a *attempt, skip *node) (outcome, error) {
	n := len(v.readers)
	if n == 0 {
		return moveOn, nil
	}
	limited := db.limited || o != nil && o.HasMaxLag
	start := db.pick(v.readers)
	tried := false
	for i := 0; i < n; i++ {
		j := start + i
		if j >= n {
			j -= n
		}
		if limited && !db.fresh(o, &v.readers[j]) || v.rnodes[j] == skip {
			continue
		}
		tried = true
		if out, err := db.try(ctx, v.rnodes[j], fn, a); out != moveOn {
			return out, err
		}
	}
	if !tried && skip == nil && db.cfg.fallback == FallbackLeastLagging {
		if j := leastLagging(v.readers); j >= 0 {
			if out, err := db.try(ctx, v.rnodes[j], fn, a); out != moveOn {
				return out, err
			}
		}
	}
	return moveOn, nil
}

// readConsistent routes a read that carries a session or a token: to a
// replica known to have applied what it needs, else to a replica given a
// bounded time to apply it. The read never runs on a replica whose wait
// failed. A session's reads stay on one replica while it has what they need
// (monotonic reads); moving to another, the new one must have what the
// primary had at that moment. moveOn means the primary must serve it.
func (db *DB) readConsistent(ctx context.Context, v *view, o *queryOpts, r *readState, fn runFn, a *attempt) (outcome, error) {
	need := r.tok.Merge(r.need.Written)
	if !need.IsZero() && !db.primaryHas(ctx, v.writer, need) {
		// Forged, or from another cluster or timeline: no replica can be
		// trusted with it.
		return moveOn, nil
	}
	if len(v.readers) == 0 {
		return moveOn, nil
	}
	pos := func(n *node) consistency.Token { return v.snap.Nodes[n.idx].Position }
	has := func(n *node, t consistency.Token) bool { return applied(v.snap, n.idx, t) }
	limited := db.limited || o != nil && o.HasMaxLag
	usable := func(j int) bool { return !limited || db.fresh(o, &v.readers[j]) }
	tryAt := func(j int, raise consistency.Token) (outcome, error) {
		n := v.rnodes[j]
		out, err := db.try(ctx, n, fn, a)
		if out == served && err == nil && r.s != nil {
			r.s.ReadAt(n.name, raise)
		}
		return out, err
	}

	// 1. The pinned replica, while it has what the session needs.
	if p := r.need.Pinned; p != "" {
		for j, n := range v.rnodes {
			// The floor too: a concurrent read of the session on the
			// primary may have raised it since the session was pinned here.
			if n.name == p && usable(j) && has(n, need.Merge(r.need.Floor)) {
				if out, err := tryAt(j, consistency.Token{}); out != moveOn {
					return out, err
				}
			} else if n.name == p && usable(j) && db.traced {
				db.traceFallback(ctx, CauseLacksToken, n, nil)
			}
		}
	}
	// Another replica must have what the pinned one may have shown: what
	// the primary has now.
	target := need.Merge(r.need.Floor)
	var raise consistency.Token
	if r.need.Pinned != "" {
		p, err := db.primaryPosition(ctx, v.writer, time.Now())
		if err != nil {
			return moveOn, nil
		}
		raise = p
		target = target.Merge(p)
	}
	// 2. A replica known to have it.
	n := len(v.readers)
	start := db.pick(v.readers)
	for i := 0; i < n; i++ {
		j := (start + i) % n
		if usable(j) && has(v.rnodes[j], target) {
			if out, err := tryAt(j, raise); out != moveOn {
				return out, err
			}
		} else if usable(j) && db.traced {
			db.traceFallback(ctx, CauseLacksToken, v.rnodes[j], nil)
		}
	}
	// 3. The most advanced replica, given a bounded time.
	best := -1
	var bestBehind uint64
	for j := range v.rnodes {
		if !usable(j) || !pos(v.rnodes[j]).SameOrigin(target) {
			continue
		}
		behind, ok := pos(v.rnodes[j]).Behind(target)
		if ok && (best < 0 || behind < bestBehind) {
			best, bestBehind = j, behind
		}
	}
	if best >= 0 && r.pol.Wait > 0 && db.wait(ctx, v.rnodes[best], target, r.pol.Wait) {
		return tryAt(best, raise)
	}
	return moveOn, nil
}

// applied reports whether the checks that made snapshot s show node i to
// have applied need, so that a read there sees it. A Galera node's
// position never shows it: it is read from the binary log, which gets a
// write set's GTID before its commit is visible; such a node is asked to
// wait instead (see waitGalera), which returns at once when it has it.
func applied(s *health.Snapshot, i int, need consistency.Token) bool {
	st := &s.Nodes[i]
	if st.Galera != nil {
		return need.IsZero()
	}
	return st.Position.Covers(need)
}

// readPrimary runs a read on the writer (reads are not refused in a split
// brain; statements that may write are). For a read of session s, a later
// read on a replica must see what this read saw: the session reads the
// primary's position later, once this read's connection is free, so that no
// connection is held while another is awaited from the same pool. a holds
// the failures of nodes tried before, if any: when the primary cannot serve
// either, the error names every node.
func (db *DB) readPrimary(ctx context.Context, v *view, s *consistency.Session, fn runFn, a *attempt) error {
	n := v.writer
	err := db.call(ctx, n, fn)
	if err == nil {
		if s != nil {
			db.readOnPrimary(s, n, time.Now()) // fn has returned: the read's snapshot is taken
		}
		return nil
	}
	f := db.failed(ctx, n, err)
	if f == dberr.Final || f == dberr.Refused || f == dberr.PrimaryOnly {
		return err
	}
	if nv := db.view.Load(); nv.snap.MultiPrimary && nv.writer != n && v.writer == n {
		// The writer of a multi-primary set failed and writes moved at
		// once (see health's MarkDown): the read moves with them, once the
		// new writer is known to have what the read must see.
		need := consistency.TokenFrom(ctx)
		if s != nil {
			need = need.Merge(s.Token())
		}
		if need.IsZero() || db.waitFor(ctx, nv.writer, need, db.policy(optsFrom(ctx)).Wait) {
			return db.readPrimary(ctx, nv, s, fn, a)
		}
	}
	if a == nil {
		a = &attempt{}
	}
	a.note(n, err)
	db.noteDown(v, a)
	if len(a.failed) == 1 {
		return a.failed[0]
	}
	return fmt.Errorf("replica: no node could serve the read: %w", errors.Join(a.failed...))
}

// noteDown adds to a the nodes that were out of rotation, with the error
// that took them out, so that an error for "nothing could serve" names
// every node.
func (db *DB) noteDown(v *view, a *attempt) {
	for i, st := range v.snap.Nodes {
		n := db.all[i]
		if n == v.writer || st.Healthy {
			continue
		}
		named := false
		for _, e := range a.failed {
			if ne, ok := e.(*NodeError); ok && ne.Node == n.name {
				named = true
			}
		}
		if !named {
			msg := st.LastError
			if msg == "" {
				msg = "not in rotation"
			}
			a.failed = append(a.failed, &NodeError{Node: n.name, Err: errors.New(msg)})
		}
	}
}

// leastLagging returns the index of the replica with the smallest known lag,
// else the first, or -1 if there are none.
func leastLagging(c []router.Candidate) int {
	best := -1
	for i := range c {
		if best < 0 || c[i].LagKnown && (!c[best].LagKnown || c[i].Lag < c[best].Lag) {
			best = i
		}
	}
	return best
}

// call runs fn on n's pool, counting it in flight when the balancer needs
// it.
// A node's error is redacted (see internal/redact): no text derived from a
// connection string reaches a caller.
func (db *DB) call(ctx context.Context, n *node, fn runFn) error {
	return db.callWith(ctx, n, fn, querier{db: n.db})
}

// callWith is call with the querier q.
func (db *DB) callWith(ctx context.Context, n *node, fn runFn, q querier) error {
	var err error
	if !db.countInFlight {
		err = fn(ctx, n, q)
	} else {
		n.inFlight.Add(1)
		err = fn(ctx, n, q)
		n.inFlight.Add(-1)
	}
	if err != nil {
		err = redact.Error(err)
	}
	if db.traced {
		db.traceTry(ctx, n, err)
	}
	return err
}

// callIsolated runs fn on a connection of n's taken for it alone. If fn
// fails, the connection is closed rather than pooled: whatever the failed
// statement left in the session (a lock a misdeclared function took before
// the replica refused its write) goes with it. If fn succeeds, the
// connection goes back to the pool once the caller is done with what fn
// returned (its rows).
func (db *DB) callIsolated(ctx context.Context, n *node, fn runFn) error {
	_, err := db.onOwnConn(ctx, n, fn, true, nil)
	return err
}

// onOwnConn runs fn on a connection of n's taken for it alone, and returns
// the connection to its pool once the caller has closed what fn returned
// (see afterRows, which then calls done). If fn fails, the connection is
// returned at once, or closed rather than pooled when discard is set. sent
// is false when no connection could be had. Errors are redacted.
func (db *DB) onOwnConn(ctx context.Context, n *node, fn runFn, discard bool, done func(time.Time)) (sent bool, err error) {
	conn, err := n.db.Conn(ctx)
	if err != nil {
		err = redact.Error(err)
		if db.traced {
			db.traceTry(ctx, n, err)
		}
		return false, err
	}
	qctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(db.life, cancel) // Close ends the rows, so the wait in afterRows ends
	if err := fn(qctx, n, querier{conn: conn}); err != nil {
		if discard {
			discardConn(conn)
		}
		stop()
		cancel()
		conn.Close()
		err = redact.Error(err)
		if db.traced {
			db.traceTry(ctx, n, err)
		}
		return true, err
	}
	if db.traced {
		db.traceTry(ctx, n, nil)
	}
	db.afterRows(conn, stop, cancel, done)
	return true, nil
}

// discardConn makes conn's return to its pool close it instead.
func discardConn(conn *sql.Conn) {
	_ = conn.Raw(func(any) error { return driver.ErrBadConn })
}

// afterRows returns conn to its pool once the caller has closed what a
// statement on it returned, then ends the statement's context and, with a
// completion time, closes done.
func (db *DB) afterRows(conn *sql.Conn, stop func() bool, cancel context.CancelFunc, done func(time.Time)) {
	end := func() {
		conn.Close() // waits until the caller has closed the rows
		completed := time.Now()
		stop()
		cancel()
		if done != nil {
			done(completed)
		}
	}
	db.bgMu.RLock()
	if db.closed.Load() {
		// Close has begun, and ends the statement's context (which closes
		// its rows) without waiting for this: end it here.
		db.bgMu.RUnlock()
		end()
		return
	}
	db.wg.Add(1)
	db.bgMu.RUnlock()
	go func() {
		defer db.wg.Done()
		end()
	}()
}

// write runs a write on the writer, once. A write the node refuses as
// read-only (it was demoted, or another node was promoted) triggers a check
// at once and returns an error wrapping [ErrReadOnlyPrimary]: it was not
// applied and is safe to retry. A failed connection takes the node out of
// rotation; the write is not retried, as it may or may not have been
// applied.
//
// A write with session s records its position there, and with CausalReads
// in the DB-wide position (see recordWrite): at once when it has completed
// (captureNow), or once its rows are closed (captureLater: it runs on a
// connection of its own, whose return to the pool tells when). A write
// whose outcome is unknown records the primary's position read later, which
// covers it if it was applied.
func (db *DB) write(ctx context.Context, v *view, s *consistency.Session, when capture, fn runFn) error {
	n := v.writer
	if when == captureByFn {
		// fn records the position itself, once the write has completed.
		return db.writeFailed(ctx, n, s, db.callWith(ctx, n, fn, querier{db: n.db, write: true, session: s}))
	}
	if s == nil && !db.causal.on || when == captureNone {
		return db.writeFailed(ctx, n, nil, db.call(ctx, n, fn))
	}
	if when == captureNow {
		if err := db.call(ctx, n, fn); err != nil {
			return db.writeFailed(ctx, n, s, err)
		}
		db.recordWrite(ctx, s, n, time.Now())
		return nil
	}
	w := db.startWrite(s, n)
	// Once the rows are closed, the write has committed.
	sent, err := db.onOwnConn(ctx, n, fn, false, w.closed)
	if err != nil {
		return w.failed(ctx, sent, err)
	}
	w.sent()
	return nil
}

// writeFailed handles a write's failure on n; s is its session, if any. A
// write whose outcome is unknown (its connection failed) is recorded with
// recordUnknown, in s and, with CausalReads, in the DB-wide position: the
// primary's position read later covers it if it was applied.
func (db *DB) writeFailed(ctx context.Context, n *node, s *consistency.Session, err error) error {
	if err == nil {
		return nil
	}
	f := db.failed(ctx, n, err)
	if f == dberr.Refused {
		db.checker.Trigger()
		return fmt.Errorf("%w: %w", ErrReadOnlyPrimary, &NodeError{Node: n.name, Err: err})
	}
	if f == dberr.NotServing {
		return fmt.Errorf("%w: %w", ErrWriterNotServing, &NodeError{Node: n.name, Err: err})
	}
	if !dberr.IsStatementError(err) {
		// It may have been applied.
		db.recordUnknown(s, n, time.Now())
	}
	return err
}

// readOnPrimary raises session s's floor to what the primary n had when a
// read that began before at ran there: a later read on a replica must see
// it. The position is read later, when the session next needs it, so that
// no connection is held while it is read.
func (db *DB) readOnPrimary(s *consistency.Session, n *node, at time.Time) {
	s.ReadOnPrimaryLater(func(ctx context.Context) (consistency.Token, error) {
		return db.primaryPosition(ctx, n, at)
	})
}
