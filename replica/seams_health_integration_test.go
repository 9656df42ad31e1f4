package replica_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sqlreplica/sqlreplica/consistency"
	"github.com/sqlreplica/sqlreplica/health"
	"github.com/sqlreplica/sqlreplica/internal/testcluster"
	"github.com/sqlreplica/sqlreplica/replica"
)

// syncBuffer is a bytes.Buffer safe for a slog handler and a reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// closedPort returns a loopback port nothing listens on.
func closedPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := l.Addr().(*net.TCPAddr).Port
	require.NoError(t, l.Close())
	return port
}

// TestChecksSurviveASaturatedReplicaPool fills every replica's pool (four
// connections) with pg_sleep(9) reads: the checks use connections of their
// own, so the replicas stay healthy, no NodeDown event fires, and reads are
// not moved to the primary.
func TestChecksSurviveASaturatedReplicaPool(t *testing.T) {
	// Not parallel: it requires 300 ms checks never to fail twice in a row for 3 s, which
	// other tests' load must not decide.
	c := clusters.Get(t, testcluster.Postgres)
	var ev events
	db := openCluster(t, c, replica.OnEvent(ev.add), replica.CheckInterval(100*time.Millisecond),
		replica.CheckTimeout(300*time.Millisecond))
	require.Eventually(t, func() bool {
		s := db.CheckNow(context.Background())
		return s.Nodes[1].Healthy && s.Nodes[2].Healthy && !s.Nodes[1].CheckedAt.IsZero()
	}, 10*time.Second, 50*time.Millisecond)
	pools := db.Replicas()
	for _, p := range pools {
		p.SetMaxOpenConns(4)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	saturated := func() bool {
		for _, p := range pools {
			if p.Stats().InUse < 4 {
				return false
			}
		}
		return true
	}
	for i := 0; i < 4*len(pools)+4 && !saturated(); i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = db.ExecContext(replica.WithReplica(ctx), "SELECT pg_sleep(9)")
		}()
		time.Sleep(20 * time.Millisecond)
	}
	require.Eventually(t, saturated, 5*time.Second, 10*time.Millisecond, "the replica pools never filled")
	start := time.Now()
	for time.Since(start) < 3*time.Second {
		for _, p := range pools {
			require.Equal(t, 4, p.Stats().InUse)
		}
		for _, n := range db.Status().Nodes {
			require.True(t, n.Healthy, "%s left rotation while its pool was busy: %s", n.Name, n.LastError)
		}
		time.Sleep(50 * time.Millisecond)
	}
	_, down := ev.first(health.NodeDown, "")
	require.False(t, down, "a NodeDown event fired for a busy pool: %+v", ev.all)
	t.Logf("after 3s of saturated replica pools: %d check rounds, every node healthy", 3000/100)
}

// TestUnreachableReplicasAreReported configures both replicas with ports
// nothing listens on: a NodeDown event naming each fires at start (logged at
// warn), and PingContext names each bad node.
func TestUnreachableReplicasAreReported(t *testing.T) {
	c := clusters.Get(t, testcluster.Postgres)
	var ev events
	var logs syncBuffer
	log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	bad := []string{
		fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable&connect_timeout=2", closedPort(t)),
		fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable&connect_timeout=2", closedPort(t)),
	}
	db, err := replica.Open("pgx", c.DSN(c.Primary), bad, replica.OnEvent(ev.add), replica.Logger(log),
		replica.NodeNames("primary", "bad1", "bad2"), replica.CheckInterval(100*time.Millisecond))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, db.Close()) })
	for _, name := range []string{"bad1", "bad2"} {
		require.Eventually(t, func() bool { _, ok := ev.first(health.NodeDown, name); return ok }, 5*time.Second,
			10*time.Millisecond, "no NodeDown event for %s", name)
		e, _ := ev.first(health.NodeDown, name)
		require.Contains(t, e.Detail, "connect", "the event says why")
		require.Contains(t, logs.String(), `"node":"`+name+`"`, "the event is not logged at warn")
	}
	_, ok := ev.first(health.NodeDown, "primary")
	require.False(t, ok)
	err = db.PingContext(context.Background())
	require.Error(t, err)
	require.Contains(t, err.Error(), "bad1")
	require.Contains(t, err.Error(), "bad2")
	require.NotContains(t, err.Error(), "replica: primary")
}

const secret = "Zq7Secret"

// leakyPostgresDSNs are malformed PostgreSQL connection strings with the
// secret in them; port is the real server's.
func leakyPostgresDSNs(port int) []string {
	return []string{
		"postgres://app:" + secret + ":x@127.0.0.1:bad/db",
		`password='a\' ` + secret + `' sslmode=bogus`,
		fmt.Sprintf(`host=127.0.0.1 port=%d password='a\' `+secret+`' sslmode=bogus`, port),
		fmt.Sprintf("host=127.0.0.1 port=%d user=postgres password='"+secret+` \\' connect_timeout=x`, port),
		fmt.Sprintf("host=127.0.0.1 port=%d password="+secret+"' unterminated='", port),
		fmt.Sprintf("postgres://postgres:"+secret+"@127.0.0.1:%d/postgres?sslmode=bogus", port),
		fmt.Sprintf("postgres://postgres:"+secret+"%%zz@127.0.0.1:%d/postgres", port),
		"postgres://postgres:" + secret + "@x@127.0.0.1:99999/postgres",
		fmt.Sprintf("postgresql://postgres:pä\""+secret+"ß@127.0.0.1:%d/postgres", port),
		fmt.Sprintf("postgres://postgres:"+secret+"@127.0.0.1:%d/postgres?statement_cache_capacity="+secret, port),
	}
}

