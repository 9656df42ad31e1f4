package replica_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sqlreplica/sqlreplica/consistency"
	"github.com/sqlreplica/sqlreplica/internal/fakedb"
	"github.com/sqlreplica/sqlreplica/replica"
	"github.com/sqlreplica/sqlreplica/router"
)

// fakeCluster is a primary and n replicas on the fake driver.
type fakeCluster struct {
	primary  *fakedb.Server
	replicas []*fakedb.Server
	db       *replica.DB
}

func newFake(t *testing.T, n int, opts ...replica.Option) *fakeCluster {
	t.Helper()
	fc := &fakeCluster{primary: fakedb.NewServer("primary")}
	p := fc.primary.DB()
	var rs []*sql.DB
	for i := 0; i < n; i++ {
		s := fakedb.NewServer("replica" + string(rune('1'+i))) // named as the DB names its nodes
		fc.replicas = append(fc.replicas, s)
		rs = append(rs, s.DB())
	}
	db, err := replica.New(p, rs, opts...)
	require.NoError(t, err)
	fc.db = db
	t.Cleanup(func() {
		require.NoError(t, db.Close())
		p.Close()
		for _, r := range rs {
			r.Close()
		}
	})
	return fc
}

// who returns the name of the fake server that answered a query.
func who(t *testing.T, db *replica.DB, ctx context.Context, query string) string {
	t.Helper()
	var name string
	require.NoError(t, db.QueryRowContext(ctx, query).Scan(&name))
	return name
}

func TestNewRejectsNilPools(t *testing.T) {
	p := fakedb.NewServer("p").DB()
	defer p.Close()
	_, err := replica.New(nil, nil)
	require.ErrorIs(t, err, replica.ErrNilPool)
	_, err = replica.New(p, []*sql.DB{p, nil})
	require.ErrorIs(t, err, replica.ErrNilPool)
	require.Contains(t, err.Error(), "replica 1")
	_, err = replica.New(p, nil, replica.WriteFunctions("no good"))
	require.ErrorIs(t, err, router.ErrBadFunctionName)
	for _, opt := range []replica.Option{
		replica.NodeNames("a"), replica.NodeNames("a", "a"), replica.NodeNames("a", ""),
		replica.Weights(1, 2, 3), replica.Weights(0),
	} {
		_, err = replica.New(p, []*sql.DB{p}, opt)
		require.Error(t, err)
	}
	db, err := replica.New(p, []*sql.DB{p}, replica.NodeNames("db-1", "db-2"))
	require.NoError(t, err)
	require.Equal(t, "db-2", db.Status().Nodes[1].Name)
	require.NoError(t, db.Close())
}

func TestRouting(t *testing.T) {
	fc := newFake(t, 2)
	ctx := context.Background()
	tests := []struct {
		name  string
		ctx   context.Context
		query string
		want  string // "primary" or "replica"
	}{
		{"select goes to a replica", ctx, "SELECT 1", "replica"},
		{"insert returning goes to the primary", ctx, "INSERT INTO t VALUES (1) RETURNING id", "primary"},
		{"locking read goes to the primary", ctx, "SELECT * FROM t FOR UPDATE", "primary"},
		{"data-modifying CTE goes to the primary", ctx, "WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d", "primary"},
		{"nextval goes to the primary", ctx, "SELECT nextval('s')", "primary"},
		{"comment before a write goes to the primary", ctx, "/* hi */ UPDATE t SET a = 1", "primary"},
		{"WithPrimary sends a read to the primary", replica.WithPrimary(ctx), "SELECT 1", "primary"},
		{"WithReplica sends a read to a replica", replica.WithReplica(ctx), "SELECT 1", "replica"},
		{"WithReplica cannot send a locking read to a replica", replica.WithReplica(ctx), "SELECT * FROM t FOR UPDATE", "primary"},
		{"WithReplica cannot send a write to a replica", replica.WithReplica(ctx), "UPDATE t SET a = 1 RETURNING 'x'", "primary"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := who(t, fc.db, tt.ctx, tt.query)
			require.True(t, strings.HasPrefix(got, tt.want), "served by %s", got)
		})
	}
}

