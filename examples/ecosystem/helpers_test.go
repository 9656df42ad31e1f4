package ecosystem_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/stretchr/testify/require"

	"github.com/sqlreplica/sqlreplica/consistency"
	"github.com/sqlreplica/sqlreplica/internal/testcluster"
	"github.com/sqlreplica/sqlreplica/replica"
)

// clusters holds the one cluster of each kind that every test of this
// module shares, each a primary and one replica that applies the primary's
// changes replicaDelay late (a read a replica serves right after a write
// cannot see it); TestMain stops them.
var clusters = testcluster.Set{Options: func(testcluster.Kind) testcluster.Options {
	return testcluster.Options{Replicas: 1, Delay: replicaDelay}
}}

func TestMain(m *testing.M) { os.Exit(clusters.Run(m)) }

// kinds are the servers every test runs on. MySQL comes from a best-effort
// route: its subtests skip loudly when it is not there.
var kinds = []testcluster.Kind{testcluster.Postgres, testcluster.MariaDB, testcluster.MySQL}

// replicaDelay is how late the only replica of each shared cluster applies
// the primary's changes.
const replicaDelay = time.Second

// env is one test's view of a shared cluster.
type env struct {
	t       *testing.T
	c       *testcluster.Cluster
	kind    testcluster.Kind
	primary *sql.DB // a plain pool on the primary, the baseline
	names   map[int]string
}

// forEachKind runs f in a parallel subtest per kind of server.
func forEachKind(t *testing.T, f func(t *testing.T, e *env)) {
	t.Parallel()
	for _, k := range kinds {
		t.Run(k.String(), func(t *testing.T) {
			t.Parallel()
			c := clusters.Get(t, k)
			p, err := c.Open(c.Primary)
			require.NoError(t, err)
			t.Cleanup(func() { p.Close() })
			e := &env{t: t, c: c, kind: k, primary: p, names: map[int]string{}}
			for _, s := range c.Servers() {
				e.names[s.Port] = s.Name
			}
			f(t, e)
		})
	}
}

// fastPrimary gives the late replica 100 ms to apply what a session needs
// before its read goes to the primary: the tests stay fast and the replica
// still cannot make it.
var fastPrimary = replica.ReadYourWrites(consistency.Policy{Wait: 100 * time.Millisecond})

// open opens a replica.DB over the cluster; it is closed when the test ends.
func (e *env) open(opts ...replica.Option) *replica.DB {
	e.t.Helper()
	dsns := make([]string, len(e.c.Replicas))
	for i, r := range e.c.Replicas {
		dsns[i] = e.c.DSN(r)
	}
	db, err := replica.Open(e.c.DriverName(), e.c.DSN(e.c.Primary), dsns, append([]replica.Option{fastPrimary}, opts...)...)
	require.NoError(e.t, err)
	e.t.Cleanup(func() { require.NoError(e.t, db.Close()) })
	return db
}

var tableSeq atomic.Uint64

// table returns a table name no other test uses.
func (e *env) table(prefix string) string {
	return fmt.Sprintf("%s_%d_%d", prefix, time.Now().UnixNano()%1e9, tableSeq.Add(1))
}

// pg reports whether the cluster is PostgreSQL.
func (e *env) pg() bool { return e.kind == testcluster.Postgres }

// driverName is the database/sql driver name of the cluster.
func (e *env) driverName() string { return e.c.DriverName() }

// autoID is the column definition of an auto-numbered primary key.
func (e *env) autoID() string {
	if e.pg() {
		return "id bigserial PRIMARY KEY"
	}
	return "id bigint AUTO_INCREMENT PRIMARY KEY"
}

// bind rewrites ? placeholders into $1, $2, … on PostgreSQL.
func (e *env) bind(q string) string {
	if !e.pg() {
		return q
	}
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// whoExpr is a SELECT expression giving the answering server's port.
func (e *env) whoExpr() string {
	if e.pg() {
		return "current_setting('port')::int"
	}
	return "@@port"
}

// whoQuery is a statement that returns the answering server's port.
func (e *env) whoQuery() string { return "SELECT " + e.whoExpr() }

// name names the server listening on port: "primary" or "replica1".
func (e *env) name(port int) string {
	e.t.Helper()
	n, ok := e.names[port]
	require.True(e.t, ok, "no server on port %d", port)
	return n
}

type queryRower interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// who runs whoQuery on q and names the server that answered.
func (e *env) who(ctx context.Context, q queryRower) string {
	e.t.Helper()
	var port int
	require.NoError(e.t, q.QueryRowContext(ctx, e.whoQuery()).Scan(&port))
	return e.name(port)
}

// waitReplicated waits until query returns want on every replica.
func (e *env) waitReplicated(query string, want int) {
	e.t.Helper()
	for _, s := range e.c.Replicas {
		r, err := e.c.Open(s)
		require.NoError(e.t, err)
		require.Eventually(e.t, func() bool {
			var n int
			return r.QueryRow(query).Scan(&n) == nil && n == want
		}, 15*time.Second, 10*time.Millisecond, "%s never returned %d for %s", s.Name, want, query)
		r.Close()
	}
}

// exec runs statements on the primary's plain pool.
func (e *env) exec(stmts ...string) {
	e.t.Helper()
	for _, q := range stmts {
		_, err := e.primary.Exec(q)
		require.NoError(e.t, err, q)
	}
}

// staleOnReplica checks that the replica cannot yet see what query counts
// on the primary: the test's read-your-writes checks have teeth.
func (e *env) staleOnReplica(query string, primaryHas int) {
	e.t.Helper()
	r, err := e.c.Open(e.c.Replicas[0])
	require.NoError(e.t, err)
	defer r.Close()
	var n int
	err = r.QueryRow(query).Scan(&n)
	if err == nil {
		require.NotEqual(e.t, primaryHas, n, "the replica already has the write: no stale read to catch")
	}
}
