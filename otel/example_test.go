package otel_test

import (
	"context"
	"log"
	"net/http"
	"os"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/sqlreplica/sqlreplica/otel"
	"github.com/sqlreplica/sqlreplica/replica"
)

// Example_prometheus exports the DB's metrics to Prometheus through
// OpenTelemetry's Prometheus exporter: a scrape of /metrics shows, among
// others,
//
//	sqlreplica_statements_total{node="replica1",reason="read",…} 1042
//	sqlreplica_primary_fallbacks_total{cause="not_replicated",…} 3
//	sqlreplica_token_wait_duration_seconds_bucket{node="replica1",outcome="reached",le="0.005",…} 17
//	sqlreplica_stale_reads_avoided_total{node="replica1",…} 20
//	sqlreplica_node_healthy{node="replica1",role="replica",…} 1
//	sqlreplica_node_lag_seconds{node="replica1",…} 0.012
//
// Spans go to the global tracer provider unless [otel.WithTracerProvider]
// says otherwise.
func Example_prometheus() {
	reg := prometheus.NewRegistry()
	exporter, err := otelprom.New(otelprom.WithRegisterer(reg))
	if err != nil {
		log.Fatal(err)
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exporter))
	defer mp.Shutdown(context.Background())

	tr, err := otel.New(otel.WithMeterProvider(mp))
	if err != nil {
		log.Fatal(err)
	}
	db, err := replica.Open("pgx", os.Getenv("PRIMARY_DSN"), []string{os.Getenv("REPLICA_DSN")}, replica.WithTracer(tr))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	gauges, err := tr.Observe(db) // node health and lag
	if err != nil {
		log.Fatal(err)
	}
	defer gauges.Unregister()

	http.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	log.Fatal(http.ListenAndServe("localhost:9464", nil))
}
