// Package otel traces and measures a [replica.DB] with OpenTelemetry: a
// [Tracer] to give to [replica.WithTracer] makes a span for every
// statement the DB routes, with the routing decision in its attributes and
// each node tried, token wait and fallback as span events, and keeps
// metrics of the routing (statements by node and reason, fallbacks to the
// primary, token waits, stale reads avoided, health events) and, once
// [Tracer.Observe] is called, of the nodes' health and lag.
//
// It is a module of its own (github.com/sqlreplica/sqlreplica/otel), so
// that the library does not depend on OpenTelemetry.
//
// # Spans
//
// One span per routed statement, named "sqlreplica <caller>" (for example
// "sqlreplica statement", "sqlreplica begin"), of kind internal: a driver
// instrumented with OpenTelemetry (github.com/XSAM/otelsql) makes its own
// spans its children, since the statement runs with the span's context.
// Attributes: db.system ("postgresql", "mysql", "mariadb", once known and
// [Tracer.Observe] is called), db.query.text (unless [WithoutQueryText]),
// sqlreplica.caller, .class, .hint, .session, .token, .causal, .target,
// .reason; at the end sqlreplica.node (the node that ran it), .tries,
// .fallbacks, .wait (seconds spent waiting for tokens). Events: "try"
// (sqlreplica.node, .lag, .fault, exception.message), "token wait"
// (sqlreplica.node, .wait, .outcome), "fallback" (sqlreplica.cause,
// sqlreplica.node, exception.message). A statement that fails has the
// error status.
//
// # Metrics
//
//	sqlreplica.statements           counter    node, reason: statements routed, by the node that ran them ("none": none did)
//	sqlreplica.primary_fallbacks    counter    cause: reads that ended up on the primary though the decision sent them to a replica
//	sqlreplica.token_waits          counter    node, outcome: waits for a replica to apply a session's or token's writes
//	sqlreplica.token_wait.duration  histogram  node, outcome (s): how long they took
//	sqlreplica.stale_reads_avoided  counter    node: reads kept off a replica that lacked what the read needed
//	sqlreplica.events               counter    kind, node: health events (node down, role change, lag high, …)
//	sqlreplica.node.healthy         gauge      node, role: 1 when the node is in rotation (Observe)
//	sqlreplica.node.lag             gauge      node (s): a replica's lag, when known (Observe)
package otel

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	otelapi "go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/sqlreplica/sqlreplica/health"
	"github.com/sqlreplica/sqlreplica/replica"
	"github.com/sqlreplica/sqlreplica/router"
)

// ScopeName is the instrumentation scope of the spans and metrics.
const ScopeName = "github.com/sqlreplica/sqlreplica/otel"

// Compile-time checks: a Tracer is every kind of replica tracer.
var (
	_ replica.StepTracer  = (*Tracer)(nil)
	_ replica.EventTracer = (*Tracer)(nil)
)

// Tracer is a [replica.Tracer] (and [replica.StepTracer] and
// [replica.EventTracer]) that makes OpenTelemetry spans and metrics. Make
// one with [New]. It is safe for concurrent use.
type Tracer struct {
	tracer    trace.Tracer
	meter     metric.Meter
	queryText bool
	db        atomic.Pointer[replica.DB] // Observe's: its dialect names db.system

	statements   metric.Int64Counter
	fallbacks    metric.Int64Counter
	waits        metric.Int64Counter
	waitDuration metric.Float64Histogram
	staleAvoided metric.Int64Counter
	events       metric.Int64Counter
}

// Option configures a [Tracer].
type Option func(*config) error

type config struct {
	tp        trace.TracerProvider
	mp        metric.MeterProvider
	queryText bool
}

// ErrBadOption is wrapped by the error [New] returns for an option it
// cannot use (a nil provider).
var ErrBadOption = errors.New("sqlreplica/otel: bad option")

// WithTracerProvider sets where spans go (default: OpenTelemetry's global
// provider, otel.GetTracerProvider). A nil tp is an error.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(c *config) error {
		if tp == nil {
			return fmt.Errorf("%w: WithTracerProvider(nil)", ErrBadOption)
		}
		c.tp = tp
		return nil
	}
}

// WithMeterProvider sets where metrics go (default: OpenTelemetry's global
// provider, otel.GetMeterProvider). A nil mp is an error.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(c *config) error {
		if mp == nil {
			return fmt.Errorf("%w: WithMeterProvider(nil)", ErrBadOption)
		}
		c.mp = mp
		return nil
	}
}

// WithoutQueryText leaves the statement's text (which may hold literal
// values) out of the spans.
func WithoutQueryText() Option {
	return func(c *config) error { c.queryText = false; return nil }
}