func TestReadsRoundRobin(t *testing.T) {
	fc := newFake(t, 3)
	for i := 0; i < 30; i++ {
		rows, err := fc.db.Query("SELECT 1")
		require.NoError(t, err)
		require.NoError(t, rows.Close())
	}
	for _, r := range fc.replicas {
		require.EqualValues(t, 10, r.Queries(), r.Name())
	}
	require.Zero(t, fc.primary.Queries())
}

func TestNoReplicasMeansPrimary(t *testing.T) {
	fc := newFake(t, 0)
	require.Equal(t, "primary", who(t, fc.db, replica.WithReplica(context.Background()), "SELECT 1"))
	tx, err := fc.db.BeginTx(context.Background(), &sql.TxOptions{ReadOnly: true})
	require.NoError(t, err)
	require.Equal(t, "primary", tx.Node())
	require.NoError(t, tx.Rollback())
}

func TestReadMovesOnWhenAReplicaIsDown(t *testing.T) {
	fc := newFake(t, 2)
	fc.replicas[0].SetDown(true)
	for i := 0; i < 10; i++ {
		require.Equal(t, "replica2", who(t, fc.db, context.Background(), "SELECT 1"))
	}
	fc.replicas[1].SetDown(true)
	require.Equal(t, "primary", who(t, fc.db, context.Background(), "SELECT 1"))
	_, err := fc.db.Exec("SELECT 1")
	require.NoError(t, err)
	rows, err := fc.db.Query("SELECT 1")
	require.NoError(t, err)
	require.NoError(t, rows.Close())
}

func TestReadFailsWithEveryNodeNamedWhenAllAreDown(t *testing.T) {
	fc := newFake(t, 2)
	for _, s := range append(fc.replicas, fc.primary) {
		s.SetDown(true)
	}
	_, err := fc.db.Query("SELECT 1")
	require.Error(t, err)
	require.ErrorIs(t, err, syscall.ECONNREFUSED)
	var ne *replica.NodeError
	require.ErrorAs(t, err, &ne)
	for _, name := range []string{"replica1", "replica2", "primary"} {
		require.Contains(t, err.Error(), name)
	}
}

func TestWriteIsNeverRetried(t *testing.T) {
	fc := newFake(t, 2)
	fc.primary.SetDown(true)
	_, err := fc.db.Exec("INSERT INTO t VALUES (1)")
	require.ErrorIs(t, err, syscall.ECONNREFUSED)
	_, err = fc.db.Query("INSERT INTO t VALUES (1) RETURNING id")
	require.Error(t, err)
	for _, r := range fc.replicas {
		require.Zero(t, r.Queries(), "a write reached %s", r.Name())
	}
}

func TestStatementErrorsAreNotRetried(t *testing.T) {
	fc := newFake(t, 2)
	syntax := errors.New("syntax error at or near \"SELEC\"")
	fc.replicas[0].FailQueriesWith(syntax)
	fc.replicas[1].FailQueriesWith(syntax)
	_, err := fc.db.Query("SELECT 1")
	require.ErrorIs(t, err, syntax)
	require.Zero(t, fc.primary.Queries())
	require.Zero(t, fc.replicas[1].Queries()+fc.replicas[0].Queries())
}

func TestReadRefusedAsAWriteRunsOnThePrimary(t *testing.T) {
	fc := newFake(t, 2)
	for _, r := range fc.replicas {
		r.SetReadOnly(true)
	}
	// The classifier calls it a read; the replica refuses it as a write (a
	// function that writes, say): only the primary can run it.
	res, err := fc.db.ExecContext(replica.WithReplica(context.Background()), "INSERT INTO t VALUES (1)")
	require.NoError(t, err)
	n, _ := res.RowsAffected()
	require.EqualValues(t, 1, n)
	require.EqualValues(t, 1, fc.primary.Queries())
	require.Zero(t, fc.replicas[0].Queries()+fc.replicas[1].Queries())
}

func TestCancelledReadIsNotRetried(t *testing.T) {
	fc := newFake(t, 2)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := fc.db.QueryContext(ctx, "SELECT 1")
	require.ErrorIs(t, err, context.Canceled)
	require.Zero(t, fc.primary.Queries())
}

