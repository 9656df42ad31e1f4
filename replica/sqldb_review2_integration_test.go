package replica_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sqlreplica/sqlreplica/internal/testcluster"
	"github.com/sqlreplica/sqlreplica/replica"
)

// killer returns a function that ends the server connection whose id it is
// given on server s of c, and the query for this connection's id.
func killer(t *testing.T, c *testcluster.Cluster, s *testcluster.Server) (kill func(id int64), idQuery string) {
	t.Helper()
	admin, err := c.OpenAdmin(s)
	require.NoError(t, err)
	t.Cleanup(func() { admin.Close() })
	if c.Kind == testcluster.Postgres {
		return func(id int64) {
			t.Helper()
			_, err := admin.Exec("SELECT pg_terminate_backend($1)", id)
			require.NoError(t, err)
		}, "SELECT pg_backend_pid()"
	}
	return func(id int64) {
		t.Helper()
		_, err := admin.Exec("KILL " + strconv.FormatInt(id, 10))
		require.NoError(t, err)
	}, "SELECT CONNECTION_ID()"
}

// TestReview2SQLDBKilledSpareConnection: a connection the server ended
// while the routing *sql.DB kept it aside for the next statement must not
// fail that statement where a plain pool would run it (database/sql resets a
// pooled connection before reuse: go-sql-driver/mysql then checks that it is
// alive before it writes to it, pgx pings one idle for a second, and
// database/sql retries on driver.ErrBadConn), must not run a write twice, and
// must not take the node out of rotation. The spares are made to wait long
// enough for the kill to land there; in production the window is 5 ms, or a
// second for a connection that statements keep busy.
func TestReview2SQLDBKilledSpareConnection(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.String(), func(t *testing.T) {
			t.Parallel()
			c := clusters.Get(t, k)
			db := readyDB(t, c, nil)
			replica.SetSpareIdle(db, time.Minute)
			table := seamTable(t, c, db, "rv2_kill")
			p := ph(c, 1)
			kill, idQ := killer(t, c, c.Primary)
			ctx := replica.WithPrimary(sqldbCtx(t))
			settle := 200 * time.Millisecond
			if k == testcluster.Postgres {
				settle = 1100 * time.Millisecond // pgx pings a connection idle for a second
			}
			for _, via := range []string{"plain", "SQLDB"} {
				pool := db.Primary()
				if via == "SQLDB" {
					pool = db.SQLDB()
				}
				for _, stmt := range []string{"read", "write"} {
					var id int64
					require.NoError(t, pool.QueryRowContext(ctx, idQ).Scan(&id))
					kill(id)
					time.Sleep(settle)
					var err error
					key := via + "-" + stmt
					if stmt == "read" {
						err = pool.QueryRowContext(ctx, idQ).Scan(&id)
					} else {
						_, err = pool.ExecContext(ctx, "INSERT INTO "+table+" (k) VALUES ("+p+")", key)
					}
					require.NoError(t, err, "%s: a %s failed on a killed connection", via, stmt)
					if stmt == "write" {
						var n int
						require.NoError(t, db.Primary().QueryRowContext(ctx, "SELECT count(*) FROM "+table+" WHERE k = "+p, key).Scan(&n))
						require.Equal(t, 1, n, "%s: the write ran %d times", via, n)
					}
					for _, n := range db.Status().Nodes {
						require.True(t, n.Healthy, "%s: one killed connection took %s out: %s", via, n.Name, n.LastError)
					}
				}
			}
		})
	}
}
