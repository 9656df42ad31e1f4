package replica

import (
	"context"
	"time"

	"github.com/sqlreplica/sqlreplica/consistency"
	"github.com/sqlreplica/sqlreplica/health"
	"github.com/sqlreplica/sqlreplica/internal/dberr"
	"github.com/sqlreplica/sqlreplica/router"
)

// Tracer traces the statements a [DB] routes, in the manner of pgx's
// tracers: [WithTracer] sets one. For every statement the DB routes (its
// own ExecContext, QueryContext, QueryRowContext and BeginTx, and the
// statements, transactions and connections of [DB.SQLDB], [DB.PrepareContext]
// and [DB.Conn]), TraceRouteStart is called once, when the DB has decided
// where the statement goes and before it runs anywhere, and TraceRouteEnd
// once, when routing is over (for a query, when its rows are handed out).
// Statements inside a transaction, and those of a connection kept on the
// primary for its session state, run where their transaction or connection
// is: they are not routed, and not traced.
//
// A Tracer may also implement [StepTracer] (each node tried, each wait for a
// token, each fallback) and [EventTracer] (the health checks' node events).
// Its methods are called from the goroutine that runs the statement (events:
// from the health checker's), concurrently for concurrent statements: they
// must be safe for concurrent use, and must not block.
type Tracer interface {
	// TraceRouteStart is called with the statement and its routing
	// decision. The context it returns is the one the statement runs with
	// (its driver sees it: a span started here is the parent of the
	// driver's) and the one the statement's later trace calls get.
	TraceRouteStart(ctx context.Context, data TraceRouteStartData) context.Context
	// TraceRouteEnd is called with the outcome.
	TraceRouteEnd(ctx context.Context, data TraceRouteEndData)
}

// StepTracer is a [Tracer] that also sees each step of a statement's
// routing, with the context its TraceRouteStart returned.
type StepTracer interface {
	Tracer
	// TraceTry is called after each node the statement was sent to (or
	// tried to take a connection of) answered.
	TraceTry(ctx context.Context, data TraceTryData)
	// TraceWait is called after each wait for a replica to apply what a
	// read's session or token needs.
	TraceWait(ctx context.Context, data TraceWaitData)
	// TraceFallback is called each time the statement moves on from where
	// it was going: to the next replica, to the primary, or rerouted as a
	// write.
	TraceFallback(ctx context.Context, data TraceFallbackData)
}

// EventTracer is a [Tracer] that also gets every health event (nodes down
// and up, role changes, lag alerts, split brain, fail-overs; see
// [health.EventKind]), from the checker's goroutine, in addition to the
// function given to [OnEvent]. It must not block.
type EventTracer interface {
	Tracer
	TraceEvent(e health.Event)
}

// WithTracer makes the DB call t for every statement it routes (see
// [Tracer]). A nil t is an error wrapping [ErrBadOption]; without the option
// nothing is traced, at no cost.
func WithTracer(t Tracer) Option {
	return func(c *config) error {
		if t == nil {
			return badOption("WithTracer(nil)")
		}
		c.tracer = t
		c.steps, _ = t.(StepTracer)
		return nil
	}
}

// Caller names the entry point a traced statement came through.
type Caller string

// The entry points.
const (
	CallerStatement Caller = "statement" // ExecContext, QueryContext, QueryRowContext (the DB's or DB.SQLDB's)
	CallerBegin     Caller = "begin"     // BeginTx
	CallerConn      Caller = "conn"      // a connection of DB.SQLDB taken for the primary (DriverConn.Primary)
	CallerPrepare   Caller = "prepare"
	CallerReplicaTx Caller = "replica transaction"
	CallerPinned    Caller = "pinned connection"
)

var callerOut = [...]Caller{callStatement: CallerStatement, callPrepare: CallerPrepare, callBegin: CallerBegin,
	callConn: CallerConn, callInReplicaTx: CallerReplicaTx, callPinned: CallerPinned}

// Hint names the context's routing hint.
type Hint string

