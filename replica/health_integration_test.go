package replica_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Shopify/toxiproxy/v2"
	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/sqlreplica/sqlreplica/health"
	"github.com/sqlreplica/sqlreplica/internal/testcluster"
	"github.com/sqlreplica/sqlreplica/replica"
)

// events collects health events.
type events struct {
	mu  sync.Mutex
	all []health.Event
}

func (e *events) add(ev health.Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.all = append(e.all, ev)
}

func (e *events) first(kind health.EventKind, node string) (health.Event, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, ev := range e.all {
		if ev.Kind == kind && (node == "" || ev.Node == node) {
			return ev, true
		}
	}
	return health.Event{}, false
}

// load runs readers against db until stopped and counts who served.
type load struct {
	stop   chan struct{}
	wg     sync.WaitGroup
	mu     sync.Mutex
	served map[string]int
	errs   []error
}

func startReads(t *testing.T, db *replica.DB, id *identity, readers int) *load {
	l := &load{stop: make(chan struct{}), served: map[string]int{}}
	for g := 0; g < readers; g++ {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				var v int
				err := db.QueryRowContext(context.Background(), "SELECT "+id.whoExpr()).Scan(&v)
				l.mu.Lock()
				if err != nil {
					l.errs = append(l.errs, err)
				} else {
					l.served[id.name(v)]++
				}
				l.mu.Unlock()
			}
		}()
	}
	t.Cleanup(l.end)
	return l
}

func (l *load) end() {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	l.wg.Wait()
}

// reset returns the counts so far and starts new ones.
func (l *load) reset() (map[string]int, []error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s, e := l.served, l.errs
	l.served, l.errs = map[string]int{}, nil
	return s, e
}

func nodeStatus(db *replica.DB, name string) health.Status {
	for _, n := range db.Status().Nodes {
		if n.Name == name {
			return n
		}
	}
	return health.Status{}
}

// TestReplicaDiesAndComesBack kills a replica's server under a concurrent
// read load: no read outside a transaction fails, the node leaves rotation at
// once, and when it is restarted it comes back.
func TestReplicaDiesAndComesBack(t *testing.T) {
	t.Parallel() // its clusters are its own
	for _, k := range kinds {
		t.Run(k.String(), func(t *testing.T) {
			t.Parallel() // each kind has its own servers
			c := testcluster.Start(t, k, testcluster.Options{Replicas: 2})
			var ev events
			db := openCluster(t, c, replica.OnEvent(ev.add))
			id := newIdentity(c)
			victim := c.Replicas[0].Name // the DB names its nodes as the cluster does
			require.Eventually(t, func() bool { return nodeStatus(db, victim).Replication.Configured }, 10*time.Second, 10*time.Millisecond)

			l := startReads(t, db, id, 4)
			time.Sleep(300 * time.Millisecond)
			killed := time.Now()
			require.NoError(t, c.Replicas[0].Kill())
			require.Eventually(t, func() bool { return !nodeStatus(db, victim).Healthy }, 10*time.Second, time.Millisecond)
			detected := time.Since(killed)
			time.Sleep(100 * time.Millisecond)
			l.reset()
			time.Sleep(500 * time.Millisecond)
			served, errs := l.reset()
			require.Empty(t, errs, "reads failed while a replica was dead")
			require.Zero(t, served[c.Replicas[0].Name], "the dead replica served: %v", served)
			e, ok := ev.first(health.NodeDown, victim)
			require.True(t, ok, "no NodeDown event")
			t.Logf("%s: replica killed under load; out of rotation after %v (NodeDown event: %s)", k, detected.Round(time.Millisecond), e.Detail)

			restarted := time.Now()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			require.NoError(t, c.Replicas[0].Restart(ctx))
			require.Eventually(t, func() bool { return nodeStatus(db, victim).Healthy }, 30*time.Second, 10*time.Millisecond)
			back := time.Since(restarted)
			l.reset()
			time.Sleep(500 * time.Millisecond)
			served, errs = l.reset()
			l.end()
			require.Empty(t, errs)
			require.NotZero(t, served[c.Replicas[0].Name], "the restarted replica gets no reads: %v", served)
			_, ok = ev.first(health.NodeUp, victim)
			require.True(t, ok, "no NodeUp event")
			t.Logf("%s: restarted replica back in rotation %v after its restart began", k, back.Round(time.Millisecond))
		})
	}
}