// leakyMySQLDSNs are malformed go-sql-driver/mysql DSNs with the secret.
func leakyMySQLDSNs(port int) []string {
	return []string{
		fmt.Sprintf("app:"+secret+"@tcp(127.0.0.1:%d/app", port),
		fmt.Sprintf("app:"+secret+"@tcp(127.0.0.1:%d)app", port),
		fmt.Sprintf("app:'"+secret+"'@tcp(127.0.0.1:%d)/app?tls="+secret, port),
		fmt.Sprintf(`app:a\`+secret+`@tcp(127.0.0.1:%d)/app?readTimeout=%%zz`+secret, port),
		fmt.Sprintf("app:pä@"+secret+"@tcp(127.0.0.1:%d)/app?parseTime="+secret, port),
		fmt.Sprintf("app:"+secret+"@tcp(127.0.0.1:%d)/app%%zz"+secret, port),
	}
}

// TestConnectionStringsNeverLeak opens DBs whose replicas have malformed
// connection strings holding a secret, against a real server: the secret
// is nowhere in Status, the handler's JSON, events, logs, PingContext's
// error or Open's error.
func TestConnectionStringsNeverLeak(t *testing.T) {
	t.Run("postgresql", func(t *testing.T) {
		c := clusters.Get(t, testcluster.Postgres)
		dsns := leakyPostgresDSNs(c.Replicas[0].Port)
		var ev events
		var logs syncBuffer
		log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		db, err := replica.Open("pgx", c.DSN(c.Primary), dsns, replica.OnEvent(ev.add), replica.Logger(log),
			replica.CheckInterval(50*time.Millisecond))
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, db.Close()) })
		require.Eventually(t, func() bool {
			for _, n := range db.Status().Nodes[1:] {
				if n.Healthy || n.LastError == "" {
					return false
				}
			}
			return true
		}, 10*time.Second, 10*time.Millisecond, "every bad replica leaves rotation")
		var texts []string
		texts = append(texts, fmt.Sprintf("%+v", db.Status()))
		rec := httptest.NewRecorder()
		health.Handler(db).ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
		body, _ := io.ReadAll(rec.Body)
		texts = append(texts, string(body))
		err = db.PingContext(context.Background())
		require.Error(t, err)
		texts = append(texts, err.Error(), fmt.Sprintf("%+v", err))
		ev.mu.Lock()
		for _, e := range ev.all {
			texts = append(texts, fmt.Sprintf("%+v", e))
		}
		ev.mu.Unlock()
		for i := range dsns {
			_, ok := ev.first(health.NodeDown, fmt.Sprintf("replica%d", i+1))
			require.True(t, ok, "no NodeDown event for replica%d", i+1)
		}
		texts = append(texts, logs.String())
		// A DB whose primary has such a string: every statement's error.
		for _, dsn := range dsns {
			bad, err := replica.Open("pgx", dsn, []string{dsn}, replica.Logger(log))
			require.NoError(t, err)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			var x int
			errs := []error{bad.QueryRowContext(ctx, "SELECT 1").Scan(&x)}
			_, err = bad.ExecContext(ctx, "UPDATE t SET a = 1")
			errs = append(errs, err)
			_, err = bad.QueryContext(ctx, "SELECT 1")
			errs = append(errs, err)
			_, err = bad.BeginTx(ctx, nil)
			errs = append(errs, err)
			_, err = bad.ExecContext(consistency.WithSession(ctx), "UPDATE t SET a = 1")
			errs = append(errs, err)
			err = bad.QueryRowContext(consistency.WithSession(ctx), "UPDATE t SET a = 1 RETURNING 1").Scan(&x)
			errs = append(errs, err)
			cancel()
			for _, e := range errs {
				require.Error(t, e)
				texts = append(texts, fmt.Sprintf("%v %+v", e, e))
			}
			require.NoError(t, bad.Close())
		}
		texts = append(texts, logs.String())
		for _, s := range texts {
			require.NotContains(t, s, secret)
		}
		t.Logf("status of one bad replica: %q", db.Status().Nodes[1].LastError)
	})
	t.Run("mysql", func(t *testing.T) {
		c := clusters.Get(t, testcluster.MariaDB)
		for _, dsn := range leakyMySQLDSNs(c.Replicas[0].Port) {
			_, err := replica.Open("mysql", c.DSN(c.Primary), []string{dsn})
			require.Error(t, err, dsn)
			require.NotContains(t, fmt.Sprintf("%v %+v", err, err), secret)
			_, err = replica.Open("mysql", dsn, nil)
			require.Error(t, err, dsn)
			require.NotContains(t, fmt.Sprintf("%v %+v", err, err), secret)
		}
	})
}