func TestTransactions(t *testing.T) {
	tests := []struct {
		name string
		ctx  context.Context
		opts *sql.TxOptions
		want string
	}{
		{"read-write on the primary", context.Background(), nil, "primary"},
		{"read-only on a replica", context.Background(), &sql.TxOptions{ReadOnly: true}, "replica"},
		{"WithPrimary read-only on the primary", replica.WithPrimary(context.Background()), &sql.TxOptions{ReadOnly: true}, "primary"},
		{"WithReplica read-write on a replica", replica.WithReplica(context.Background()), nil, "replica"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fc := newFake(t, 2, replica.CheckInterval(time.Hour))
			tx, err := fc.db.BeginTx(tt.ctx, tt.opts)
			require.NoError(t, err)
			require.True(t, strings.HasPrefix(tx.Node(), tt.want), tx.Node())
			// Every statement in it runs on its node.
			var name string
			require.NoError(t, tx.QueryRow("SELECT 1").Scan(&name))
			require.Equal(t, tx.Node(), name)
			before := fc.primary.Queries()
			_, err = tx.Exec("UPDATE t SET a = 1")
			if tt.opts == nil || !tt.opts.ReadOnly {
				if tt.want == "primary" {
					require.NoError(t, err, "a read-write transaction runs writes")
				} else {
					require.ErrorIs(t, err, replica.ErrWriteOnReplica, "a transaction on a replica refuses writes")
				}
			} else {
				require.ErrorIs(t, err, replica.ErrWriteOnReplica, "a read-only transaction refuses writes, wherever it runs")
				require.Equal(t, before, fc.primary.Queries(), "the refused write was sent")
			}
			require.NoError(t, tx.Commit())
		})
	}
}

func TestReadOnlyTransactionMovesOnWhenAReplicaIsDown(t *testing.T) {
	fc := newFake(t, 2)
	fc.replicas[0].SetDown(true)
	fc.replicas[1].SetDown(true)
	tx, err := fc.db.BeginTx(context.Background(), &sql.TxOptions{ReadOnly: true})
	require.NoError(t, err)
	require.Equal(t, "primary", tx.Node())
	require.NoError(t, tx.Rollback())
}

func TestPrepareAndConn(t *testing.T) {
	fc := newFake(t, 1)
	ctx := context.Background()
	st, err := fc.db.PrepareContext(ctx, "SELECT 1")
	require.NoError(t, err)
	var name string
	require.NoError(t, st.QueryRow().Scan(&name))
	require.Equal(t, "replica1", name)
	require.NoError(t, st.Close())

	st, err = fc.db.Prepare("UPDATE t SET a = 1")
	require.NoError(t, err)
	_, err = st.Exec()
	require.NoError(t, err)
	require.NoError(t, st.Close())
	require.Equal(t, "UPDATE t SET a = 1", fc.primary.Last())

	// A connection's reads go to the replicas until it runs a write; from
	// then on, everything runs on the primary, where the write's session
	// state is, WithReplica or not.
	c, err := fc.db.Conn(ctx)
	require.NoError(t, err)
	require.NoError(t, c.QueryRowContext(ctx, "SELECT 1").Scan(&name))
	require.Equal(t, "replica1", name)
	_, err = c.ExecContext(ctx, "SET search_path = app")
	require.NoError(t, err)
	require.Equal(t, "SET search_path = app", fc.primary.Last())
	require.NoError(t, c.QueryRowContext(replica.WithReplica(ctx), "SELECT 1").Scan(&name))
	require.Equal(t, "primary", name)
	require.NoError(t, c.Close())
}

func TestPingNamesTheNodesThatFail(t *testing.T) {
	fc := newFake(t, 2)
	require.NoError(t, fc.db.Ping())
	fc.replicas[1].SetDown(true)
	err := fc.db.PingContext(context.Background())
	var ne *replica.NodeError
	require.ErrorAs(t, err, &ne)
	require.Equal(t, "replica2", ne.Node)
	require.NotContains(t, err.Error(), "replica1")
}