// setDelay changes a replica's apply delay at run time.
func setDelay(t *testing.T, c *testcluster.Cluster, r *testcluster.Server, d time.Duration) {
	t.Helper()
	ctx := context.Background()
	if c.Kind != testcluster.Postgres {
		require.NoError(t, c.PointReplica(ctx, r, c.Primary, d))
		return
	}
	db, err := c.OpenAdmin(r)
	require.NoError(t, err)
	defer db.Close()
	_, err = db.ExecContext(ctx, fmt.Sprintf("ALTER SYSTEM SET recovery_min_apply_delay = '%dms'", d.Milliseconds()))
	require.NoError(t, err)
	_, err = db.ExecContext(ctx, "SELECT pg_reload_conf()")
	require.NoError(t, err)
}

// writeLoad inserts rows on the primary until stopped, so that positions
// move.
func writeLoad(t *testing.T, db *replica.DB, table string) (stop func()) {
	_, err := db.Exec("CREATE TABLE " + table + " (id int PRIMARY KEY)")
	require.NoError(t, err)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 1; ; i++ {
			select {
			case <-done:
				return
			case <-time.After(20 * time.Millisecond):
			}
			_, _ = db.Exec(fmt.Sprintf("INSERT INTO %s VALUES (%d)", table, i))
		}
	}()
	var once sync.Once
	stop = func() { once.Do(func() { close(done); wg.Wait() }) }
	t.Cleanup(stop)
	return stop
}

// TestLaggingReplicaGetsNoReads delays a replica past the maximum lag: it
// gets no reads; once caught up, it gets them again.
func TestLaggingReplicaGetsNoReads(t *testing.T) {
	t.Parallel() // its clusters are its own
	for _, k := range kinds {
		t.Run(k.String(), func(t *testing.T) {
			t.Parallel() // each kind has its own servers
			c := testcluster.Start(t, k, testcluster.Options{Replicas: 2})
			var ev events
			db := openCluster(t, c, replica.MaxLag(time.Second), replica.LagAlert(time.Second), replica.OnEvent(ev.add))
			id := newIdentity(c)
			slow := c.Replicas[1]
			stopWrites := writeLoad(t, db, fmt.Sprintf("lag_%d", time.Now().UnixNano()))
			setDelay(t, c, slow, 4*time.Second)
			require.Eventually(t, func() bool {
				s := nodeStatus(db, "replica2")
				return s.Lag.Known && s.Lag.Time > time.Second
			}, 20*time.Second, 10*time.Millisecond, "the delayed replica never showed lag")
			l := startReads(t, db, id, 2)
			time.Sleep(time.Second)
			served, errs := l.reset()
			require.Empty(t, errs)
			require.Zero(t, served[slow.Name], "a replica beyond the maximum lag got reads: %v", served)
			require.NotZero(t, served[c.Replicas[0].Name])
			lagged := nodeStatus(db, "replica2").Lag
			_, alerted := ev.first(health.LagHigh, "replica2")
			require.True(t, alerted, "no LagHigh event")

			// A read that accepts more lag may go there.
			seen := map[string]bool{}
			for i := 0; i < 20; i++ {
				seen[id.who(t, replica.WithMaxLag(context.Background(), time.Hour), db, "")] = true
			}
			require.True(t, seen[slow.Name], "WithMaxLag(1h) never reached the lagging replica: %v", seen)

			setDelay(t, c, slow, 0)
			stopWrites()
			caughtUp := time.Now()
			require.Eventually(t, func() bool {
				s := nodeStatus(db, "replica2")
				return s.Healthy && s.Lag.Known && s.Lag.Time == 0
			}, 30*time.Second, 10*time.Millisecond, "the replica never caught up")
			l.reset()
			time.Sleep(time.Second)
			served, errs = l.reset()
			l.end()
			require.Empty(t, errs)
			require.NotZero(t, served[slow.Name], "the caught-up replica gets no reads: %v", served)
			t.Logf("%s: delayed replica lag %v / %d behind, no reads; back in rotation %v after the delay was lifted",
				k, lagged.Time.Round(time.Millisecond), lagged.Bytes, time.Since(caughtUp).Round(time.Millisecond))
		})
	}
}

