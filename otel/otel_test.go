package otel_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/sqlreplica/sqlreplica/consistency"
	"github.com/sqlreplica/sqlreplica/internal/testcluster"
	"github.com/sqlreplica/sqlreplica/otel"
	"github.com/sqlreplica/sqlreplica/replica"
)

// clusters holds the one PostgreSQL cluster the module's test uses: a
// primary and a replica that applies its changes a second late.
var clusters = testcluster.Set{Options: func(testcluster.Kind) testcluster.Options {
	return testcluster.Options{Replicas: 1, Delay: time.Second}
}}

func TestMain(m *testing.M) { os.Exit(clusters.Run(m)) }

// TestSpansAndMetricsOnPostgreSQL routes statements through a DB traced by
// the OpenTelemetry Tracer on a real PostgreSQL cluster whose replica is a
// second late, and checks what the SDK's in-memory exporters got: a write
// on the primary; a plain read on the replica; a session's read right
// after its write, which the late replica lacks (a stale read avoided),
// waits 100 ms for it (timed out) and falls back to the primary; and the
// gauges of the nodes' health and lag.
func TestSpansAndMetricsOnPostgreSQL(t *testing.T) {
	c := clusters.Get(t, testcluster.Postgres)
	ctx := context.Background()

	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	reader := sdkmetric.NewManualReader()
	// And the Prometheus exporter, as Example_prometheus sets it up.
	promReg := prometheus.NewRegistry()
	exporter, err := otelprom.New(otelprom.WithRegisterer(promReg))
	require.NoError(t, err)
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader), sdkmetric.WithReader(exporter))
	t.Cleanup(func() { tp.Shutdown(ctx); mp.Shutdown(ctx) })
	tr, err := otel.New(otel.WithTracerProvider(tp), otel.WithMeterProvider(mp))
	require.NoError(t, err)

	db, err := replica.Open(c.DriverName(), c.DSN(c.Primary), []string{c.DSN(c.Replicas[0])},
		replica.WithTracer(tr), replica.CheckInterval(100*time.Millisecond),
		replica.ReadYourWrites(consistency.Policy{Wait: 100 * time.Millisecond}))
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	reg, err := tr.Observe(db)
	require.NoError(t, err)
	t.Cleanup(func() { reg.Unregister() })
	require.Eventually(t, func() bool {
		s := db.CheckNow(ctx)
		return s.Nodes[0].Healthy && s.Nodes[1].Healthy && s.Nodes[1].Lag.Known
	}, 20*time.Second, 50*time.Millisecond)

	table := fmt.Sprintf("otel_%d", time.Now().UnixNano())
	_, err = db.ExecContext(ctx, "CREATE TABLE "+table+" (id int PRIMARY KEY)")
	require.NoError(t, err)
	t.Cleanup(func() { db.ExecContext(context.Background(), "DROP TABLE "+table) })

	// A plain read: the replica (it may not see the table yet: the query
	// is one any server answers).
	var one int
	require.NoError(t, db.QueryRowContext(ctx, "SELECT 1").Scan(&one))
	// A session's write, and its read at once: the replica lacks it.
	sctx := consistency.WithSession(ctx)
	_, err = db.ExecContext(sctx, "INSERT INTO "+table+" VALUES (1)")
	require.NoError(t, err)
	var n int
	require.NoError(t, db.QueryRowContext(sctx, "SELECT count(*) FROM "+table).Scan(&n))
	require.Equal(t, 1, n)

	// Spans.
	ended := spans.Ended()
	require.Len(t, ended, 4)
	attrs := func(s sdktrace.ReadOnlySpan) map[attribute.Key]attribute.Value {
		m := map[attribute.Key]attribute.Value{}
		for _, kv := range s.Attributes() {
			m[kv.Key] = kv.Value
		}
		return m
	}
	for i, want := range []struct {
		query, target, reason, node string
		session                     bool
		fallbacks                   int64
	}{
		{"CREATE TABLE " + table + " (id int PRIMARY KEY)", "primary", "write", "primary", false, 0},
		{"SELECT 1", "replica", "read", "replica1", false, 0},
		{"INSERT INTO " + table + " VALUES (1)", "primary", "write", "primary", true, 0},
		{"SELECT count(*) FROM " + table, "replica", "read", "primary", true, 2},
	} {
		s := ended[i]
		a := attrs(s)
		require.Equal(t, "sqlreplica statement", s.Name(), i)
		require.Equal(t, "postgresql", a["db.system"].AsString(), i)
		require.Equal(t, want.query, a["db.query.text"].AsString(), i)
		require.Equal(t, want.target, a["sqlreplica.target"].AsString(), i)
		require.Equal(t, want.reason, a["sqlreplica.reason"].AsString(), i)
		require.Equal(t, want.node, a["sqlreplica.node"].AsString(), i)
		require.Equal(t, want.session, a["sqlreplica.session"].AsBool(), i)
		require.Equal(t, want.fallbacks, a["sqlreplica.fallbacks"].AsInt64(), i)
	}
	// The session's read: moved off the replica, waited, fell back.
	var events []string
	for _, e := range ended[3].Events() {
		s := e.Name
		for _, kv := range e.Attributes {
			if kv.Key == "sqlreplica.cause" || kv.Key == "sqlreplica.outcome" || kv.Key == "sqlreplica.node" {
				s += " " + kv.Value.AsString()
			}
		}
		events = append(events, s)
	}
	require.Equal(t, []string{"fallback lacks_token replica1", "token wait replica1 timed_out",
		"fallback not_replicated", "try primary"}, events)
	require.GreaterOrEqual(t, attrs(ended[3])["sqlreplica.wait"].AsFloat64(), 0.1)

	// Metrics.
	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(ctx, &rm))
	got := map[string]metricdata.Aggregation{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			got[m.Name] = m.Data
		}
	}
	sum := func(name string, kv ...attribute.KeyValue) int64 {
		t.Helper()
		s, ok := got[name].(metricdata.Sum[int64])
		require.True(t, ok, name)
		var total int64
		want := attribute.NewSet(kv...)
		for _, dp := range s.DataPoints {
			if dp.Attributes.Equals(&want) {
				total += dp.Value
			}
		}
		return total
	}
	node, reason := attribute.Key("node"), attribute.Key("reason")
	require.EqualValues(t, 2, sum("sqlreplica.statements", node.String("primary"), reason.String("write")))
	require.EqualValues(t, 1, sum("sqlreplica.statements", node.String("replica1"), reason.String("read")))
	require.EqualValues(t, 1, sum("sqlreplica.statements", node.String("primary"), reason.String("read")))
	require.EqualValues(t, 1, sum("sqlreplica.primary_fallbacks", attribute.String("cause", "not_replicated")))
	require.EqualValues(t, 1, sum("sqlreplica.stale_reads_avoided", node.String("replica1")))
	require.EqualValues(t, 1, sum("sqlreplica.token_waits", node.String("replica1"), attribute.String("outcome", "timed_out")))
	h, ok := got["sqlreplica.token_wait.duration"].(metricdata.Histogram[float64])
	require.True(t, ok)
	require.Len(t, h.DataPoints, 1)
	require.EqualValues(t, 1, h.DataPoints[0].Count)
	require.GreaterOrEqual(t, h.DataPoints[0].Sum, 0.1)

	gauge := func(name string) map[string]float64 {
		out := map[string]float64{}
		switch g := got[name].(type) {
		case metricdata.Gauge[int64]:
			for _, dp := range g.DataPoints {
				v, _ := dp.Attributes.Value("node")
				out[v.AsString()] = float64(dp.Value)
			}
		case metricdata.Gauge[float64]:
			for _, dp := range g.DataPoints {
				v, _ := dp.Attributes.Value("node")
				out[v.AsString()] = dp.Value
			}
		default:
			t.Fatalf("%s: %T", name, got[name])
		}
		return out
	}
	require.Equal(t, map[string]float64{"primary": 1, "replica1": 1}, gauge("sqlreplica.node.healthy"))
	lag := gauge("sqlreplica.node.lag")
	require.Contains(t, lag, "replica1")
	require.NotContains(t, lag, "primary")

	// What Prometheus scrapes.
	srv := httptest.NewServer(promhttp.HandlerFor(promReg, promhttp.HandlerOpts{}))
	t.Cleanup(srv.Close)
	resp, err := http.Get(srv.URL)
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	for _, line := range []string{
		`sqlreplica_statements_total{node="replica1",otel_scope_name="github.com/sqlreplica/sqlreplica/otel",otel_scope_schema_url="",otel_scope_version="",reason="read"} 1`,
		`sqlreplica_primary_fallbacks_total{cause="not_replicated",`,
		`sqlreplica_token_wait_duration_seconds_count{node="replica1",`,
		`sqlreplica_node_healthy{node="primary",`,
		`sqlreplica_node_lag_seconds{node="replica1",`,
	} {
		require.Contains(t, string(body), line)
	}
}
