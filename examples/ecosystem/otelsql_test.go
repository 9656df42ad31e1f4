package ecosystem_test

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/XSAM/otelsql"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/sqlreplica/sqlreplica/consistency"
	"github.com/sqlreplica/sqlreplica/internal/testcluster"
	"github.com/sqlreplica/sqlreplica/replica"
	"github.com/sqlreplica/sqlreplica/router"
)

// nodeKey is the span attribute naming the pool a span came from.
const nodeKey = attribute.Key("sqlreplica.node")

// traced is a cluster's pools opened through otelsql, every span recorded
// in memory with the name of the pool's node.
type traced struct {
	spans    *tracetest.SpanRecorder
	tp       *sdktrace.TracerProvider
	primary  *sql.DB
	replicas []*sql.DB
}

func openTraced(t *testing.T, e *env) *traced {
	t.Helper()
	tr := &traced{spans: tracetest.NewSpanRecorder()}
	tr.tp = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(tr.spans))
	t.Cleanup(func() { _ = tr.tp.Shutdown(context.Background()) })
	open := func(s *testcluster.Server) *sql.DB {
		db, err := otelsql.Open(e.driverName(), e.c.DSN(s),
			otelsql.WithTracerProvider(tr.tp),
			otelsql.WithAttributes(nodeKey.String(s.Name)),
			otelsql.WithSpanOptions(otelsql.SpanOptions{OmitConnResetSession: true, OmitRows: true}))
		require.NoError(t, err)
		t.Cleanup(func() { db.Close() })
		return db
	}
	tr.primary = open(e.c.Primary)
	for _, r := range e.c.Replicas {
		tr.replicas = append(tr.replicas, open(r))
	}
	return tr
}

// nodesFor returns the node of every ended span whose attributes hold
// query, one entry per span.
func (tr *traced) nodesFor(query string) []string {
	var nodes []string
	for _, s := range tr.spans.Ended() {
		var node string
		has := false
		for _, a := range s.Attributes() {
			if a.Key == nodeKey {
				node = a.Value.AsString()
			} else if a.Value.Type() == attribute.STRING && strings.Contains(a.Value.AsString(), query) {
				has = true
			}
		}
		if has {
			nodes = append(nodes, node)
		}
	}
	return nodes
}

// wantDialect is the dialect a replica.DB should settle on for e.
func (e *env) wantDialect() router.Dialect {
	switch e.kind {
	case testcluster.Postgres:
		return router.PostgreSQL
	case testcluster.MariaDB:
		return router.MariaDB
	}
	return router.MySQL
}

// TestOtelSQL opens every node's pool through otelsql and a replica.DB over
// them: each statement sent through SQLDB leaves spans on exactly the node
// it was routed to (reads on the replica, writes on the primary). Wrapping
// SQLDB's connector with otelsql as well traces the application's view
// without changing where statements run.
func TestOtelSQL(t *testing.T) {
	forEachKind(t, func(t *testing.T, e *env) {
		tr := openTraced(t, e)
		// The dialect is given: detecting it through otelsql's wrapped
		// driver is TestOtelSQLDialectDetected's subject.
		rdb, err := replica.New(tr.primary, tr.replicas, fastPrimary, replica.Dialect(e.wantDialect()))
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, rdb.Close()) })
		db := rdb.SQLDB()
		ctx := context.Background()
		table := e.table("otel")

		create := "CREATE TABLE " + table + " (id int PRIMARY KEY, v int)"
		_, err = db.ExecContext(ctx, create)
		require.NoError(t, err)
		assert.Equal(t, []string{"primary"}, tr.nodesFor(create), "spans of %s", create)
		e.waitReplicated("SELECT count(*) FROM "+table, 0)

		// Reads: spans on the replica only, one execution each.
		for i := range 3 {
			read := fmt.Sprintf("SELECT count(*) + %d FROM %s", i, table)
			var n int
			require.NoError(t, db.QueryRowContext(ctx, read).Scan(&n))
			require.Equal(t, i, n)
			assert.Equal(t, []string{"replica1"}, tr.nodesFor(read), "spans of %s", read)
		}

		// Writes: spans on the primary only.
		sctx := consistency.WithSession(ctx)
		for i := 1; i <= 2; i++ {
			insert := fmt.Sprintf("INSERT INTO %s (id, v) VALUES (%d, %d)", table, i, i*10)
			res, err := db.ExecContext(sctx, insert)
			require.NoError(t, err)
			n, err := res.RowsAffected()
			require.NoError(t, err)
			require.EqualValues(t, 1, n)
			assert.Equal(t, []string{"primary"}, tr.nodesFor(insert), "spans of %s", insert)
		}

		// The session's read sees its writes; wherever it ran, it left a
		// span there, and none on a replica that could not have them.
		sum := "SELECT sum(v) FROM " + table
		var total int
		require.NoError(t, db.QueryRowContext(sctx, sum).Scan(&total))
		require.Equal(t, 30, total)
		require.NotEmpty(t, tr.nodesFor(sum))

		// A read-only transaction: every statement of it on the replica.
		tx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
		require.NoError(t, err)
		inTx := "SELECT count(*) FROM " + table + " WHERE v > 0"
		var n int
		require.NoError(t, tx.QueryRowContext(ctx, inTx).Scan(&n))
		require.NoError(t, tx.Rollback())
		assert.Equal(t, []string{"replica1"}, tr.nodesFor(inTx), "spans of %s", inTx)

		// otelsql around SQLDB's connector: the application's spans, and
		// the routing unchanged underneath.
		app := otelsql.OpenDB(rdb.Connector(), otelsql.WithTracerProvider(tr.tp), otelsql.WithAttributes(nodeKey.String("app")),
			otelsql.WithSpanOptions(otelsql.SpanOptions{OmitConnResetSession: true, OmitRows: true}))
		t.Cleanup(func() { app.Close() })
		who := e.whoQuery() + " AS app_who"
		var port int
		require.NoError(t, app.QueryRowContext(ctx, who).Scan(&port))
		assert.Equal(t, "replica1", e.name(port), "served by")
		nodes := tr.nodesFor(who)
		assert.Contains(t, nodes, "app")
		assert.Contains(t, nodes, "replica1")
		assert.NotContains(t, nodes, "primary")
		upd := "UPDATE " + table + " SET v = v + 1 WHERE id = 1"
		_, err = app.ExecContext(ctx, upd)
		require.NoError(t, err)
		nodes = tr.nodesFor(upd)
		assert.Contains(t, nodes, "app")
		assert.Contains(t, nodes, "primary")
		assert.NotContains(t, nodes, "replica1")
	})
}

// TestOtelSQLDialectDetected opens a replica.DB over otelsql-wrapped pools
// without replica.Dialect: it must still tell the dialect from the server.
func TestOtelSQLDialectDetected(t *testing.T) {
	forEachKind(t, func(t *testing.T, e *env) {
		tr := openTraced(t, e)
		rdb, err := replica.New(tr.primary, tr.replicas, fastPrimary)
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, rdb.Close()) })
		require.Eventually(t, func() bool { return rdb.Dialect() == e.wantDialect() }, 5*time.Second, 20*time.Millisecond,
			"dialect through otelsql: got %v, want %v", rdb.Dialect(), e.wantDialect())
	})
}