func TestStatsAndPoolSettings(t *testing.T) {
	fc := newFake(t, 2)
	fc.db.SetMaxOpenConns(3)
	fc.db.SetMaxIdleConns(2)
	fc.db.SetConnMaxLifetime(time.Minute)
	fc.db.SetConnMaxIdleTime(time.Minute)
	s := fc.db.Stats()
	require.Equal(t, 3, s.Primary.MaxOpenConnections)
	require.Len(t, s.Replicas, 2)
	require.Equal(t, 3, s.Replicas[1].MaxOpenConnections)
	require.Len(t, fc.db.Replicas(), 2)
	require.NotNil(t, fc.db.Primary())
}

func TestCloseStopsEverything(t *testing.T) {
	p := fakedb.NewServer("p").DB()
	r := fakedb.NewServer("r").DB()
	defer p.Close()
	defer r.Close()
	db, err := replica.New(p, []*sql.DB{r})
	require.NoError(t, err)
	require.NoError(t, db.Close())
	require.NoError(t, db.Close(), "Close is idempotent")
	ctx := context.Background()
	_, err = db.ExecContext(ctx, "SELECT 1")
	require.ErrorIs(t, err, replica.ErrClosed)
	_, err = db.QueryContext(ctx, "SELECT 1")
	require.ErrorIs(t, err, replica.ErrClosed)
	require.ErrorIs(t, db.QueryRowContext(ctx, "SELECT 1").Scan(new(string)), replica.ErrClosed)
	_, err = db.PrepareContext(ctx, "SELECT 1")
	require.ErrorIs(t, err, replica.ErrClosed)
	_, err = db.BeginTx(ctx, nil)
	require.ErrorIs(t, err, replica.ErrClosed)
	_, err = db.Conn(ctx)
	require.ErrorIs(t, err, replica.ErrClosed)
	require.ErrorIs(t, db.Ping(), replica.ErrClosed)
	// New does not own the pools: they still work.
	require.NoError(t, p.Ping())
}

func TestOpenOwnsItsPools(t *testing.T) {
	_, err := replica.Open("no-such-driver", "postgres://u:secretpw@h/db", nil)
	require.Error(t, err)
	require.NotContains(t, err.Error(), "secretpw")

	db, err := replica.Open("mysql", "app:secretpw@tcp(127.0.0.1:1)/app", []string{"app:secretpw@tcp(127.0.0.1:2)/app"},
		replica.Dialect(router.MariaDB))
	require.NoError(t, err)
	require.Equal(t, router.MariaDB, db.Dialect())
	p := db.Primary()
	require.NoError(t, db.Close())
	require.Error(t, p.Ping(), "Close closed the pool Open opened")

	_, err = replica.Open("mysql", "app:secretpw@tcp(127.0.0.1:1)/app?timeout=zz", nil)
	require.Error(t, err)
	require.NotContains(t, err.Error(), "secretpw")
}

func TestDialectFromDriver(t *testing.T) {
	db, err := replica.Open("pgx", "postgres://u@127.0.0.1:1/db", nil)
	require.NoError(t, err)
	require.Equal(t, router.PostgreSQL, db.Dialect())
	require.NoError(t, db.Close())
	db, err = replica.Open("mysql", "u@tcp(127.0.0.1:1)/db?timeout=100ms", nil)
	require.NoError(t, err)
	require.Equal(t, router.MySQL, db.Dialect(), "MySQL until the server says MariaDB")
	require.NoError(t, db.Close(), "Close stops detection while the server is unreachable")
	fc := newFake(t, 1)
	require.Equal(t, router.Dialect(0), fc.db.Dialect())
}

func TestNoGoroutineLeftAfterClose(t *testing.T) {
	open, err := replica.Open("mysql", "u@tcp(127.0.0.1:1)/db?timeout=100ms", nil)
	require.NoError(t, err)
	require.NotZero(t, countOurGoroutines(), "the leak check sees no goroutine of an open DB")
	require.NoError(t, open.Close())
	for i := 0; i < 3; i++ {
		db, err := replica.Open("mysql", "u@tcp(127.0.0.1:1)/db?timeout=100ms", []string{"u@tcp(127.0.0.1:1)/db"})
		require.NoError(t, err)
		require.NoError(t, db.Close())
	}
	require.Eventually(t, func() bool { return countOurGoroutines() == 0 }, 5*time.Second, 10*time.Millisecond,
		"a goroutine of the DB outlived Close")
}

