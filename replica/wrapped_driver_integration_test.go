package replica_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sqlreplica/sqlreplica/consistency"
	"github.com/sqlreplica/sqlreplica/health"
	"github.com/sqlreplica/sqlreplica/internal/testcluster"
	"github.com/sqlreplica/sqlreplica/replica"
	"github.com/sqlreplica/sqlreplica/router"
)

// hiddenConnector wraps a driver's connector so that the pool's driver is
// of a type the DB does not know, as an instrumenting driver's (otelsql's)
// is: the DB must ask the server what it is. Connections pass through.
type hiddenConnector struct{ c driver.Connector }

func (h hiddenConnector) Connect(ctx context.Context) (driver.Conn, error) { return h.c.Connect(ctx) }
func (h hiddenConnector) Driver() driver.Driver                            { return hiddenDriver{h.c.Driver()} }

type hiddenDriver struct{ d driver.Driver }

func (h hiddenDriver) Open(name string) (driver.Conn, error) { return h.d.Open(name) }

// openHidden opens a pool on s through hiddenConnector.
func openHidden(t *testing.T, c *testcluster.Cluster, s *testcluster.Server) *sql.DB {
	t.Helper()
	var d driver.DriverContext = mysql.MySQLDriver{}
	if c.Kind == testcluster.Postgres {
		d = stdlib.GetDefaultDriver().(driver.DriverContext)
	}
	conn, err := d.OpenConnector(c.DSN(s))
	require.NoError(t, err)
	p := sql.OpenDB(hiddenConnector{conn})
	t.Cleanup(func() { p.Close() })
	return p
}

// openHiddenCluster opens a DB over every server of c through
// hiddenConnector, with check pools as Open would give it.
func openHiddenCluster(t *testing.T, c *testcluster.Cluster, opts ...replica.Option) *replica.DB {
	t.Helper()
	var pools, checks []*sql.DB
	for _, s := range c.Servers() {
		pools = append(pools, openHidden(t, c, s))
		p := openHidden(t, c, s)
		p.SetMaxOpenConns(2)
		checks = append(checks, p)
	}
	require.NotEqual(t, fmt.Sprintf("%T", pools[0].Driver()), fmt.Sprintf("%T", stdlib.GetDefaultDriver()))
	db, err := replica.New(pools[0], pools[1:], append([]replica.Option{replica.CheckPools(checks...)}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, db.Close()) })
	return db
}

// TestWrappedDriverLearnsTheDialect: through a driver whose type says
// nothing, the DB learns the dialect from the server within a bounded wait,
// and then everything keyed on it follows: health checks know roles and
// lag, reads go to replicas, and a session's read right after its write
// sees it, on a replica once one has caught up (the token resolves).
func TestWrappedDriverLearnsTheDialect(t *testing.T) {
	t.Parallel() // a table of its own on the shared clusters
	want := map[testcluster.Kind]router.Dialect{
		testcluster.Postgres: router.PostgreSQL,
		testcluster.MariaDB:  router.MariaDB,
		testcluster.MySQL:    router.MySQL,
	}
	for _, k := range kinds {
		t.Run(k.String(), func(t *testing.T) {
			t.Parallel() // each kind has its own servers
			c := clusters.Get(t, k)
			db := openHiddenCluster(t, c)
			id := newIdentity(c)
			ctx := context.Background()

			require.Eventually(t, func() bool { return db.Dialect() == want[k] }, 15*time.Second, 10*time.Millisecond,
				"the dialect was never learnt: %v", db.Dialect())

			// A write, so that a fresh cluster has a GTID to compare.
			table := fmt.Sprintf("wrapped_%d", time.Now().UnixNano())
			_, err := db.ExecContext(ctx, "CREATE TABLE "+table+" (k varchar(100) PRIMARY KEY, v int)")
			require.NoError(t, err)
			waitReplicated(t, c, "SELECT count(*) FROM "+table, 0)

			// The health checks follow: roles, positions and lag are known.
			var seenStatus atomic.Pointer[health.Snapshot]
			lagKnown := func() bool {
				last := db.Status()
				seenStatus.Store(&last)
				if !last.WriterKnown || last.Writer != 0 || last.Nodes[0].Role != health.Primary {
					return false
				}
				for _, n := range last.Nodes[1:] {
					if !n.Healthy || n.Role != health.Replica || !n.Lag.Known || n.Position.IsZero() {
						return false
					}
				}
				return true
			}
			if !assert.Eventually(t, lagKnown, 15*time.Second, 10*time.Millisecond) {
				t.Fatalf("lag never became known: %+v", seenStatus.Load().Nodes)
			}

			// Reads go to replicas.
			seen := map[string]int{}
			for i := 0; i < 20; i++ {
				seen[id.who(t, ctx, db, "")]++
			}
			require.Zero(t, seen["primary"], "reads reached the primary: %v", seen)

			insert := "INSERT INTO " + table + " (k, v) VALUES (" + ph(c, 1) + ", " + ph(c, 2) + ")"
			read := "SELECT " + id.whoExpr() + " FROM " + table + " WHERE k = " + ph(c, 1)

			// A session reads its write at once; some such reads are served
			// by a replica (a replica that has applied it, or after a wait).
			onReplica := 0
			for i := 0; i < 20; i++ {
				s := consistency.WithSession(ctx)
				key := fmt.Sprintf("ryw-%d", i)
				_, err := db.ExecContext(s, insert, key, i)
				require.NoError(t, err)
				var v int
				err = db.QueryRowContext(s, read, key).Scan(&v)
				require.False(t, errors.Is(err, sql.ErrNoRows), "a session did not read its write %s", key)
				require.NoError(t, err)
				if id.name(v) != "primary" {
					onReplica++
				}
			}
			require.NotZero(t, onReplica, "no session read reached a replica: its token never resolved")

			// Once every replica has the session's write, every read of the
			// session is a replica's: the token is not stuck pending.
			s := consistency.WithSession(ctx)
			_, err = db.ExecContext(s, insert, "caught-up", 1)
			require.NoError(t, err)
			waitReplicated(t, c, "SELECT count(*) FROM "+table+" WHERE k = 'caught-up'", 1)
			for i := 0; i < 10; i++ {
				var v int
				require.NoError(t, db.QueryRowContext(s, read, "caught-up").Scan(&v))
				require.NotEqual(t, "primary", id.name(v), "read %d of a session whose write every replica has went to the primary", i)
			}
		})
	}
}