// promote makes r writable the way an external fail-over manager would.
func promote(t *testing.T, c *testcluster.Cluster, r *testcluster.Server) {
	t.Helper()
	db, err := c.OpenAdmin(r)
	require.NoError(t, err)
	defer db.Close()
	stmts := map[testcluster.Kind][]string{
		testcluster.Postgres: {"SELECT pg_promote(true, 60)"},
		testcluster.MariaDB:  {"STOP SLAVE", "SET GLOBAL read_only = 0"},
		testcluster.MySQL:    {"STOP REPLICA", "SET GLOBAL super_read_only = 0", "SET GLOBAL read_only = 0"},
	}[c.Kind]
	for _, q := range stmts {
		_, err := db.Exec(q)
		require.NoError(t, err, q)
	}
}

func isDuplicateKey(err error) bool {
	var pe *pgconn.PgError
	var me *mysql.MySQLError
	return errors.As(err, &pe) && pe.Code == "23505" || errors.As(err, &me) && me.Number == 1062
}

// TestWritesFollowAnExternalPromotion stops the primary and promotes a
// replica behind the library's back: writes succeed on the new primary
// shortly after, and no write is applied twice.
func TestWritesFollowAnExternalPromotion(t *testing.T) {
	t.Parallel() // its clusters are its own
	for _, k := range kinds {
		t.Run(k.String(), func(t *testing.T) {
			t.Parallel() // each kind has its own servers
			c := testcluster.Start(t, k, testcluster.Options{Replicas: 2})
			var ev events
			db := openCluster(t, c, replica.OnEvent(ev.add))
			id := newIdentity(c)
			table := fmt.Sprintf("promo_%d", time.Now().UnixNano())
			_, err := db.Exec("CREATE TABLE " + table + " (id int PRIMARY KEY, node int)")
			require.NoError(t, err)
			waitReplicated(t, c, "SELECT count(*) FROM "+table, 0)

			type result struct {
				id   int
				err  error
				at   time.Time
				node string
			}
			var (
				mu      sync.Mutex
				results []result
				stop    = make(chan struct{})
				wg      sync.WaitGroup
			)
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 1; ; i++ {
					select {
					case <-stop:
						return
					case <-time.After(10 * time.Millisecond):
					}
					_, err := db.Exec(fmt.Sprintf("INSERT INTO %s VALUES (%d, %s)", table, i, id.whoExpr()))
					r := result{id: i, err: err, at: time.Now()}
					mu.Lock()
					results = append(results, r)
					mu.Unlock()
				}
			}()
			time.Sleep(300 * time.Millisecond)
			require.NoError(t, c.Primary.Kill())
			time.Sleep(200 * time.Millisecond)
			promoted := time.Now()
			promote(t, c, c.Replicas[0])
			newPrimary := c.Replicas[0]
			require.Eventually(t, func() bool {
				mu.Lock()
				defer mu.Unlock()
				return len(results) > 0 && results[len(results)-1].err == nil && results[len(results)-1].at.After(promoted)
			}, 30*time.Second, time.Millisecond, "writes never succeeded after the promotion")
			time.Sleep(300 * time.Millisecond)
			close(stop)
			wg.Wait()

			var firstOK time.Duration = -1
			acked := 0
			for _, r := range results {
				require.False(t, isDuplicateKey(r.err), "a write was applied twice: %v", r.err)
				if r.err == nil && r.at.After(promoted) {
					acked++
					if firstOK < 0 {
						firstOK = r.at.Sub(promoted)
					}
				}
			}
			// Every write acknowledged after the promotion is on the new
			// primary, once.
			p, err := c.Open(newPrimary)
			require.NoError(t, err)
			defer p.Close()
			var n int
			require.NoError(t, p.QueryRow(fmt.Sprintf("SELECT count(*) FROM %s WHERE node = %d", table, idValue(c, newPrimary))).Scan(&n))
			require.Equal(t, acked, n)
			require.Equal(t, newPrimary.Name, id.name(idValue(c, newPrimary)))
			_, roleEvent := ev.first(health.RoleChange, "replica1")
			require.True(t, roleEvent, "no RoleChange event")
			require.Equal(t, "replica1", db.Status().Nodes[db.Status().Writer].Name)
			t.Logf("%s: primary killed, replica promoted; first write acknowledged by the new primary %v after the promotion; %d writes after it, none twice",
				k, firstOK.Round(time.Millisecond), acked)
		})
	}
}

