package replica

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/sqlreplica/sqlreplica/consistency"
	"github.com/sqlreplica/sqlreplica/health"
	"github.com/sqlreplica/sqlreplica/internal/fakedb"
	"github.com/sqlreplica/sqlreplica/router"
)

// BenchmarkRoutingOnly measures what the DB adds to a statement, without
// the driver: classifying it (a cache hit) and routing it by the one
// decision to a node, where a no-op stands for the statement. Compare it
// with BenchmarkQuery's Pool=raw figure, the cost of the statement itself
// through database/sql: their ratio is the routing overhead, free of the
// noise of two full round trips.
func BenchmarkRoutingOnly(b *testing.B) {
	servers := []*fakedb.Server{fakedb.NewServer("primary"), fakedb.NewServer("replica1"), fakedb.NewServer("replica2")}
	pools := make([]*sql.DB, len(servers))
	for i, s := range servers {
		pools[i] = s.DB()
		defer pools[i].Close()
	}
	db, err := New(pools[0], pools[1:], CheckInterval(time.Hour))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	db.CheckNow(context.Background())
	ctx := context.Background()
	noop := func(context.Context, *node, querier) error { return nil }
	for _, q := range []struct{ name, sql string }{
		{"Read", "SELECT u.id, u.name, u.email FROM users AS u WHERE u.id = $1 AND u.deleted_at IS NULL"},
		{"Write", "UPDATE users SET name = $1 WHERE id = $2"},
	} {
		b.Run("Stmt="+q.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := db.route(ctx, q.sql, db.classOf(callStatement, q.sql), captureLater, noop); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRoutingOnlyCausalReads is BenchmarkRoutingOnly's read on a DB
// with CausalReads whose replicas are known to have its writes: compare the
// two Stmt=Read lines with benchstat; a causal read costs no more.
func BenchmarkRoutingOnlyCausalReads(b *testing.B) {
	servers := []*fakedb.Server{fakedb.NewServer("primary"), fakedb.NewServer("replica1"), fakedb.NewServer("replica2")}
	pools := make([]*sql.DB, len(servers))
	for i, s := range servers {
		pools[i] = s.DB()
		defer pools[i].Close()
	}
	db, err := New(pools[0], pools[1:], CheckInterval(time.Hour), Dialect(router.PostgreSQL), CausalReads())
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	db.CheckNow(context.Background())
	// The fake cannot report positions: publish a view whose replicas have
	// the DB's writes.
	tok := consistency.PostgresToken(7, 1, 100)
	st := func(name string, role health.Role) health.Status {
		return health.Status{Name: name, Role: role, Healthy: true, Reachable: true, Writable: role == health.Primary, Position: tok}
	}
	db.buildView(&health.Snapshot{Writer: 0, WriterKnown: true, Nodes: []health.Status{
		st("primary", health.Primary), st("replica1", health.Replica), st("replica2", health.Replica)}})
	db.causal.merge(consistency.PostgresToken(7, 1, 80))
	ctx := context.Background()
	noop := func(context.Context, *node, querier) error { return nil }
	const read = "SELECT u.id, u.name, u.email FROM users AS u WHERE u.id = $1 AND u.deleted_at IS NULL"
	b.Run("Stmt=Read", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := db.route(ctx, read, db.classOf(callStatement, read), captureLater, noop); err != nil {
				b.Fatal(err)
			}
		}
	})
}