// New returns a Tracer; give it to [replica.WithTracer].
func New(opts ...Option) (*Tracer, error) {
	c := config{queryText: true}
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(&c); err != nil {
			return nil, err
		}
	}
	if c.tp == nil {
		c.tp = otelapi.GetTracerProvider()
	}
	if c.mp == nil {
		c.mp = otelapi.GetMeterProvider()
	}
	t := &Tracer{tracer: c.tp.Tracer(ScopeName), meter: c.mp.Meter(ScopeName), queryText: c.queryText}
	m := t.meter
	var err error
	counter := func(name, desc string) metric.Int64Counter {
		ctr, e := m.Int64Counter(name, metric.WithDescription(desc))
		err = errors.Join(err, e)
		return ctr
	}
	t.statements = counter("sqlreplica.statements", "Statements routed, by the node that ran them and the decision's reason.")
	t.fallbacks = counter("sqlreplica.primary_fallbacks", "Reads that ended up on the primary though the decision sent them to a replica, by cause.")
	t.waits = counter("sqlreplica.token_waits", "Waits for a replica to apply what a read's session or token needs, by node and outcome.")
	t.staleAvoided = counter("sqlreplica.stale_reads_avoided", "Reads kept off a replica that lacked what the read's session, token or causal reads needed.")
	t.events = counter("sqlreplica.events", "Health events, by kind and node.")
	h, e := m.Float64Histogram("sqlreplica.token_wait.duration", metric.WithUnit("s"),
		metric.WithDescription("How long waits for a replica to apply a token took."),
		metric.WithExplicitBucketBoundaries(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5))
	t.waitDuration, err = h, errors.Join(err, e)
	if err != nil {
		return nil, fmt.Errorf("sqlreplica/otel: %w", err)
	}
	return t, nil
}

// Observe reports db's nodes' health and lag as the gauges
// sqlreplica.node.healthy and sqlreplica.node.lag, read from [replica.DB.Status]
// at each collection, and names db.system in spans by db's dialect. Call
// it once the DB is open, with the DB the Tracer was given to; unregister
// with the returned registration's Unregister before closing the DB.
func (t *Tracer) Observe(db *replica.DB) (metric.Registration, error) {
	if db == nil {
		return nil, fmt.Errorf("%w: Observe(nil)", ErrBadOption)
	}
	t.db.Store(db)
	healthy, err := t.meter.Int64ObservableGauge("sqlreplica.node.healthy",
		metric.WithDescription("1 when the node is in rotation, 0 when it is not."))
	if err != nil {
		return nil, fmt.Errorf("sqlreplica/otel: %w", err)
	}
	lag, err := t.meter.Float64ObservableGauge("sqlreplica.node.lag", metric.WithUnit("s"),
		metric.WithDescription("A replica's lag behind the primary, as the last health check measured it (absent when unknown)."))
	if err != nil {
		return nil, fmt.Errorf("sqlreplica/otel: %w", err)
	}
	return t.meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		for _, st := range db.Status().Nodes {
			up := int64(0)
			if st.Healthy {
				up = 1
			}
			o.ObserveInt64(healthy, up, metric.WithAttributes(labelNode.String(st.Name), labelRole.String(roleName(st.Role))))
			if st.Lag.Known && st.Role == health.Replica {
				o.ObserveFloat64(lag, st.Lag.Time.Seconds(), metric.WithAttributes(labelNode.String(st.Name)))
			}
		}
		return nil
	}, healthy, lag)
}

func roleName(r health.Role) string {
	switch r {
	case health.Primary:
		return "primary"
	case health.Replica:
		return "replica"
	}
	return "unknown"
}

// Attribute keys.
const (
	attrSystem    = attribute.Key("db.system")
	attrQuery     = attribute.Key("db.query.text")
	attrCaller    = attribute.Key("sqlreplica.caller")
	attrClass     = attribute.Key("sqlreplica.class")
	attrHint      = attribute.Key("sqlreplica.hint")
	attrSession   = attribute.Key("sqlreplica.session")
	attrToken     = attribute.Key("sqlreplica.token")
	attrCausal    = attribute.Key("sqlreplica.causal")
	attrTarget    = attribute.Key("sqlreplica.target")
	attrReason    = attribute.Key("sqlreplica.reason")
	attrNode      = attribute.Key("sqlreplica.node")
	attrTries     = attribute.Key("sqlreplica.tries")
	attrFallbacks = attribute.Key("sqlreplica.fallbacks")
	attrWait      = attribute.Key("sqlreplica.wait")
	attrLag       = attribute.Key("sqlreplica.lag")
	attrFault     = attribute.Key("sqlreplica.fault")
	attrOutcome   = attribute.Key("sqlreplica.outcome")
	attrCause     = attribute.Key("sqlreplica.cause")
	attrError     = attribute.Key("exception.message")
)

// Metric attribute keys: short, for labels.
const (
	labelNode    = attribute.Key("node")
	labelReason  = attribute.Key("reason")
	labelCause   = attribute.Key("cause")
	labelOutcome = attribute.Key("outcome")
	labelKind    = attribute.Key("kind")
	labelRole    = attribute.Key("role")
)