// idValue is what the identity expression returns on s.
func idValue(c *testcluster.Cluster, s *testcluster.Server) int {
	if c.Kind == testcluster.Postgres {
		return s.Port
	}
	for i, x := range c.Servers() {
		if x == s {
			return i + 1
		}
	}
	return 0
}

// TestSplitBrainRefusesWrites makes a replica writable next to the primary:
// writes are refused with ErrSplitBrain (never sent to either), the handler
// answers 503, and writes resume once only one node is writable.
func TestSplitBrainRefusesWrites(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.String(), func(t *testing.T) {
			t.Parallel() // each kind has its own servers
			if k == testcluster.Postgres {
				t.Skip("a PostgreSQL standby cannot be made writable without promoting it; TestWritesFollowAnExternalPromotion covers PostgreSQL")
			}
			c := clusters.Get(t, k)
			var ev events
			db := openCluster(t, c, replica.OnEvent(ev.add))
			srv := httptest.NewServer(health.Handler(db))
			defer srv.Close()
			ctx := context.Background()
			table := fmt.Sprintf("split_%d", time.Now().UnixNano())
			_, err := db.Exec("CREATE TABLE " + table + " (id int)")
			require.NoError(t, err)
			require.True(t, db.CheckNow(ctx).WriterKnown)
			requireHTTP(t, srv.URL, http.StatusOK)

			admin, err := c.OpenAdmin(c.Replicas[0])
			require.NoError(t, err)
			defer admin.Close()
			readOnly := []string{"SET GLOBAL read_only = 1"}
			writable := []string{"SET GLOBAL read_only = 0"}
			if k == testcluster.MySQL {
				readOnly = append(readOnly, "SET GLOBAL super_read_only = 1")
				writable = []string{"SET GLOBAL super_read_only = 0", "SET GLOBAL read_only = 0"}
			}
			for _, q := range writable {
				_, err = admin.Exec(q)
				require.NoError(t, err)
			}
			t.Cleanup(func() {
				for _, q := range readOnly {
					_, _ = admin.Exec(q)
				}
			})
			s := db.CheckNow(ctx)
			require.True(t, s.SplitBrain)
			_, err = db.Exec("INSERT INTO " + table + " VALUES (1)")
			require.ErrorIs(t, err, replica.ErrSplitBrain)
			err = db.QueryRow("INSERT INTO " + table + " VALUES (2) RETURNING id").Scan(new(int))
			require.ErrorIs(t, err, replica.ErrSplitBrain)
			requireHTTP(t, srv.URL, http.StatusServiceUnavailable)
			_, ok := ev.first(health.SplitBrain, "")
			require.True(t, ok, "no SplitBrain event")
			// Reads still work.
			require.NoError(t, db.QueryRow("SELECT 1").Scan(new(int)))

			for _, q := range readOnly {
				_, err = admin.Exec(q)
				require.NoError(t, err)
			}
			s = db.CheckNow(ctx)
			require.False(t, s.SplitBrain)
			require.Equal(t, health.Replica, s.Nodes[1].Role, "a node that turned read-only again is a replica")
			require.Equal(t, 0, s.Writer)
			_, err = db.Exec("INSERT INTO " + table + " VALUES (3)")
			require.NoError(t, err)
			requireHTTP(t, srv.URL, http.StatusOK)
			var n int
			require.NoError(t, db.QueryRowContext(replica.WithPrimary(ctx), "SELECT count(*) FROM "+table).Scan(&n))
			require.Equal(t, 1, n, "a refused write reached a server")
		})
	}
}