// The hints: none, [WithPrimary], [WithReplica].
const (
	HintNone    Hint = ""
	HintPrimary Hint = "primary"
	HintReplica Hint = "replica"
)

var hintOut = [...]Hint{hintNone: HintNone, hintPrimary: HintPrimary, hintReplica: HintReplica}

// Target is where a routing decision sends a statement.
type Target string

// The targets.
const (
	TargetPrimary Target = "primary" // the writer
	TargetReplica Target = "replica" // the replicas, then the primary as the last resort
	TargetRefused Target = "refused" // nowhere: the statement fails with the decision's error
)

var targetOut = [...]Target{toPrimary: TargetPrimary, toReplica: TargetReplica, refuse: TargetRefused}

// Reason says why a routing decision was made. Its values are fit for a
// metric's label.
type Reason string

// The reasons.
const (
	ReasonRead             Reason = "read"                // a read: replicas
	ReasonWrite            Reason = "write"               // may write, lock or change session state
	ReasonRefusedOnReplica Reason = "refused_by_replica"  // a replica refused it as a write: it is one
	ReasonHintPrimary      Reason = "hint_primary"        // WithPrimary
	ReasonNoReplicas       Reason = "no_replicas"         // no replica configured
	ReasonAfterWrite       Reason = "after_write"         // the session's PrimaryAfterWrite window
	ReasonUnsure           Reason = "session_unsure"      // where the session's last write landed is not known
	ReasonInProgress       Reason = "write_in_progress"   // a write of the session has not completed
	ReasonReadWriteTx      Reason = "read_write_tx"       // a transaction that is not read-only
	ReasonSerializable     Reason = "serializable_tx"     // a read-only SERIALIZABLE transaction on PostgreSQL
	ReasonConn             Reason = "conn"                // a dedicated connection may run anything
	ReasonSplitBrain       Reason = "split_brain"         // refused: more than one node accepts writes
	ReasonWriteOnReplica   Reason = "write_on_replica_tx" // refused: a write in a transaction on a replica
	ReasonPinned           Reason = "pinned"              // a connection kept on the primary
)

var reasonOut = [...]Reason{reasonRead: ReasonRead, reasonWrite: ReasonWrite, reasonRefusedOnReplica: ReasonRefusedOnReplica,
	reasonHintPrimary: ReasonHintPrimary, reasonNoReplicas: ReasonNoReplicas, reasonAfterWrite: ReasonAfterWrite,
	reasonUnsure: ReasonUnsure, reasonInProgress: ReasonInProgress, reasonReadWriteTx: ReasonReadWriteTx,
	reasonSerializable: ReasonSerializable, reasonConn: ReasonConn, reasonSplitBrain: ReasonSplitBrain,
	reasonWriteOnReplica: ReasonWriteOnReplica, reasonPinned: ReasonPinned}

// TraceRouteStartData is a statement and its routing decision.
type TraceRouteStartData struct {
	Query  string      // the statement's text; empty for BeginTx and a DriverConn.Primary
	Caller Caller      // the entry point
	Class  router.Kind // the statement's class; for BeginTx, Read for a read-only transaction
	Hint   Hint        // the context's hint
	// Session and Token say whether the context carries a
	// [consistency.Session] and a [consistency.Token]; Causal, whether the
	// read honours the DB's writes ([CausalReads]).
	Session, Token, Causal bool
	Target                 Target // where the decision sends it
	Reason                 Reason // why
}

// TraceTryData is one node's answer to a statement.
type TraceTryData struct {
	Node    string
	Primary bool // the node is the writer
	// Lag is the replica's lag as the routing view had it when the
	// statement was decided (LagKnown false: unknown, or the writer).
	Lag      time.Duration
	LagKnown bool
	Err      error // nil: the node served the statement
	// Fault says that the failure was judged the node's own (its
	// connection failed): the node leaves rotation, and a read moves on.
	// A statement's own error, or the caller's context ending, is never
	// the node's fault.
	Fault bool
}

// WaitOutcome says why a wait for a token stopped.
type WaitOutcome string

