package replica_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sqlreplica/sqlreplica/internal/testcluster"
	"github.com/sqlreplica/sqlreplica/replica"
	"github.com/sqlreplica/sqlreplica/router"
)

// The clusters the tests share: the default ones, and clusters whose
// replicas are late, for the read-your-writes tests (which only create
// tables of their own on them). Tests that stop, kill or reconfigure
// servers start private ones with testcluster.Start.
var (
	clusters     testcluster.Set
	lateClusters = testcluster.Set{Options: func(testcluster.Kind) testcluster.Options {
		return testcluster.Options{Replicas: 1, Delay: 1500 * time.Millisecond}
	}}
	rywClusters = testcluster.Set{Options: func(testcluster.Kind) testcluster.Options {
		return testcluster.Options{Replicas: 2, Delay: 1500 * time.Millisecond}
	}}
)

func TestMain(m *testing.M) {
	code := clusters.Run(m)
	lateClusters.Stop()
	rywClusters.Stop()
	os.Exit(code)
}

// kinds are the servers the integration tests run on. MySQL comes from a
// best-effort route: its tests skip loudly when it is not there.
var kinds = []testcluster.Kind{testcluster.Postgres, testcluster.MariaDB, testcluster.MySQL}

// openCluster opens a replica.DB over every server of c.
func openCluster(t *testing.T, c *testcluster.Cluster, opts ...replica.Option) *replica.DB {
	t.Helper()
	dsns := make([]string, len(c.Replicas))
	for i, r := range c.Replicas {
		dsns[i] = c.DSN(r)
	}
	db, err := replica.Open(c.DriverName(), c.DSN(c.Primary), dsns, opts...)
	require.NoError(t, err)
	t.Cleanup(func() {
		// A node the test killed may fail to close its connections: only a
		// running node's error counts.
		names := map[string]*testcluster.Server{"primary": c.Primary}
		for i, r := range c.Replicas {
			names[fmt.Sprintf("replica%d", i+1)] = r
		}
		errs := []error{db.Close()}
		if j, ok := errs[0].(interface{ Unwrap() []error }); ok {
			errs = j.Unwrap()
		}
		for _, err := range errs {
			var ne *replica.NodeError
			if errors.As(err, &ne) && names[ne.Node] != nil && !names[ne.Node].Running() {
				continue
			}
			require.NoError(t, err)
		}
	})
	return db
}

// served asks the server that answers a statement who it is: "primary" or
// the replica's name. It appends the identity columns to a SELECT list, so
// the statement's routing is what is observed.
type identity struct {
	c     *testcluster.Cluster
	ports map[int]string // server port → name
	ids   map[int]string // MariaDB server_id → name
}

func newIdentity(c *testcluster.Cluster) *identity {
	id := &identity{c: c, ports: map[int]string{}, ids: map[int]string{}}
	for i, s := range c.Servers() {
		id.ports[s.Port] = s.Name
		id.ids[i+1] = s.Name
	}
	return id
}

// whoExpr is a SELECT expression naming the answering server.
func (id *identity) whoExpr() string {
	if id.c.Kind == testcluster.Postgres {
		return "current_setting('port')::int"
	}
	return "@@server_id"
}

func (id *identity) name(v int) string {
	if id.c.Kind == testcluster.Postgres {
		return id.ports[v]
	}
	return id.ids[v]
}

type queryRower interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// who runs "SELECT <who> <rest>" and names the server that answered.
func (id *identity) who(t *testing.T, ctx context.Context, q queryRower, rest string) string {
	t.Helper()
	var v int
	require.NoError(t, q.QueryRowContext(ctx, "SELECT "+id.whoExpr()+" "+rest).Scan(&v))
	return id.name(v)
}