func requireHTTP(t *testing.T, url string, code int) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, code, resp.StatusCode)
}

// TestWriteRefusedAsReadOnlyIsSafeToRetry makes the primary read-only: a
// write fails with ErrReadOnlyPrimary and the driver's error, and nothing is
// applied.
func TestWriteRefusedAsReadOnlyIsSafeToRetry(t *testing.T) {
	t.Parallel() // its clusters are its own
	for _, k := range kinds {
		t.Run(k.String(), func(t *testing.T) {
			t.Parallel() // each kind has its own servers
			c := testcluster.Start(t, k, testcluster.Options{Replicas: 1})
			db := openCluster(t, c)
			table := fmt.Sprintf("ro_%d", time.Now().UnixNano())
			_, err := db.Exec("CREATE TABLE " + table + " (id int)")
			require.NoError(t, err)
			admin, err := c.OpenAdmin(c.Primary)
			require.NoError(t, err)
			defer admin.Close()
			on, off := []string{"SET GLOBAL read_only = 1"}, []string{"SET GLOBAL read_only = 0"}
			if k == testcluster.Postgres {
				on = []string{"ALTER SYSTEM SET default_transaction_read_only = on", "SELECT pg_reload_conf()"}
				off = []string{"ALTER SYSTEM RESET default_transaction_read_only", "SELECT pg_reload_conf()"}
			}
			for _, q := range on {
				_, err := admin.Exec(q)
				require.NoError(t, err)
			}
			// Until the setting takes effect writes succeed: each attempt
			// writes its own value, and only the refused one must be absent.
			var refused error
			attempt := 0
			require.Eventually(t, func() bool {
				attempt++
				_, refused = db.Exec(fmt.Sprintf("INSERT INTO %s VALUES (%d)", table, attempt))
				return refused != nil
			}, 10*time.Second, 10*time.Millisecond)
			require.ErrorIs(t, refused, replica.ErrReadOnlyPrimary)
			var ne *replica.NodeError
			require.ErrorAs(t, refused, &ne)
			require.Equal(t, "primary", ne.Node)
			for _, q := range off {
				_, err := admin.Exec(q)
				require.NoError(t, err)
			}
			require.Eventually(t, func() bool {
				_, err := db.Exec("INSERT INTO " + table + " VALUES (-1)")
				return err == nil
			}, 10*time.Second, 10*time.Millisecond)
			var n int
			require.NoError(t, db.QueryRowContext(replica.WithPrimary(context.Background()),
				fmt.Sprintf("SELECT count(*) FROM %s WHERE id = %d", table, attempt)).Scan(&n))
			require.Zero(t, n, "the refused write was applied")
		})
	}
}