// spanState is what the Tracer keeps per statement, in its context.
type spanState struct {
	reason replica.Reason
	target replica.Target
}

type stateKey struct{}

// TraceRouteStart starts the statement's span.
func (t *Tracer) TraceRouteStart(ctx context.Context, d replica.TraceRouteStartData) context.Context {
	attrs := make([]attribute.KeyValue, 0, 11)
	if db := t.db.Load(); db != nil {
		if sys := system(db.Dialect()); sys != "" {
			attrs = append(attrs, attrSystem.String(sys))
		}
	}
	if t.queryText && d.Query != "" {
		attrs = append(attrs, attrQuery.String(d.Query))
	}
	attrs = append(attrs, attrCaller.String(string(d.Caller)), attrClass.String(d.Class.String()),
		attrHint.String(string(d.Hint)), attrSession.Bool(d.Session), attrToken.Bool(d.Token),
		attrCausal.Bool(d.Causal), attrTarget.String(string(d.Target)), attrReason.String(string(d.Reason)))
	ctx, _ = t.tracer.Start(ctx, "sqlreplica "+string(d.Caller), trace.WithSpanKind(trace.SpanKindInternal),
		trace.WithAttributes(attrs...))
	return context.WithValue(ctx, stateKey{}, &spanState{reason: d.Reason, target: d.Target})
}

func system(d router.Dialect) string {
	switch d {
	case router.PostgreSQL:
		return "postgresql"
	case router.MySQL:
		return "mysql"
	case router.MariaDB:
		return "mariadb"
	}
	return ""
}

// TraceTry adds a "try" event to the span.
func (t *Tracer) TraceTry(ctx context.Context, d replica.TraceTryData) {
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return
	}
	attrs := []attribute.KeyValue{attrNode.String(d.Node), attrFault.Bool(d.Fault)}
	if d.LagKnown {
		attrs = append(attrs, attrLag.Float64(d.Lag.Seconds()))
	}
	if d.Err != nil {
		attrs = append(attrs, attrError.String(d.Err.Error()))
	}
	span.AddEvent("try", trace.WithAttributes(attrs...))
}

// TraceWait adds a "token wait" event to the span, and counts the wait.
func (t *Tracer) TraceWait(ctx context.Context, d replica.TraceWaitData) {
	set := metric.WithAttributeSet(attribute.NewSet(labelNode.String(d.Node), labelOutcome.String(string(d.Outcome))))
	t.waits.Add(ctx, 1, set)
	t.waitDuration.Record(ctx, d.Duration.Seconds(), set)
	trace.SpanFromContext(ctx).AddEvent("token wait", trace.WithAttributes(attrNode.String(d.Node),
		attrWait.Float64(d.Duration.Seconds()), attrOutcome.String(string(d.Outcome))))
}

// TraceFallback adds a "fallback" event to the span, and counts fallbacks
// to the primary and stale reads avoided.
func (t *Tracer) TraceFallback(ctx context.Context, d replica.TraceFallbackData) {
	switch {
	case d.Cause == replica.CauseLacksToken:
		t.staleAvoided.Add(ctx, 1, metric.WithAttributes(labelNode.String(d.Node)))
	case d.Cause.ToPrimary():
		t.fallbacks.Add(ctx, 1, metric.WithAttributes(labelCause.String(string(d.Cause))))
	}
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return
	}
	attrs := []attribute.KeyValue{attrCause.String(string(d.Cause))}
	if d.Node != "" {
		attrs = append(attrs, attrNode.String(d.Node))
	}
	if d.Err != nil {
		attrs = append(attrs, attrError.String(d.Err.Error()))
	}
	span.AddEvent("fallback", trace.WithAttributes(attrs...))
}

// TraceRouteEnd ends the span and counts the statement.
func (t *Tracer) TraceRouteEnd(ctx context.Context, d replica.TraceRouteEndData) {
	node := d.Node
	if node == "" {
		node = "none"
	}
	reason := replica.Reason("")
	if st, ok := ctx.Value(stateKey{}).(*spanState); ok {
		reason = st.reason
	}
	t.statements.Add(ctx, 1, metric.WithAttributes(labelNode.String(node), labelReason.String(string(reason))))
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		span.End()
		return
	}
	attrs := []attribute.KeyValue{attrTries.Int(d.Tries), attrFallbacks.Int(d.Fallbacks), attrWait.Float64(d.Waited.Seconds())}
	if d.Node != "" {
		attrs = append(attrs, attrNode.String(d.Node))
	}
	span.SetAttributes(attrs...)
	if d.Err != nil {
		span.RecordError(d.Err)
		span.SetStatus(codes.Error, d.Err.Error())
	}
	span.End()
}

// TraceEvent counts a health event in sqlreplica.events.
func (t *Tracer) TraceEvent(e health.Event) {
	node := e.Node
	if node == "" {
		node = "none"
	}
	t.events.Add(context.Background(), 1, metric.WithAttributes(labelKind.String(e.Kind.String()), labelNode.String(node)))
}
