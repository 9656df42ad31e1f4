package replica_test

import (
	"context"
	"log"
	"log/slog"

	"github.com/sqlreplica/sqlreplica/replica"
)

// logTracer logs where each statement went and why, and each fallback.
type logTracer struct{ log *slog.Logger }

func (t logTracer) TraceRouteStart(ctx context.Context, d replica.TraceRouteStartData) context.Context {
	t.log.DebugContext(ctx, "routed", "query", d.Query, "target", d.Target, "reason", d.Reason, "session", d.Session)
	return ctx
}

func (t logTracer) TraceRouteEnd(ctx context.Context, d replica.TraceRouteEndData) {
	t.log.DebugContext(ctx, "ran", "node", d.Node, "err", d.Err, "fallbacks", d.Fallbacks, "waited", d.Waited)
}

func (t logTracer) TraceTry(context.Context, replica.TraceTryData) {}

func (t logTracer) TraceWait(ctx context.Context, d replica.TraceWaitData) {
	t.log.DebugContext(ctx, "waited for a token", "node", d.Node, "took", d.Duration, "outcome", d.Outcome)
}

func (t logTracer) TraceFallback(ctx context.Context, d replica.TraceFallbackData) {
	t.log.DebugContext(ctx, "fallback", "cause", d.Cause, "from", d.Node, "err", d.Err)
}

// A tracer sees every routing decision, wait and fallback; the module
// github.com/sqlreplica/sqlreplica/otel has one that makes OpenTelemetry
// spans and metrics.
func ExampleWithTracer() {
	db, err := replica.Open("pgx", "postgres://app@primary.internal:5432/app",
		[]string{"postgres://app@replica1.internal:5432/app"},
		replica.WithTracer(logTracer{slog.Default()}))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	// ... every statement through db is traced.
}

var _ replica.StepTracer = logTracer{}