// TestSlowAndBlackHoledReplica puts toxiproxy in front of a replica, adds
// latency and then black-holes it: checks stay bounded by their timeout, and
// reads move elsewhere.
func TestSlowAndBlackHoledReplica(t *testing.T) {
	t.Parallel() // its proxy only slows the connections that go through it
	for _, k := range kinds {
		t.Run(k.String(), func(t *testing.T) {
			t.Parallel() // each kind has its own servers
			c := clusters.Get(t, k)
			srv := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(nil), zerolog.Nop())
			px := toxiproxy.NewProxy(srv, "replica", "127.0.0.1:0", fmt.Sprintf("127.0.0.1:%d", c.Replicas[0].Port))
			require.NoError(t, px.Start())
			t.Cleanup(px.Stop)
			proxied := strings.Replace(c.DSN(c.Replicas[0]), fmt.Sprintf(":%d", c.Replicas[0].Port), ":"+px.Listen[strings.LastIndex(px.Listen, ":")+1:], 1)
			dsns := []string{proxied}
			for _, r := range c.Replicas[1:] {
				dsns = append(dsns, c.DSN(r))
			}
			const timeout = 300 * time.Millisecond
			db, err := replica.Open(c.DriverName(), c.DSN(c.Primary), dsns,
				replica.CheckInterval(200*time.Millisecond), replica.CheckTimeout(timeout))
			require.NoError(t, err)
			t.Cleanup(func() { db.Close() })
			id := newIdentity(c)
			ctx := context.Background()
			require.Eventually(t, func() bool { return nodeStatus(db, "replica1").Replication.Configured }, 10*time.Second, 10*time.Millisecond)

			for _, toxic := range []string{
				`{"name":"slow","type":"latency","stream":"downstream","attributes":{"latency":2000}}`,
				`{"name":"hole","type":"timeout","stream":"downstream","attributes":{"timeout":0}}`,
			} {
				name := toxic[9:13]
				_, err := px.Toxics.AddToxicJson(strings.NewReader(toxic))
				require.NoError(t, err)
				start := time.Now()
				s := db.CheckNow(ctx)
				took := time.Since(start)
				require.Less(t, took, timeout+time.Second, "a check outlived its timeout by far")
				require.False(t, s.Nodes[1].Reachable, "%s: the check did not time out", name)
				require.Eventually(t, func() bool { return !nodeStatus(db, "replica1").Healthy }, 10*time.Second, 10*time.Millisecond)
				// Reads move elsewhere and are not slowed down.
				for i := 0; i < 20; i++ {
					rctx, cancel := context.WithTimeout(ctx, time.Second)
					var v int
					require.NoError(t, db.QueryRowContext(rctx, "SELECT "+id.whoExpr()).Scan(&v), name)
					cancel()
					require.NotEqual(t, c.Replicas[0].Name, id.name(v))
				}
				t.Logf("%s: %s replica: check returned in %v (timeout %v); out of rotation, reads served elsewhere",
					k, map[string]string{"slow": "2 s latency on the", "hole": "black-holed"}[name], took.Round(time.Millisecond), timeout)
				require.NoError(t, px.Toxics.RemoveToxic(ctx, name))
				px.Stop() // cut the connections the toxic left hanging
				require.NoError(t, px.Start())
				require.Eventually(t, func() bool { return nodeStatus(db, "replica1").Healthy }, 20*time.Second, 10*time.Millisecond, "%s: never came back", name)
			}
		})
	}
}

// TestStatusAndAudit checks what operators see: roles, positions and lag in
// Status, and the risky settings the test clusters run with in Audit.
func TestStatusAndAudit(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.String(), func(t *testing.T) {
			t.Parallel() // each kind has its own servers
			c := clusters.Get(t, k)
			db := openCluster(t, c)
			ctx := context.Background()
			require.Eventually(t, func() bool {
				s := db.CheckNow(ctx)
				return s.WriterKnown && s.Nodes[1].Replication.Configured && s.Nodes[1].Lag.Known
			}, 30*time.Second, 10*time.Millisecond, "the writer, the replica's replication or its lag never became known") // a bound, not a figure: generous for a loaded machine
			s := db.Status()
			require.Equal(t, health.Primary, s.Nodes[0].Role)
			require.True(t, s.Nodes[0].Writable)
			require.False(t, s.Nodes[0].Position.IsZero())
			for _, n := range s.Nodes[1:] {
				require.Equal(t, health.Replica, n.Role)
				require.False(t, n.Writable)
				require.True(t, n.Healthy)
				require.Empty(t, n.Replication.LastError)
				require.Positive(t, n.Latency)
			}
			findings, err := health.Audit(ctx, db)
			require.NoError(t, err)
			got := map[string]health.Severity{}
			for _, f := range findings {
				got[f.Setting] = f.Severity
				t.Logf("%s audit: %s %s=%s: %s", k, f.Severity, f.Setting, f.Value, f.Advice)
			}
			if k == testcluster.Postgres {
				require.Equal(t, health.Critical, got["fsync"])
				require.Equal(t, health.Critical, got["full_page_writes"])
			} else {
				require.Equal(t, health.Warning, got["sync_binlog"])
				require.Equal(t, health.Warning, got["innodb_flush_log_at_trx_commit"])
			}
			require.NotContains(t, got, "replication")
		})
	}
}