// countOurGoroutines counts the goroutines running the library's code (the
// replica and health packages; not this test package).
func countOurGoroutines() int {
	return goroutinesRunning("sqlreplica/replica.(", "sqlreplica/replica.New", "sqlreplica/health.(")
}

// goroutinesRunning counts the goroutines whose stack holds any of the
// function names given.
func goroutinesRunning(names ...string) int {
	buf := make([]byte, 4<<20)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		for _, name := range names {
			if strings.Contains(g, name) {
				n++
				break
			}
		}
	}
	return n
}

func TestRoutingDoesNotAllocate(t *testing.T) {
	if raceEnabled || testing.Short() {
		t.Skip("allocation counts differ under -race")
	}
	fc := newFake(t, 2, replica.CheckInterval(time.Hour))
	raw := fc.replicas[0].DB()
	defer raw.Close()
	ctx := context.Background()
	const q = "SELECT id, name FROM users WHERE id = $1"
	query := func(run func() (*sql.Rows, error)) float64 {
		return testing.AllocsPerRun(200, func() {
			rows, err := run()
			if err != nil {
				t.Fatal(err)
			}
			rows.Close()
		})
	}
	base := query(func() (*sql.Rows, error) { return raw.QueryContext(ctx, q, 1) })
	routed := query(func() (*sql.Rows, error) { return fc.db.QueryContext(ctx, q, 1) })
	require.Equal(t, base, routed, "replica.DB adds allocations to a routed read")
	base = query(func() (*sql.Rows, error) { return raw.QueryContext(ctx, "UPDATE t SET a = $1", 1) })
	routed = query(func() (*sql.Rows, error) { return fc.db.QueryContext(ctx, "UPDATE t SET a = $1", 1) })
	require.Equal(t, base, routed, "replica.DB adds allocations to a write")
}

// TestCaptureOnlyWithASession: a write costs no extra round trip without a
// session; with one, a position that cannot be read makes the session's
// next reads go to the primary rather than risk a stale answer.
func TestCaptureOnlyWithASession(t *testing.T) {
	// With no known dialect the fake passes its health checks (pings) and
	// cannot say a position, as a server without a position would not.
	fc := newFake(t, 1, replica.CheckInterval(time.Hour))
	fc.db.CheckNow(context.Background())
	before := fc.primary.Queries()
	_, err := fc.db.Exec("UPDATE t SET a = 1")
	require.NoError(t, err)
	require.EqualValues(t, 1, fc.primary.Queries()-before, "a write without a session ran an extra query")

	ctx := consistency.WithSession(context.Background())
	_, err = fc.db.ExecContext(ctx, "UPDATE t SET a = 1")
	require.NoError(t, err)
	// The fake cannot say its WAL position: the session cannot know where
	// its write is, so its reads go to the primary.
	require.Equal(t, "primary", who(t, fc.db, ctx, "SELECT 1"))
	require.True(t, consistency.SessionFrom(ctx).Unsure())
	// A read-only policy turns that into an error, never a stale read.
	err = fc.db.QueryRowContext(consistency.WithPolicy(ctx, consistency.Policy{ReplicaOnly: true}), "SELECT 1").Scan(new(string))
	require.Error(t, err)
	require.Equal(t, "replica1", who(t, fc.db, context.Background(), "SELECT 1"), "reads without the session are unaffected")
}

// badBalancer returns whatever index it is given, in range or not.
type badBalancer struct{ i int }

func (b badBalancer) Pick([]router.Candidate) int { return b.i }

// TestACustomBalancerOutOfRangeNeverPanics: a balancer that returns an
// index out of range is taken as the first replica, on every read path.
func TestACustomBalancerOutOfRangeNeverPanics(t *testing.T) {
	for _, i := range []int{-1, 2, 1 << 40, -(1 << 40)} {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			fc := newFake(t, 2, replica.Balance(badBalancer{i}), replica.CheckInterval(time.Hour))
			require.Equal(t, "replica1", who(t, fc.db, context.Background(), "SELECT 1"))
			tx, err := fc.db.BeginTx(context.Background(), &sql.TxOptions{ReadOnly: true})
			require.NoError(t, err)
			require.Equal(t, "replica1", tx.Node())
			require.NoError(t, tx.Rollback())
		})
	}
}