func TestRoutingOnRealServers(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.String(), func(t *testing.T) {
			t.Parallel() // each kind has its own servers
			c := clusters.Get(t, k)
			db := openCluster(t, c)
			id := newIdentity(c)
			ctx := context.Background()
			table := fmt.Sprintf("routing_%d", time.Now().UnixNano())
			_, err := db.ExecContext(ctx, "CREATE TABLE "+table+" (id int PRIMARY KEY, v int)")
			require.NoError(t, err)

			// Reads spread over the replicas, never the primary.
			seen := map[string]int{}
			for i := 0; i < 20; i++ {
				seen[id.who(t, ctx, db, "")]++
			}
			require.Zero(t, seen["primary"], "reads reached the primary: %v", seen)
			require.Len(t, seen, len(c.Replicas), "reads not spread over every replica: %v", seen)

			// A write sent through QueryRow (INSERT … RETURNING) runs on the
			// primary. MySQL has no RETURNING.
			if k == testcluster.MySQL {
				_, err = db.ExecContext(ctx, "INSERT INTO "+table+" (id, v) VALUES (1, 10)")
				require.NoError(t, err)
			} else {
				var got int
				require.NoError(t, db.QueryRowContext(ctx, "INSERT INTO "+table+" (id, v) VALUES (1, 10) RETURNING v").Scan(&got))
				require.Equal(t, 10, got)
			}
			// A locking read runs on the primary.
			require.Equal(t, "primary", id.who(t, ctx, db, "FROM "+table+" WHERE id = 1 FOR UPDATE"))
			// A hint sends a read to the primary.
			require.Equal(t, "primary", id.who(t, replica.WithPrimary(ctx), db, ""))
			// No hint sends a statement the classifier keeps on the primary
			// (it changes session state) to a replica.
			keep := "WHERE set_config('application_name', 'x', false) = 'x'"
			if k != testcluster.Postgres {
				keep = "FROM DUAL WHERE RELEASE_LOCK('sqlreplica') IS NULL"
			}
			require.Equal(t, router.Write, router.Classify("SELECT 1"+keep))
			require.Equal(t, "primary", id.who(t, replica.WithReplica(ctx), db, keep))

			// A read-write transaction runs wholly on the primary, reads included.
			tx, err := db.BeginTx(ctx, nil)
			require.NoError(t, err)
			require.Equal(t, "primary", id.who(t, ctx, tx, ""))
			_, err = tx.ExecContext(ctx, "UPDATE "+table+" SET v = 11 WHERE id = 1")
			require.NoError(t, err)
			require.NoError(t, tx.Commit())

			// A read-only transaction runs on a replica, which refuses writes in it.
			tx, err = db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
			require.NoError(t, err)
			require.NotEqual(t, "primary", id.who(t, ctx, tx, ""))
			_, err = tx.ExecContext(ctx, "UPDATE "+table+" SET v = 12 WHERE id = 1")
			require.Error(t, err)
			require.NoError(t, tx.Rollback())

			// A prepared read runs on a replica, a prepared write on the primary.
			st, err := db.PrepareContext(ctx, "SELECT "+id.whoExpr())
			require.NoError(t, err)
			var v int
			require.NoError(t, st.QueryRowContext(ctx).Scan(&v))
			require.NotEqual(t, "primary", id.name(v))
			require.NoError(t, st.Close())
			upd := "UPDATE " + table + " SET v = v + 1 WHERE id = 1"
			st, err = db.PrepareContext(ctx, upd)
			require.NoError(t, err)
			_, err = st.ExecContext(ctx)
			require.NoError(t, err)
			require.NoError(t, st.Close())

			// The dialect is told from the driver and the server's version.
			want := map[testcluster.Kind]router.Dialect{
				testcluster.Postgres: router.PostgreSQL, testcluster.MariaDB: router.MariaDB, testcluster.MySQL: router.MySQL,
			}[k]
			require.Eventually(t, func() bool { return db.Dialect() == want }, 10*time.Second, 10*time.Millisecond)
			require.NoError(t, db.PingContext(ctx))
		})
	}
}