// TestReplicationErrorIsReported breaks replication on purpose (a row
// written on the replica, then the same key on the primary): the error is
// reported in Status, by an event and by Audit, and never skipped.
func TestReplicationErrorIsReported(t *testing.T) {
	t.Parallel() // its clusters are its own
	for _, k := range kinds {
		t.Run(k.String(), func(t *testing.T) {
			t.Parallel() // each kind has its own servers
			if k == testcluster.Postgres {
				t.Skip("a PostgreSQL standby cannot take a conflicting write; physical replication has no apply errors to report")
			}
			c := testcluster.Start(t, k, testcluster.Options{Replicas: 1})
			var ev events
			db := openCluster(t, c, replica.OnEvent(ev.add))
			ctx := context.Background()
			table := fmt.Sprintf("conflict_%d", time.Now().UnixNano())
			_, err := db.Exec("CREATE TABLE " + table + " (id int PRIMARY KEY)")
			require.NoError(t, err)
			waitReplicated(t, c, "SELECT count(*) FROM "+table, 0)
			admin, err := c.OpenAdmin(c.Replicas[0])
			require.NoError(t, err)
			defer admin.Close()
			conn, err := admin.Conn(ctx)
			require.NoError(t, err)
			defer conn.Close()
			// An administrator bypasses read_only: the playbooks' classic
			// errant write.
			_, err = conn.ExecContext(ctx, "SET SESSION sql_log_bin = 0")
			require.NoError(t, err)
			if k == testcluster.MySQL {
				_, err = conn.ExecContext(ctx, "SET GLOBAL super_read_only = 0")
				require.NoError(t, err)
			}
			_, err = conn.ExecContext(ctx, "INSERT INTO "+table+" VALUES (1)")
			require.NoError(t, err)
			if k == testcluster.MySQL {
				_, err = conn.ExecContext(ctx, "SET GLOBAL super_read_only = 1")
				require.NoError(t, err)
			}
			_, err = db.Exec("INSERT INTO " + table + " VALUES (1)")
			require.NoError(t, err)
			// MySQL shows the error a moment before its applier reads "No".
			require.Eventually(t, func() bool {
				r := db.CheckNow(ctx).Nodes[1].Replication
				return r.LastError != "" && !r.Applying
			}, 20*time.Second, 20*time.Millisecond, "the replication error was not reported")
			e, ok := ev.first(health.ReplicationError, "replica1")
			require.True(t, ok, "no ReplicationError event")
			findings, err := health.Audit(ctx, db)
			require.NoError(t, err)
			found := false
			for _, f := range findings {
				if f.Setting == "replication" && f.Severity == health.Critical {
					found = true
				}
			}
			require.True(t, found, "Audit did not report the replication error")
			t.Logf("%s: replication error reported: %s", k, e.Detail)
		})
	}
}

// TestNoGoroutineOfARealDBOutlivesClose opens and closes DBs over real
// servers, checks running, and looks for any of the library's goroutines.
func TestNoGoroutineOfARealDBOutlivesClose(t *testing.T) {
	// Not parallel: it counts the goroutines of every DB in the process.
	c := clusters.Get(t, testcluster.Postgres)
	for i := 0; i < 3; i++ {
		db := openCluster(t, c, replica.CheckInterval(10*time.Millisecond))
		db.CheckNow(context.Background())
		require.NoError(t, db.Close())
	}
	var count atomic.Int32
	require.Eventually(t, func() bool {
		count.Store(int32(countOurGoroutines()))
		return count.Load() == 0
	}, 5*time.Second, 10*time.Millisecond, "goroutines of the library outlived Close")
}
