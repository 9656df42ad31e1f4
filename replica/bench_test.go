package replica_test

import (
	"context"
	"database/sql"
	"fmt"
	"testing"
	"time"

	"github.com/sqlreplica/sqlreplica/internal/fakedb"
	"github.com/sqlreplica/sqlreplica/replica"
)

// BenchmarkQuery compares a query through a raw *sql.DB with the same query
// routed by replica.DB (Pool=replica) and by its routing *sql.DB
// (Pool=sqldb), on the fake driver, so that only the library's overhead
// differs. Compare the lines with benchstat.
func BenchmarkQuery(b *testing.B) {
	const read = "SELECT u.id, u.name, u.email FROM users AS u WHERE u.id = $1 AND u.deleted_at IS NULL"
	const write = "UPDATE users SET name = $1 WHERE id = $2"
	for _, q := range []struct{ name, sql string }{{"Read", read}, {"Write", write}} {
		for _, pool := range []string{"raw", "replica", "sqldb"} {
			b.Run(fmt.Sprintf("Stmt=%s/Pool=%s", q.name, pool), func(b *testing.B) {
				servers := []*fakedb.Server{fakedb.NewServer("primary"), fakedb.NewServer("replica0"), fakedb.NewServer("replica1")}
				pools := make([]*sql.DB, len(servers))
				for i, s := range servers {
					pools[i] = s.DB()
					defer pools[i].Close()
				}
				var run func(ctx context.Context, q string, args ...any) (*sql.Rows, error)
				if pool == "raw" {
					run = pools[1].QueryContext
				} else {
					// With no known dialect the fake's health checks are pings,
					// which it answers: the replicas stay in rotation.
					db, err := replica.New(pools[0], pools[1:], replica.CheckInterval(time.Hour))
					if err != nil {
						b.Fatal(err)
					}
					defer db.Close()
					run = db.QueryContext
					if pool == "sqldb" {
						run = db.SQLDB().QueryContext
					}
				}
				ctx := context.Background()
				b.ReportAllocs()
				for b.Loop() {
					rows, err := run(ctx, q.sql, 1)
					if err != nil {
						b.Fatal(err)
					}
					rows.Close()
				}
			})
		}
	}
}