// The outcomes of a wait.
const (
	WaitReached  WaitOutcome = "reached"   // the replica applied what was needed
	WaitTimedOut WaitOutcome = "timed_out" // it did not within the policy's wait
	WaitCanceled WaitOutcome = "ctx_ended" // the caller's context ended
	WaitFailed   WaitOutcome = "failed"    // the replica's position could not be read
)

// TraceWaitData is one wait for a replica to apply what a read needs.
type TraceWaitData struct {
	Node     string
	Duration time.Duration
	Outcome  WaitOutcome
}

// Cause says why a statement moved on from where it was going.
type Cause string

// The causes of a fallback.
const (
	// CauseNodeFailed: Node could not serve (Err): the next replica, or
	// the primary, is tried.
	CauseNodeFailed Cause = "node_failed"
	// CauseLacksToken: Node, a replica that would have served the read,
	// had not applied what the read's session, token or the DB's causal
	// writes need: the read was not run there before it had (a stale read
	// avoided). It goes to another replica, waits, or goes to the primary.
	CauseLacksToken Cause = "lacks_token"
	// CauseNotReplicated: no replica had, or applied within the wait, what
	// the read needs: it goes to the primary.
	CauseNotReplicated Cause = "not_replicated"
	// CauseNoReplica: no replica could serve the read (none in rotation,
	// none within the lag limit, or every one failed): it goes to the
	// primary.
	CauseNoReplica Cause = "no_replica"
	// CausePrimaryOnly: Node said only a primary can run the read: it goes
	// to the primary.
	CausePrimaryOnly Cause = "primary_only"
	// CauseRefusedAsWrite: Node refused the read as a write: it is routed
	// anew as a write, to the primary.
	CauseRefusedAsWrite Cause = "refused_as_write"
)

// ToPrimary reports whether the statement goes to the primary next.
func (c Cause) ToPrimary() bool {
	return c == CauseNotReplicated || c == CauseNoReplica || c == CausePrimaryOnly || c == CauseRefusedAsWrite
}

// TraceFallbackData is a statement moving on from where it was going.
type TraceFallbackData struct {
	Cause Cause
	Node  string // the node it moves away from; empty when none was tried
	Err   error  // the node's error, for CauseNodeFailed, CausePrimaryOnly and CauseRefusedAsWrite
}

// TraceRouteEndData is a statement's outcome.
type TraceRouteEndData struct {
	Node      string        // the node that ran it; empty when none did
	Err       error         // what the caller gets
	Tries     int           // nodes tried
	Fallbacks int           // TraceFallback calls
	Waited    time.Duration // time spent waiting for tokens
}

// stmtTrace is a traced statement's state, in its context.
type stmtTrace struct {
	query     string
	in        decisionInput
	fresh     bool // routeTraced has not yet entered route with it
	started   bool
	ctx       context.Context // TraceRouteStart's
	v         *view
	node      string
	tries     int
	fallbacks int
	waited    time.Duration
	stale     bool // a CauseLacksToken was traced
}

type stmtKey struct{}

// entered reports whether ctx is the one routeTraced made for the
// statement route was called with, the first time it is asked: a context
// of an earlier statement's (a driver's code that routes a statement with
// it) gets a trace of its own.
func entered(ctx context.Context) bool {
	st := traceOf(ctx)
	if st == nil || !st.fresh {
		return false
	}
	st.fresh = false
	return true
}

func traceOf(ctx context.Context) *stmtTrace {
	st, _ := ctx.Value(stmtKey{}).(*stmtTrace)
	return st
}

// routeTraced is route with a tracer set.
func (db *DB) routeTraced(ctx context.Context, query string, in decisionInput, when capture, fn runFn) error {
	st := &stmtTrace{query: query, in: in, fresh: true}
	err := db.route(context.WithValue(ctx, stmtKey{}, st), query, in, when, fn)
	if !st.started { // not expected: every path decides before it runs
		st.ctx = ctx
	}
	db.cfg.tracer.TraceRouteEnd(st.ctx, TraceRouteEndData{Node: st.node, Err: err, Tries: st.tries,
		Fallbacks: st.fallbacks, Waited: st.waited})
	return err
}