// TestReadThatWritesFallsBackToThePrimary runs a function that writes, which
// the classifier cannot know about: the replica refuses it as a write, and
// the library runs it on the primary, the only node that can.
func TestReadThatWritesFallsBackToThePrimary(t *testing.T) {
	t.Parallel() // a table and a function of its own on the shared clusters
	for _, k := range kinds {
		t.Run(k.String(), func(t *testing.T) {
			t.Parallel() // each kind has its own servers
			c := clusters.Get(t, k)
			ctx := context.Background()
			suffix := time.Now().UnixNano()
			table, fn := fmt.Sprintf("events_%d", suffix), fmt.Sprintf("record_event_%d", suffix)
			// The function is declared read-only by mistake, so that the
			// statement reaches a replica, which refuses it.
			db := openCluster(t, c, replica.ReadFunctions(fn))
			stmts := []string{"CREATE TABLE " + table + " (id int)"}
			if k == testcluster.Postgres {
				stmts = append(stmts, "CREATE FUNCTION "+fn+"() RETURNS int LANGUAGE sql AS $$ INSERT INTO "+table+" VALUES (1) RETURNING 1 $$")
			} else {
				stmts = append(stmts, "CREATE FUNCTION "+fn+"() RETURNS int MODIFIES SQL DATA BEGIN INSERT INTO "+table+" VALUES (1); RETURN 1; END")
			}
			for _, q := range stmts {
				_, err := db.ExecContext(ctx, q)
				require.NoError(t, err, q)
			}
			waitReplicated(t, c, "SELECT count(*) FROM "+table, 0)
			waitFunction(t, c, fn) // created after the table: it may reach the replicas later
			q := "SELECT " + fn + "()"
			cls, err := router.NewClassifier(db.Dialect(), router.Functions{Read: []string{fn}})
			require.NoError(t, err)
			require.Equal(t, router.Read, cls.Classify(q), "the classifier cannot know this function writes")
			var one int
			require.NoError(t, db.QueryRowContext(ctx, q).Scan(&one))
			require.Equal(t, 1, one)
			var n int
			require.NoError(t, db.QueryRowContext(replica.WithPrimary(ctx), "SELECT count(*) FROM "+table).Scan(&n))
			require.Equal(t, 1, n, "the write ran exactly once")
		})
	}
}

// waitReplicated waits until query returns want on every replica.
func waitReplicated(t *testing.T, c *testcluster.Cluster, query string, want int) {
	t.Helper()
	for _, s := range c.Replicas {
		r, err := c.Open(s)
		require.NoError(t, err)
		require.Eventually(t, func() bool {
			var n int
			return r.QueryRow(query).Scan(&n) == nil && n == want
		}, 15*time.Second, 10*time.Millisecond, "%s never returned %d for %s", s.Name, want, query)
		r.Close()
	}
}

// TestKilledReplicaUnderLoad kills a replica's server while readers run:
// every read outside a transaction still succeeds, served elsewhere.
func TestKilledReplicaUnderLoad(t *testing.T) {
	t.Parallel() // its clusters are its own
	for _, k := range kinds {
		t.Run(k.String(), func(t *testing.T) {
			t.Parallel() // each kind has its own servers
			c := testcluster.Start(t, k, testcluster.Options{Replicas: 2})
			db := openCluster(t, c)
			id := newIdentity(c)
			ctx := context.Background()
			stop := make(chan struct{})
			var (
				mu     sync.Mutex
				served = map[string]int{}
				errs   []error
				wg     sync.WaitGroup
			)
			for g := 0; g < 4; g++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						select {
						case <-stop:
							return
						default:
						}
						var v int
						err := db.QueryRowContext(ctx, "SELECT "+id.whoExpr()).Scan(&v)
						mu.Lock()
						if err != nil {
							errs = append(errs, err)
						} else {
							served[id.name(v)]++
						}
						mu.Unlock()
					}
				}()
			}
			time.Sleep(200 * time.Millisecond)
			require.NoError(t, c.Replicas[0].Kill())
			time.Sleep(100 * time.Millisecond) // let reads answered before the kill be counted
			mu.Lock()
			before := served[c.Replicas[0].Name]
			mu.Unlock()
			time.Sleep(500 * time.Millisecond)
			close(stop)
			wg.Wait()
			require.Empty(t, errs, "reads failed after a replica was killed")
			require.Equal(t, before, served[c.Replicas[0].Name], "the killed replica still served")
			require.NotZero(t, served[c.Replicas[1].Name], "the other replica served nothing: %v", served)
			t.Logf("served: %v", served)
		})
	}
}