// traceDecided reports the statement in ctx and its decision d, with input
// in, to the tracer, the first time it is called for the statement, and
// returns the context the statement runs with. Later calls (a decision
// made anew) return ctx.
func (db *DB) traceDecided(ctx context.Context, v *view, in decisionInput, d decision) context.Context {
	st := traceOf(ctx)
	if st == nil || st.started {
		return ctx
	}
	st.started, st.v = true, v
	data := TraceRouteStartData{Query: st.query, Caller: callerOut[in.caller], Class: in.class,
		Hint: hintOut[in.hint], Target: targetOut[d.target], Reason: reasonOut[d.reason]}
	if o := optsFrom(ctx); o != nil {
		s, _ := o.Session.(*consistency.Session)
		tok, _ := o.Token.(consistency.Token)
		data.Session, data.Token = s != nil, !tok.IsZero()
	}
	data.Causal = db.causal.on && d.target == toReplica
	tctx := db.cfg.tracer.TraceRouteStart(ctx, data)
	if tctx == nil {
		tctx = ctx
	}
	if tctx != ctx {
		tctx = context.WithValue(tctx, stmtKey{}, st)
	}
	st.ctx = tctx
	return tctx
}

// traceTry reports node n's answer err to a statement routed with ctx.
func (db *DB) traceTry(ctx context.Context, n *node, err error) {
	st := traceOf(ctx)
	if st == nil || !st.started {
		return
	}
	st.tries++
	f := dberr.Judge(ctx, err)
	if err == nil || f == dberr.Final {
		st.node = n.name // it ran there: the error, if any, is the statement's own
	}
	if db.cfg.steps == nil {
		return
	}
	data := TraceTryData{Node: n.name, Err: err, Fault: err != nil && f == dberr.Down}
	if v := st.v; v != nil {
		data.Primary = n == v.writer
		if n.idx < len(v.snap.Nodes) && !data.Primary {
			l := v.snap.Nodes[n.idx].Lag
			data.Lag, data.LagKnown = l.Time, l.Known
		}
	}
	db.cfg.steps.TraceTry(st.ctx, data)
}

// traceFallback reports a statement routed with ctx moving on from node n
// (nil: none) for cause c.
func (db *DB) traceFallback(ctx context.Context, c Cause, n *node, err error) {
	st := traceOf(ctx)
	if st == nil || !st.started {
		return
	}
	if c == CauseLacksToken {
		if st.stale {
			return // once per statement
		}
		st.stale = true
	}
	st.fallbacks++
	if db.cfg.steps == nil {
		return
	}
	data := TraceFallbackData{Cause: c, Err: err}
	if n != nil {
		data.Node = n.name
	}
	db.cfg.steps.TraceFallback(st.ctx, data)
}

// wait is waitFor, traced.
func (db *DB) wait(ctx context.Context, n *node, need consistency.Token, d time.Duration) bool {
	if !db.traced {
		return db.waitFor(ctx, n, need, d)
	}
	start := time.Now()
	ok := db.waitFor(ctx, n, need, d)
	st := traceOf(ctx)
	if st == nil || !st.started {
		return ok
	}
	took := time.Since(start)
	st.waited += took
	if db.cfg.steps != nil {
		out := WaitReached
		switch {
		case ok:
		case ctx.Err() != nil:
			out = WaitCanceled
		case took >= d:
			out = WaitTimedOut
		default:
			out = WaitFailed
		}
		db.cfg.steps.TraceWait(st.ctx, TraceWaitData{Node: n.name, Duration: took, Outcome: out})
	}
	return ok
}

// eventsTo returns the function health events go to: f (from OnEvent, may
// be nil) and, when it is an EventTracer, t.
func eventsTo(f func(health.Event), t Tracer) func(health.Event) {
	et, ok := t.(EventTracer)
	if !ok {
		return f
	}
	if f == nil {
		return et.TraceEvent
	}
	return func(e health.Event) {
		f(e)
		et.TraceEvent(e)
	}
}
