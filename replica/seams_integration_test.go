package replica_test

// Regression tests for the seams the adversarial review found in package
// replica (issue 7). Each test is named after the promise it holds the code
// to, tries the reported path and the side doors next to it, and bounds
// every wait: a hang becomes a failure within seconds.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sqlreplica/sqlreplica/consistency"
	"github.com/sqlreplica/sqlreplica/health"
	"github.com/sqlreplica/sqlreplica/internal/testcluster"
	"github.com/sqlreplica/sqlreplica/replica"
)

// errWriteOnReplica is the sentinel a statement that may write returns
// when it is run in a transaction on a replica: it was not sent.
var errWriteOnReplica = replica.ErrWriteOnReplica

// seamWait bounds every statement of these tests: a hang fails within it.
const seamWait = 5 * time.Second

// lateCluster returns the shared cluster whose only replica applies changes
// about 1.5 s late (2 s on MySQL and MariaDB): a read that a replica serves
// right after a write cannot see it.
func lateCluster(t *testing.T, k testcluster.Kind) *testcluster.Cluster {
	return lateClusters.Get(t, k)
}

// fastPrimary gives a late replica 100 ms to apply a session's writes
// before its read goes to the primary, instead of a second: the tests stay
// fast, and the late replica still cannot make it.
var fastPrimary = replica.ReadYourWrites(consistency.Policy{Wait: 100 * time.Millisecond})

// seamTable creates a table (id auto-numbered, k a key) and waits until
// every replica has it.
func seamTable(t *testing.T, c *testcluster.Cluster, db *replica.DB, prefix string) string {
	t.Helper()
	table := fmt.Sprintf("%s_%d", prefix, time.Now().UnixNano())
	id := "id int AUTO_INCREMENT PRIMARY KEY"
	if c.Kind == testcluster.Postgres {
		id = "id serial PRIMARY KEY"
	}
	_, err := db.Exec("CREATE TABLE " + table + " (" + id + ", k varchar(100))")
	require.NoError(t, err)
	waitReplicated(t, c, "SELECT count(*) FROM "+table, 0)
	return table
}

// writingFunc creates a function that inserts its argument into table and
// returns 1, declared nowhere: the classifier takes a call to it for a read.
func writingFunc(t *testing.T, c *testcluster.Cluster, db *replica.DB, table string) string {
	t.Helper()
	fn := table + "_inv"
	q := "CREATE FUNCTION " + fn + "(p varchar(100)) RETURNS int MODIFIES SQL DATA BEGIN INSERT INTO " + table + " (k) VALUES (p); RETURN 1; END"
	if c.Kind == testcluster.Postgres {
		q = "CREATE FUNCTION " + fn + "(p text) RETURNS int LANGUAGE sql AS $$ INSERT INTO " + table + " (k) VALUES (p) RETURNING 1 $$"
	}
	_, err := db.Exec(q)
	require.NoError(t, err)
	waitFunction(t, c, fn)
	return fn
}

// waitFunction waits until every replica has the function fn.
func waitFunction(t *testing.T, c *testcluster.Cluster, fn string) {
	t.Helper()
	q := "SELECT count(*) FROM information_schema.routines WHERE routine_name = '" + fn + "'"
	if c.Kind == testcluster.Postgres {
		q = "SELECT count(*) FROM pg_proc WHERE proname = '" + fn + "'"
	}
	waitReplicated(t, c, q, 1)
}

// hiddenCall calls fn(key) where the classifier does not look for a
// function that writes: in a WHERE clause, exactly once.
func hiddenCall(c *testcluster.Cluster, fn string) string {
	if c.Kind == testcluster.Postgres {
		return "SELECT 1 WHERE " + fn + "($1) = 1"
	}
	return "SELECT 1 FROM DUAL WHERE " + fn + "(?) = 1"
}

// countOn counts table's rows with key k on server s, asked directly.
func countOn(t *testing.T, c *testcluster.Cluster, s *testcluster.Server, table, k string) int {
	t.Helper()
	p, err := c.Open(s)
	require.NoError(t, err)
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), seamWait)
	defer cancel()
	var n int
	require.NoError(t, p.QueryRowContext(ctx, "SELECT count(*) FROM "+table+" WHERE k = "+ph(c, 1), k).Scan(&n))
	return n
}

// server returns c's server of that name.
func server(t *testing.T, c *testcluster.Cluster, name string) *testcluster.Server {
	t.Helper()
	for _, s := range c.Servers() {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no server named %q", name)
	return nil
}

// nodeDowns returns the NodeDown events seen so far.
func (e *events) nodeDowns() []health.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []health.Event
	for _, ev := range e.all {
		if ev.Kind == health.NodeDown {
			out = append(out, ev)
		}
	}
	return out
}

// requireAllHealthy fails unless every node is in rotation and no NodeDown
// event was emitted.
func requireAllHealthy(t *testing.T, db *replica.DB, ev *events) {
	t.Helper()
	for _, n := range db.Status().Nodes {
		assert.True(t, n.Healthy, "%s was taken out of rotation: %s", n.Name, n.LastError)
	}
	assert.Empty(t, ev.nodeDowns(), "NodeDown events")
}

// readyDB opens a DB over c that has checked every node once and found them
// all healthy.
func readyDB(t *testing.T, c *testcluster.Cluster, ev *events, opts ...replica.Option) *replica.DB {
	t.Helper()
	if ev != nil {
		opts = append(opts, replica.OnEvent(ev.add))
	}
	db := openCluster(t, c, opts...)
	require.Eventually(t, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), seamWait)
		defer cancel()
		s := db.CheckNow(ctx)
		for _, n := range s.Nodes {
			if !n.Healthy {
				return false
			}
		}
		return s.WriterKnown
	}, 15*time.Second, 20*time.Millisecond, "the nodes never all came up healthy")
	return db
}

// scanOne runs a one-row query with q's method and scans its first column.
type readVia func(ctx context.Context, db *replica.DB, query string, args ...any) (int64, error)

var (
	viaQueryRow readVia = func(ctx context.Context, db *replica.DB, query string, args ...any) (int64, error) {
		var v int64
		err := db.QueryRowContext(ctx, query, args...).Scan(&v)
		return v, err
	}
	viaQuery readVia = func(ctx context.Context, db *replica.DB, query string, args ...any) (int64, error) {
		rows, err := db.QueryContext(ctx, query, args...)
		if err != nil {
			return 0, err
		}
		defer rows.Close()
		var v int64
		if !rows.Next() {
			if err := rows.Err(); err != nil {
				return 0, err
			}
			return 0, sql.ErrNoRows
		}
		if err := rows.Scan(&v); err != nil {
			return 0, err
		}
		for rows.Next() {
		}
		return v, errors.Join(rows.Err(), rows.Close())
	}
	viaReadOnlyTx readVia = func(ctx context.Context, db *replica.DB, query string, args ...any) (int64, error) {
		tx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
		if err != nil {
			return 0, err
		}
		var v int64
		err = tx.QueryRowContext(ctx, query, args...).Scan(&v)
		return v, errors.Join(err, tx.Rollback())
	}
)

// 1. ---------------------------------------------------------------------

// TestSessionReadNeverWaitsForAConnectionItHolds: a session read that ends
// on the primary, with a pool of one connection, returns at once and leaves
// the primary in rotation; 40 concurrent session reads on pools of 10 all
// succeed. Every path that sends a session read to the primary is tried, with
// every read method.
func TestSessionReadNeverWaitsForAConnectionItHolds(t *testing.T) {
	t.Parallel() // it only adds tables to the clusters it shares
	for _, k := range kinds {
		t.Run(k.String(), func(t *testing.T) {
			t.Parallel() // each kind has its own servers
			c := lateCluster(t, k)
			setup := openCluster(t, c)
			table := seamTable(t, c, setup, "pool")
			insert := "INSERT INTO " + table + " (k) VALUES (" + ph(c, 1) + ")"

			// Each path makes a session whose next read must run on the primary.
			paths := []struct {
				name string
				make func(t *testing.T, db *replica.DB) context.Context
			}{
				{"after-write window", func(t *testing.T, db *replica.DB) context.Context {
					ctx := consistency.WithSession(context.Background(), consistency.PrimaryAfterWrite(time.Minute))
					_, err := db.ExecContext(ctx, insert, "window")
					require.NoError(t, err)
					return ctx
				}},
				{"token the replicas lack", func(t *testing.T, db *replica.DB) context.Context {
					ctx := consistency.WithSession(context.Background())
					_, err := db.ExecContext(ctx, insert, "lack")
					require.NoError(t, err)
					return consistency.WithPolicy(ctx, consistency.Policy{Wait: 100 * time.Millisecond})
				}},
				{"forged token ahead of the primary", func(t *testing.T, db *replica.DB) context.Context {
					ctx := consistency.WithSession(context.Background())
					_, err := db.ExecContext(ctx, insert, "forged")
					require.NoError(t, err)
					return consistency.WithToken(ctx, forgedToken(t, c, consistency.SessionFrom(ctx).Token()))
				}},
				{"unsure session", func(t *testing.T, db *replica.DB) context.Context {
					ctx := consistency.WithSession(context.Background())
					s := consistency.SessionFrom(ctx)
					s.RecordLater(func(context.Context) (consistency.Token, error) {
						return consistency.Token{}, errors.New("position unknown")
					})
					require.Error(t, s.Resolve(context.Background()))
					require.True(t, s.Unsure())
					return ctx
				}},
			}
			methods := []struct {
				name string
				read readVia
			}{{"QueryRowContext", viaQueryRow}, {"QueryContext", viaQuery}, {"BeginTx read-only", viaReadOnlyTx}}
			for _, p := range paths {
				for _, m := range methods {
					t.Run(p.name+"/"+m.name, func(t *testing.T) {
						var ev events
						db := readyDB(t, c, &ev)
						db.SetMaxOpenConns(1)
						ctx := p.make(t, db)
						rctx, cancel := context.WithTimeout(ctx, seamWait)
						defer cancel()
						start := time.Now()
						v, err := m.read(rctx, db, "SELECT 1")
						took := time.Since(start)
						require.NoError(t, err, "the read failed after %v", took.Round(time.Millisecond))
						require.EqualValues(t, 1, v)
						require.Less(t, took, 2*time.Second, "the read waited")
						// The pool must have its connection back: a check gets it.
						cctx, ccancel := context.WithTimeout(context.Background(), 2*time.Second)
						defer ccancel()
						db.CheckNow(cctx)
						requireAllHealthy(t, db, &ev)
					})
				}
			}

			t.Run("40 concurrent session reads on pools of 10", func(t *testing.T) {
				var ev events
				db := readyDB(t, c, &ev)
				db.SetMaxOpenConns(10)
				const n = 40
				ctxs := make([]context.Context, n)
				for i := range ctxs {
					ctxs[i] = consistency.WithSession(context.Background(), consistency.PrimaryAfterWrite(time.Minute))
					_, err := db.ExecContext(ctxs[i], insert, fmt.Sprintf("c%d", i))
					require.NoError(t, err)
				}
				var (
					wg     sync.WaitGroup
					mu     sync.Mutex
					failed []error
				)
				for i := range ctxs {
					wg.Add(1)
					go func() {
						defer wg.Done()
						rctx, cancel := context.WithTimeout(ctxs[i], seamWait)
						defer cancel()
						read := []readVia{viaQueryRow, viaQuery, viaReadOnlyTx}[i%3]
						if _, err := read(rctx, db, "SELECT 1"); err != nil {
							mu.Lock()
							failed = append(failed, err)
							mu.Unlock()
						}
					}()
				}
				wg.Wait()
				require.Empty(t, failed, "%d of %d concurrent session reads failed", len(failed), n)
				requireAllHealthy(t, db, &ev)
			})
		})
	}
}

// forgedToken returns a token far ahead of real, on the same cluster.
func forgedToken(t *testing.T, c *testcluster.Cluster, real consistency.Token) consistency.Token {
	t.Helper()
	require.False(t, real.IsZero())
	var (
		tok consistency.Token
		err error
	)
	switch c.Kind {
	case testcluster.Postgres:
		lsn, sys, tli := real.LSN()
		tok = consistency.PostgresToken(sys, tli, lsn+1<<40)
	case testcluster.MariaDB:
		tok, err = consistency.MariaDBToken("0-1-999999999")
	default:
		tok, err = consistency.MySQLToken(strings.Split(real.GTID(), ":")[0] + ":1-999999999")
	}
	require.NoError(t, err)
	return tok
}

// 2. ---------------------------------------------------------------------

// TestGoroutinesSharingASessionReadItsWrites: after a write whose position
// is read late (INSERT … RETURNING through QueryRowContext or QueryContext),
// goroutines reading with the same session all see it, next to a replica
// that has not applied it; so does Token taken by one of them.
func TestGoroutinesSharingASessionReadItsWrites(t *testing.T) {
	t.Parallel() // it only adds tables to the clusters it shares
	for _, k := range kinds {
		t.Run(k.String(), func(t *testing.T) {
			t.Parallel() // each kind has its own servers
			if k == testcluster.MySQL {
				t.Skip("MySQL has no INSERT … RETURNING: its writes are all recorded when they return")
			}
			c := lateCluster(t, k)
			db := openCluster(t, c, fastPrimary)
			table := seamTable(t, c, db, "shared")
			ins := "INSERT INTO " + table + " (k) VALUES (" + ph(c, 1) + ") RETURNING id"
			sel := "SELECT count(*) FROM " + table + " WHERE id = " + ph(c, 1)
			writes := []struct {
				name  string
				write readVia
			}{{"QueryRowContext", viaQueryRow}, {"QueryContext", viaQuery}}
			readers := []readVia{viaQueryRow, viaQuery, viaReadOnlyTx, nil} // nil: Token, then a read with it
			for _, w := range writes {
				t.Run(w.name, func(t *testing.T) {
					stale, reads := 0, 0
					var mu sync.Mutex
					for round := 0; round < 10; round++ {
						ctx, cancel := context.WithTimeout(consistency.WithSession(context.Background()), seamWait)
						id, err := w.write(ctx, db, ins, fmt.Sprintf("r%d", round))
						require.NoError(t, err)
						var wg sync.WaitGroup
						for _, r := range readers {
							wg.Add(1)
							go func() {
								defer wg.Done()
								rctx := ctx
								if r == nil {
									tok := consistency.SessionFrom(ctx).Token()
									rctx, r = consistency.WithToken(context.Background(), tok), viaQueryRow
								}
								n, err := r(rctx, db, sel, id)
								mu.Lock()
								defer mu.Unlock()
								reads++
								if assert.NoError(t, err) && n == 0 {
									stale++
								}
							}()
						}
						wg.Wait()
						cancel()
					}
					require.Zero(t, stale, "%d of %d reads by goroutines sharing the writing session were stale", stale, reads)
				})
			}
		})
	}
}

// 3. ---------------------------------------------------------------------

// TestSessionReadsNeverGoBackInTime: concurrent sessions alternate a slow
// read on the primary (its snapshot is taken 50 ms after it starts) and a
// read on a replica about a second behind, while rows are inserted in the
// background: no session reads a lower max(id) after a higher one.
func TestSessionReadsNeverGoBackInTime(t *testing.T) {
	t.Parallel() // its clusters are its own
	for _, k := range kinds {
		t.Run(k.String(), func(t *testing.T) {
			t.Parallel() // each kind has its own servers
			c := testcluster.Start(t, k, testcluster.Options{Replicas: 1, Delay: time.Second})
			db := openCluster(t, c, replica.ReadYourWrites(consistency.Policy{Wait: 3 * time.Second}))
			table := seamTable(t, c, db, "mono")
			slow := table + "_max"
			q := "CREATE FUNCTION " + slow + "() RETURNS int READS SQL DATA BEGIN DECLARE x INT; SET x = SLEEP(0.05); RETURN (SELECT max(id) FROM " + table + "); END"
			if k == testcluster.Postgres {
				q = "CREATE FUNCTION " + slow + "() RETURNS int LANGUAGE plpgsql VOLATILE AS $$ BEGIN PERFORM pg_sleep(0.05); RETURN (SELECT max(id) FROM " + table + "); END $$"
			}
			_, err := db.Exec(q)
			require.NoError(t, err)
			waitFunction(t, c, slow)
			insert := "INSERT INTO " + table + " (k) VALUES (" + ph(c, 1) + ")"
			stop := make(chan struct{})
			var bg sync.WaitGroup
			for w := 0; w < 2; w++ {
				bg.Add(1)
				go func() {
					defer bg.Done()
					for {
						select {
						case <-stop:
							return
						case <-time.After(time.Millisecond):
						}
						_, _ = db.Exec(insert, "bg")
					}
				}()
			}
			defer func() { close(stop); bg.Wait() }()

			const sessions, rounds = 30, 2
			var (
				wg          sync.WaitGroup
				mu          sync.Mutex
				regressions []string
				total       int
			)
			for sid := 0; sid < sessions; sid++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					ctx := consistency.WithSession(context.Background())
					var seen int64
					var log []string
					read := func(r int, what string, pol consistency.Policy, q string) bool {
						rctx, cancel := context.WithTimeout(consistency.WithPolicy(ctx, pol), seamWait)
						defer cancel()
						v, err := []readVia{viaQueryRow, viaQuery}[sid%2](rctx, db, q)
						if !assert.NoError(t, err) {
							return false
						}
						log = append(log, fmt.Sprintf("round %d %s: %d", r, what, v))
						mu.Lock()
						defer mu.Unlock()
						total++
						if v < seen {
							regressions = append(regressions, fmt.Sprintf("session %d read %d after %d:\n  %s", sid, v, seen, strings.Join(log, "\n  ")))
						}
						seen = max(seen, v)
						return true
					}
					for r := 0; r < rounds; r++ {
						// A write of the session: the next read, allowed no wait,
						// runs on the primary; the one after it waits for the replica.
						if _, err := db.ExecContext(ctx, insert, fmt.Sprintf("s%d", sid)); !assert.NoError(t, err) {
							return
						}
						if !read(r, "slow read on the primary", consistency.Policy{Wait: -1}, "SELECT "+slow+"()") ||
							!read(r, "read on the replica", consistency.Policy{Wait: 3 * time.Second}, "SELECT max(id) FROM "+table) {
							return
						}
					}
				}()
			}
			wg.Wait()
			require.Empty(t, regressions, "%d of %d session reads went back in time", len(regressions), total)
		})
	}
}

// 4. ---------------------------------------------------------------------

// writeCase is a way for a write to reach the primary; key is its row's.
type writeCase struct {
	name      string
	returning bool // needs INSERT … RETURNING
	write     func(ctx context.Context, key string) error
}

// writesThatReachThePrimary are the ways a write reaches the primary that
// the routing must not mistake for reads: a writing function the classifier
// cannot know writes (fn, inserting its argument into table) through every
// read method and hidden in a WHERE clause, and inserts under WithReplica.
func writesThatReachThePrimary(c *testcluster.Cluster, db *replica.DB, table, fn string) []writeCase {
	p := ph(c, 1)
	return []writeCase{
		{"undeclared writing function via QueryRowContext", false, func(ctx context.Context, key string) error {
			_, err := viaQueryRow(ctx, db, "SELECT "+fn+"("+p+")", key)
			return err
		}},
		{"undeclared writing function via QueryContext", false, func(ctx context.Context, key string) error {
			_, err := viaQuery(ctx, db, "SELECT "+fn+"("+p+")", key)
			return err
		}},
		{"undeclared writing function via ExecContext", false, func(ctx context.Context, key string) error {
			_, err := db.ExecContext(ctx, "SELECT "+fn+"("+p+")", key)
			return err
		}},
		{"writing function hidden in a WHERE clause", false, func(ctx context.Context, key string) error {
			_, err := viaQueryRow(ctx, db, hiddenCall(c, fn), key)
			return err
		}},
		{"INSERT via ExecContext under WithReplica", false, func(ctx context.Context, key string) error {
			_, err := db.ExecContext(replica.WithReplica(ctx), "INSERT INTO "+table+" (k) VALUES ("+p+")", key)
			return err
		}},
		{"INSERT … RETURNING via QueryRowContext under WithReplica", true, func(ctx context.Context, key string) error {
			_, err := viaQueryRow(replica.WithReplica(ctx), db, "INSERT INTO "+table+" (k) VALUES ("+p+") RETURNING id", key)
			return err
		}},
	}
}

// TestEveryWriteThatReachesThePrimaryIsTheSessions: a write that reaches
// the primary by any path (a function the classifier cannot know writes, a
// write under WithReplica) is the session's write: its token is not zero,
// PrimaryAfterWrite opens, and a read given the token in another request,
// by string or through the middleware, sees it next to a late replica.
func TestEveryWriteThatReachesThePrimaryIsTheSessions(t *testing.T) {
	t.Parallel() // it only adds tables to the clusters it shares
	for _, k := range kinds {
		t.Run(k.String(), func(t *testing.T) {
			t.Parallel() // each kind has its own servers
			c := lateCluster(t, k)
			db := openCluster(t, c, fastPrimary)
			table := seamTable(t, c, db, "fallback")
			fn := writingFunc(t, c, db, table)
			p := ph(c, 1)
			writes := writesThatReachThePrimary(c, db, table, fn)
			read := func(ctx context.Context, key string) (int64, error) {
				return viaQueryRow(ctx, db, "SELECT count(*) FROM "+table+" WHERE k = "+p, key)
			}
			// The late replica makes a read without the write's position stale.
			_, err := db.Exec("INSERT INTO "+table+" (k) VALUES ("+p+")", "control")
			require.NoError(t, err)
			n, err := read(context.Background(), "control")
			require.NoError(t, err)
			require.Zero(t, n, "the late replica had the write at once: this test could not fail")

			for i, w := range writes {
				t.Run(w.name, func(t *testing.T) {
					if w.returning && k == testcluster.MySQL {
						t.Skip("MySQL has no INSERT … RETURNING")
					}
					key := fmt.Sprintf("w%d", i)
					ctx, cancel := context.WithTimeout(consistency.WithSession(context.Background(), consistency.PrimaryAfterWrite(time.Minute)), seamWait)
					defer cancel()
					require.NoError(t, w.write(ctx, key))
					require.Equal(t, 1, countOn(t, c, c.Primary, table, key), "the write ran once, on the primary")
					s := consistency.SessionFrom(ctx)
					tok := s.Token()
					assert.False(t, tok.IsZero(), "the session's token is empty after its write")
					assert.True(t, s.OnPrimary(time.Now()), "PrimaryAfterWrite did not open after the write")
					n, err := read(ctx, key)
					require.NoError(t, err)
					assert.EqualValues(t, 1, n, "the session's next read did not see its write")
					parsed, err := consistency.ParseToken(tok.String())
					if assert.NoError(t, err, "token %q", tok.String()) {
						n, err = read(consistency.WithToken(context.Background(), parsed), key)
						require.NoError(t, err)
						assert.EqualValues(t, 1, n, "a read given the token did not see the write")
					}

					// The same across an HTTP hop, the token in a cookie.
					hkey := key + "-http"
					put := httptest.NewServer(consistency.Middleware(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
						if err := w.write(r.Context(), hkey); err != nil {
							http.Error(rw, err.Error(), http.StatusInternalServerError)
							return
						}
						rw.WriteHeader(http.StatusCreated)
					})))
					defer put.Close()
					get := httptest.NewServer(consistency.Middleware(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
						n, err := read(r.Context(), hkey)
						switch {
						case err != nil:
							http.Error(rw, err.Error(), http.StatusInternalServerError)
						case n == 0:
							http.NotFound(rw, r)
						}
					})))
					defer get.Close()
					jar, _ := cookiejar.New(nil)
					client := &http.Client{Jar: jar, Timeout: seamWait}
					resp, err := client.Post(put.URL, "text/plain", nil)
					require.NoError(t, err)
					resp.Body.Close()
					require.Equal(t, http.StatusCreated, resp.StatusCode)
					assert.NotEmpty(t, resp.Header.Get("Replica-Token"), "no token crossed the hop")
					resp, err = client.Get(get.URL)
					require.NoError(t, err)
					resp.Body.Close()
					assert.Equal(t, http.StatusOK, resp.StatusCode, "the next request read stale data")
				})
			}
		})
	}
}

// 5. ---------------------------------------------------------------------

// TestAWritesPositionIsTakenAfterItCommits: the rows of a large INSERT …
// RETURNING are read slowly, with another read of the session in between:
// the session's next read, and a read given its token, see every row next to
// a late replica.
func TestAWritesPositionIsTakenAfterItCommits(t *testing.T) {
	t.Parallel() // it only adds tables to the clusters it shares
	// 100,000 rows of 400 bytes, 40 MB, are far more than the socket
	// buffers hold, so the server is still sending rows, and has not
	// committed, when the first row is read.
	const rows = 100000
	c := lateCluster(t, testcluster.Postgres)
	db := openCluster(t, c)
	table := fmt.Sprintf("late_commit_%d", time.Now().UnixNano())
	_, err := db.Exec("CREATE TABLE " + table + " (id serial PRIMARY KEY, batch int)")
	require.NoError(t, err)
	waitReplicated(t, c, "SELECT count(*) FROM "+table, 0)
	between := []struct {
		name string
		do   func(ctx context.Context) error
	}{
		{"a read of the session", func(ctx context.Context) error {
			_, err := viaQueryRow(ctx, db, "SELECT 1")
			return err
		}},
		{"the session's Token", func(ctx context.Context) error {
			consistency.SessionFrom(ctx).Token()
			return nil
		}},
	}
	for b, mid := range between {
		t.Run(mid.name, func(t *testing.T) {
			// Token waits five seconds for the open rows before it gives
			// up, and reading 40 MB under -race on a loaded machine takes
			// seconds more: the bound is generous so only a hang fails.
			ctx, cancel := context.WithTimeout(consistency.WithSession(context.Background()), time.Minute)
			defer cancel()
			start := time.Now()
			rs, err := db.QueryContext(ctx, "INSERT INTO "+table+" (batch) SELECT $1 FROM generate_series(1, $2) RETURNING id, repeat('x', 400)", b, rows)
			require.NoError(t, err)
			require.True(t, rs.Next(), "no first row: %v", rs.Err())
			require.NoError(t, mid.do(ctx))
			got := 1
			for rs.Next() {
				got++
			}
			require.NoError(t, rs.Err())
			require.NoError(t, rs.Close())
			require.Equal(t, rows, got)
			t.Logf("insert of %d rows read in %v", rows, time.Since(start).Round(time.Millisecond))
			var n int
			require.NoError(t, db.QueryRowContext(ctx, "SELECT count(*) FROM "+table+" WHERE batch = $1", b).Scan(&n))
			assert.Equal(t, rows, n, "the session's next read did not see its committed write")
			tok := consistency.SessionFrom(ctx).Token()
			require.NoError(t, db.QueryRowContext(consistency.WithToken(ctx, tok), "SELECT count(*) FROM "+table+" WHERE batch = $1", b).Scan(&n))
			assert.Equal(t, rows, n, "a read given the session's token did not see its write")
		})
	}
}

// 6. ---------------------------------------------------------------------

// TestSplitBrainSendsNoWrite: with two writable nodes, every write is
// refused with ErrSplitBrain and reaches no node, whatever path it takes;
// reads under WithPrimary still run.
func TestSplitBrainSendsNoWrite(t *testing.T) {
	t.Parallel() // its clusters are its own
	for _, k := range kinds {
		t.Run(k.String(), func(t *testing.T) {
			t.Parallel() // each kind has its own servers
			replicas := 1
			if k == testcluster.Postgres {
				replicas = 2 // one is promoted; the other stays a replica
			}
			c := testcluster.Start(t, k, testcluster.Options{Replicas: replicas})
			db := readyDB(t, c, nil)
			table := seamTable(t, c, db, "split")
			fn := writingFunc(t, c, db, table)
			p := ph(c, 1)
			if k == testcluster.Postgres {
				promote(t, c, c.Replicas[0])
			} else {
				admin, err := c.OpenAdmin(c.Replicas[0])
				require.NoError(t, err)
				defer admin.Close()
				qs := []string{"SET GLOBAL read_only = 0"}
				if k == testcluster.MySQL {
					qs = []string{"SET GLOBAL super_read_only = 0", "SET GLOBAL read_only = 0"}
				}
				for _, q := range qs {
					_, err := admin.Exec(q)
					require.NoError(t, err)
				}
			}
			require.Eventually(t, func() bool {
				ctx, cancel := context.WithTimeout(context.Background(), seamWait)
				defer cancel()
				return db.CheckNow(ctx).SplitBrain
			}, 15*time.Second, 20*time.Millisecond, "no split brain detected")

			writes := append(writesThatReachThePrimary(c, db, table, fn), []writeCase{
				{"undeclared writing function in a session", false, func(ctx context.Context, key string) error {
					_, err := viaQueryRow(consistency.WithSession(ctx), db, "SELECT "+fn+"("+p+")", key)
					return err
				}},
				{"undeclared writing function under WithPrimary", false, func(ctx context.Context, key string) error {
					_, err := viaQueryRow(replica.WithPrimary(ctx), db, "SELECT "+fn+"("+p+")", key)
					return err
				}},
				{"INSERT via ExecContext", false, func(ctx context.Context, key string) error {
					_, err := db.ExecContext(ctx, "INSERT INTO "+table+" (k) VALUES ("+p+")", key)
					return err
				}},
				{"INSERT in a transaction begun under WithReplica", false, func(ctx context.Context, key string) error {
					tx, err := db.BeginTx(replica.WithReplica(ctx), nil)
					if err != nil {
						return err
					}
					defer tx.Rollback()
					if _, err := tx.ExecContext(ctx, "INSERT INTO "+table+" (k) VALUES ("+p+")", key); err != nil {
						return err
					}
					return tx.Commit()
				}},
			}...)
			for i, w := range writes {
				t.Run(w.name, func(t *testing.T) {
					if w.returning && k == testcluster.MySQL {
						t.Skip("MySQL has no INSERT … RETURNING")
					}
					key := fmt.Sprintf("split%d", i)
					ctx, cancel := context.WithTimeout(context.Background(), seamWait)
					defer cancel()
					err := w.write(ctx, key)
					if strings.Contains(w.name, "transaction begun under WithReplica") {
						// Refused either way: no primary to fall back to, or a write in a
						// transaction on a replica.
						if assert.Error(t, err) && !errors.Is(err, replica.ErrSplitBrain) {
							assert.ErrorIs(t, err, errWriteOnReplica)
						}
					} else {
						assert.ErrorIs(t, err, replica.ErrSplitBrain)
					}
					time.Sleep(100 * time.Millisecond) // let a write that got through replicate
					for _, s := range c.Servers() {
						assert.Zero(t, countOn(t, c, s, table, key), "the refused write reached %s", s.Name)
					}
				})
			}

			reads := []struct {
				name string
				read func(ctx context.Context) error
			}{
				{"QueryRowContext", func(ctx context.Context) error { _, err := viaQueryRow(ctx, db, "SELECT 1"); return err }},
				{"QueryContext", func(ctx context.Context) error { _, err := viaQuery(ctx, db, "SELECT 1"); return err }},
				{"ExecContext", func(ctx context.Context) error { _, err := db.ExecContext(ctx, "SELECT 1"); return err }},
				{"BeginTx read-only", func(ctx context.Context) error { _, err := viaReadOnlyTx(ctx, db, "SELECT 1"); return err }},
			}
			for _, r := range reads {
				t.Run("read under WithPrimary via "+r.name, func(t *testing.T) {
					ctx, cancel := context.WithTimeout(context.Background(), seamWait)
					defer cancel()
					assert.NoError(t, r.read(replica.WithPrimary(ctx)))
				})
			}
		})
	}
}

// 7. ---------------------------------------------------------------------

// TestWithReplicaNeverSendsAWriteToAReplica: a write under WithReplica runs
// on the primary and is the session's write; in a transaction begun on a
// replica with WithReplica, a statement that may write or lock fails with
// ErrWriteOnReplica and is never sent: the replica holds no lock.
func TestWithReplicaNeverSendsAWriteToAReplica(t *testing.T) {
	t.Parallel() // a table and lock keys of its own on the shared clusters
	for _, k := range kinds {
		t.Run(k.String(), func(t *testing.T) {
			t.Parallel() // each kind has its own servers
			c := clusters.Get(t, k)
			db := openCluster(t, c)
			table := seamTable(t, c, db, "hint")
			p := ph(c, 1)
			_, err := db.Exec("INSERT INTO "+table+" (k) VALUES ("+p+")", "locked")
			require.NoError(t, err)
			waitReplicated(t, c, "SELECT count(*) FROM "+table, 1)

			t.Run("ExecContext INSERT runs on the primary as the session's write", func(t *testing.T) {
				ctx, cancel := context.WithTimeout(consistency.WithSession(context.Background()), seamWait)
				defer cancel()
				_, err := db.ExecContext(replica.WithReplica(ctx), "INSERT INTO "+table+" (k) VALUES ("+p+")", "hinted")
				require.NoError(t, err)
				require.Equal(t, 1, countOn(t, c, c.Primary, table, "hinted"))
				assert.False(t, consistency.SessionFrom(ctx).Token().IsZero(), "not recorded as the session's write")
			})

			lockKey := time.Now().UnixNano()%1000000 + 1000000
			lockName := fmt.Sprintf("seam7_%d", lockKey)
			lock := fmt.Sprintf("SELECT GET_LOCK('%s', 0)", lockName)
			if k == testcluster.Postgres {
				lock = fmt.Sprintf("SELECT pg_advisory_lock(%d)", lockKey)
			}
			// lockFree asks s directly whether the lock is free.
			lockFree := func(t *testing.T, s *testcluster.Server) bool {
				pdb, err := c.Open(s)
				require.NoError(t, err)
				defer pdb.Close()
				ctx, cancel := context.WithTimeout(context.Background(), seamWait)
				defer cancel()
				if k == testcluster.Postgres {
					var n int
					require.NoError(t, pdb.QueryRowContext(ctx, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = $1", lockKey).Scan(&n))
					return n == 0
				}
				var free sql.NullInt64
				require.NoError(t, pdb.QueryRowContext(ctx, "SELECT IS_FREE_LOCK(?)", lockName).Scan(&free))
				return free.Valid && free.Int64 == 1
			}
			stmts := []struct {
				name, query string
				query2      bool // run with QueryRowContext rather than ExecContext
			}{
				{"INSERT via ExecContext", "INSERT INTO " + table + " (k) VALUES ('tx')", false},
				{"INSERT via QueryContext", "INSERT INTO " + table + " (k) VALUES ('tx')", true},
				{"locking read", "SELECT id FROM " + table + " WHERE k = 'locked' FOR UPDATE", true},
				{"locking read via ExecContext", "SELECT id FROM " + table + " WHERE k = 'locked' FOR UPDATE", false},
				{"advisory lock", lock, true},
				{"advisory lock via ExecContext", lock, false},
			}
			for _, st := range stmts {
				t.Run("in a transaction on a replica: "+st.name, func(t *testing.T) {
					ctx, cancel := context.WithTimeout(context.Background(), seamWait)
					defer cancel()
					tx, err := db.BeginTx(replica.WithReplica(ctx), nil)
					require.NoError(t, err)
					require.NotEqual(t, "primary", tx.Node(), "WithReplica began the transaction on the primary")
					if st.query2 {
						var rows *sql.Rows
						rows, err = tx.QueryContext(ctx, st.query)
						if err == nil {
							for rows.Next() {
							}
							err = errors.Join(rows.Err(), rows.Close())
						}
					} else {
						_, err = tx.ExecContext(ctx, st.query)
					}
					if assert.Error(t, err, "the statement ran on the replica") {
						assert.ErrorIs(t, err, errWriteOnReplica, "the replica's own refusal is not ErrWriteOnReplica: the statement was sent")
					}
					s := server(t, c, tx.Node())
					assert.True(t, lockFree(t, s), "the replica holds the lock while the transaction is open")
					_ = tx.Rollback()
					assert.True(t, lockFree(t, s), "the replica holds the lock after the rollback")
				})
			}
		})
	}
}

// 8. ---------------------------------------------------------------------

// TestCallersDeadlineNeverMarksANodeDown: a statement whose context was
// cancelled, had expired, or expires while it runs fails with the context's
// error, and no node leaves rotation for it, on a replica or the primary.
func TestCallersDeadlineNeverMarksANodeDown(t *testing.T) {
	t.Parallel() // a table of its own on the shared clusters
	for _, k := range kinds {
		t.Run(k.String(), func(t *testing.T) {
			t.Parallel() // each kind has its own servers
			c := clusters.Get(t, k)
			setup := openCluster(t, c)
			table := seamTable(t, c, setup, "deadline")
			p := ph(c, 1)
			sleep := "SELECT SLEEP(3)"
			slowInsert := "INSERT INTO " + table + " (k) SELECT 'slow' FROM DUAL WHERE SLEEP(3) = 0"
			if k == testcluster.Postgres {
				sleep = "SELECT 1 FROM pg_sleep(3)"
				slowInsert = "INSERT INTO " + table + " (k) SELECT 'slow' FROM pg_sleep(3)"
			}
			insert := "INSERT INTO " + table + " (k) VALUES (" + p + ")"
			// ctxKinds derive the statement's context from base.
			type ctxKind struct {
				name string
				make func(base context.Context) (context.Context, context.CancelFunc)
			}
			expired := ctxKind{"expired", func(base context.Context) (context.Context, context.CancelFunc) {
				return context.WithDeadline(base, time.Now().Add(-time.Second))
			}}
			cancelled := ctxKind{"cancelled", func(base context.Context) (context.Context, context.CancelFunc) {
				ctx, cancel := context.WithCancel(base)
				cancel()
				return ctx, cancel
			}}
			midway := ctxKind{"expiring mid-statement", func(base context.Context) (context.Context, context.CancelFunc) {
				return context.WithTimeout(base, 300*time.Millisecond)
			}}
			type op func(ctx context.Context, db *replica.DB) error
			write := func(ctx context.Context, db *replica.DB) error {
				_, err := db.ExecContext(ctx, insert, "w")
				return err
			}
			slowWrite := func(ctx context.Context, db *replica.DB) error { _, err := db.ExecContext(ctx, slowInsert); return err }
			read := func(q string) op {
				return func(ctx context.Context, db *replica.DB) error { _, err := viaQueryRow(ctx, db, q); return err }
			}
			readQuery := func(q string) op {
				return func(ctx context.Context, db *replica.DB) error { _, err := viaQuery(ctx, db, q); return err }
			}
			primary := func(t *testing.T, db *replica.DB) context.Context { return replica.WithPrimary(context.Background()) }
			// window makes a session whose reads run on the primary.
			window := func(t *testing.T, db *replica.DB) context.Context {
				ctx := consistency.WithSession(context.Background(), consistency.PrimaryAfterWrite(time.Minute))
				_, err := db.ExecContext(ctx, insert, "s")
				require.NoError(t, err)
				return ctx
			}
			rows := []struct {
				name string
				base func(t *testing.T, db *replica.DB) context.Context // nil: context.Background
				ctx  ctxKind
				op   op
			}{
				{"write via ExecContext", nil, expired, write},
				{"write via ExecContext", nil, cancelled, write},
				{"write via ExecContext", nil, midway, slowWrite},
				{"write via ExecContext in a session", window, midway, slowWrite},
				{"locking read via QueryRowContext", nil, expired, read("SELECT count(*) FROM " + table + " WHERE k = 'x' FOR UPDATE")},
				{"BeginTx", nil, expired, func(ctx context.Context, db *replica.DB) error { _, err := db.BeginTx(ctx, nil); return err }},
				{"BeginTx read-only", nil, expired, func(ctx context.Context, db *replica.DB) error {
					_, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
					return err
				}},
				{"PrepareContext of a write", nil, expired, func(ctx context.Context, db *replica.DB) error { _, err := db.PrepareContext(ctx, insert); return err }},
				{"Conn", nil, expired, func(ctx context.Context, db *replica.DB) error { _, err := db.Conn(ctx); return err }},
				{"read on a replica", nil, expired, read("SELECT 1")},
				{"read on a replica", nil, cancelled, read("SELECT 1")},
				{"read on a replica", nil, midway, read(sleep)},
				{"read via QueryContext on a replica", nil, midway, readQuery(sleep)},
				{"read on the primary under WithPrimary", primary, expired, read("SELECT 1")},
				{"read on the primary under WithPrimary", primary, midway, read(sleep)},
				{"read via QueryContext on the primary under WithPrimary", primary, midway, readQuery(sleep)},
				{"session read on the primary (after-write window)", window, expired, read("SELECT 1")},
				{"session read on the primary (after-write window)", window, cancelled, read("SELECT 1")},
				{"session read on the primary (after-write window)", window, midway, read(sleep)},
				{"session read via QueryContext on the primary (after-write window)", window, midway, readQuery(sleep)},
			}
			for _, r := range rows {
				t.Run(r.name+" with a context "+r.ctx.name, func(t *testing.T) {
					var ev events
					db := readyDB(t, c, &ev)
					base := context.Background()
					if r.base != nil {
						base = r.base(t, db)
					}
					ctx, cancel := r.ctx.make(base)
					defer cancel()
					start := time.Now()
					err := r.op(ctx, db)
					require.Error(t, err)
					assert.ErrorIs(t, err, ctx.Err(), "the context's error is not visible")
					require.Less(t, time.Since(start), 2*time.Second, "the statement outlived its context")
					requireAllHealthy(t, db, &ev)
				})
			}
		})
	}
}

// 10. --------------------------------------------------------------------

// TestRefusedReadLeavesNoLockOnTheReplica: a function taken for a read
// takes a lock and then writes; the replica refuses the write and the call
// runs on the primary. The replica's connection does not go back to the pool
// holding the lock: a direct connection sees it free, and further calls,
// concurrent ones too, do not hang.
func TestRefusedReadLeavesNoLockOnTheReplica(t *testing.T) {
	// Not parallel: it asks for the lock at once after the call, while the server may still be
	// ending the closed connection's backend; under other tests' load it once saw it held.
	for _, k := range kinds {
		t.Run(k.String(), func(t *testing.T) {
			t.Parallel() // each kind has its own servers
			c := clusters.Get(t, k)
			db := openCluster(t, c)
			table := seamTable(t, c, db, "seam10")
			fn := table + "_fn"
			lockKey := time.Now().UnixNano()%1000000 + 2000000
			lockName := fmt.Sprintf("seam10_%d", lockKey)
			q := fmt.Sprintf("CREATE FUNCTION %s(p varchar(100)) RETURNS int READS SQL DATA BEGIN DECLARE got INT; "+
				"SET got = GET_LOCK('%s', 30); INSERT INTO %s (k) VALUES (p); SET got = RELEASE_LOCK('%s'); RETURN 1; END",
				fn, lockName, table, lockName)
			if k == testcluster.Postgres {
				q = fmt.Sprintf("CREATE FUNCTION %s(p text) RETURNS int LANGUAGE plpgsql VOLATILE AS $$ BEGIN "+
					"PERFORM pg_advisory_lock(%d); INSERT INTO %s (k) VALUES (p); PERFORM pg_advisory_unlock(%d); RETURN 1; END $$",
					fn, lockKey, table, lockKey)
			}
			_, err := db.Exec(q)
			require.NoError(t, err)
			waitFunction(t, c, fn)
			call := "SELECT " + fn + "(" + ph(c, 1) + ")"
			// Declared read-only by mistake, so that it reaches a replica.
			db = openCluster(t, c, replica.ReadFunctions(fn))

			lockFree := func(s *testcluster.Server) bool {
				pdb, err := c.Open(s)
				require.NoError(t, err)
				defer pdb.Close()
				ctx, cancel := context.WithTimeout(context.Background(), seamWait)
				defer cancel()
				if k == testcluster.Postgres {
					var n int
					require.NoError(t, pdb.QueryRowContext(ctx, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = $1", lockKey).Scan(&n))
					return n == 0
				}
				var free sql.NullInt64
				require.NoError(t, pdb.QueryRowContext(ctx, "SELECT IS_FREE_LOCK(?)", lockName).Scan(&free))
				return free.Valid && free.Int64 == 1
			}

			ctx, cancel := context.WithTimeout(context.Background(), seamWait)
			defer cancel()
			v, err := viaQueryRow(ctx, db, call, "first")
			require.NoError(t, err)
			require.EqualValues(t, 1, v)
			require.Equal(t, 1, countOn(t, c, c.Primary, table, "first"), "the call ran once, on the primary")
			for _, s := range c.Replicas {
				assert.True(t, lockFree(s), "%s's pooled connection kept the lock of a refused read", s.Name)
			}

			// Further calls, with every read method and concurrently: none hangs.
			var (
				wg   sync.WaitGroup
				mu   sync.Mutex
				errs []error
			)
			for i := 0; i < 6; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					ctx, cancel := context.WithTimeout(context.Background(), seamWait)
					defer cancel()
					read := []readVia{viaQueryRow, viaQuery}[i%2]
					if _, err := read(ctx, db, call, fmt.Sprintf("again%d", i)); err != nil {
						mu.Lock()
						errs = append(errs, err)
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			assert.Empty(t, errs, "later calls failed or hung")
			for _, s := range c.Replicas {
				assert.True(t, lockFree(s), "%s holds the lock after the later calls", s.Name)
			}

			// The same call in a read-only transaction on a replica: the
			// replica refuses it, and the transaction's connection, which may
			// hold the lock, is closed rather than pooled.
			for i := 0; i < 2; i++ {
				tx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
				require.NoError(t, err)
				require.NotEqual(t, "primary", tx.Node())
				arg := fmt.Sprintf("tx%d", i)
				if i == 0 {
					var v int64
					err = tx.QueryRowContext(ctx, call, arg).Scan(&v)
				} else {
					_, err = tx.ExecContext(ctx, call, arg)
				}
				require.Error(t, err, "a write in a read-only transaction on a replica")
				require.NoError(t, tx.Rollback())
				for _, s := range c.Replicas {
					assert.True(t, lockFree(s), "%s holds the lock after a refused call in a transaction", s.Name)
				}
			}
		})
	}
}

// 11. --------------------------------------------------------------------

// TestPrimaryOnlyReadsRunOnThePrimary: reads that only a primary can answer
// (its WAL positions, a new transaction id) succeed, whatever the method.
func TestPrimaryOnlyReadsRunOnThePrimary(t *testing.T) {
	c := clusters.Get(t, testcluster.Postgres)
	db := openCluster(t, c)
	queries := []string{
		"SELECT pg_current_wal_lsn()::text",
		"SELECT pg_current_wal_insert_lsn()::text",
		"SELECT pg_current_wal_flush_lsn()::text",
		"SELECT pg_walfile_name(pg_current_wal_lsn())",
		"SELECT txid_current()::text",
	}
	methods := []struct {
		name string
		run  func(ctx context.Context, q string) error
	}{
		{"QueryRowContext", func(ctx context.Context, q string) error {
			var s string
			return db.QueryRowContext(ctx, q).Scan(&s)
		}},
		{"QueryContext", func(ctx context.Context, q string) error {
			rows, err := db.QueryContext(ctx, q)
			if err != nil {
				return err
			}
			for rows.Next() {
			}
			return errors.Join(rows.Err(), rows.Close())
		}},
		{"ExecContext", func(ctx context.Context, q string) error { _, err := db.ExecContext(ctx, q); return err }},
		{"QueryRowContext in a session", func(ctx context.Context, q string) error {
			var s string
			return db.QueryRowContext(consistency.WithSession(ctx), q).Scan(&s)
		}},
	}
	for _, q := range queries {
		for _, m := range methods {
			t.Run(q+"/"+m.name, func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), seamWait)
				defer cancel()
				for i := 0; i < 4; i++ { // round-robin: every replica gets a turn
					require.NoError(t, m.run(ctx, q))
				}
			})
		}
	}
}

// 12. --------------------------------------------------------------------

// TestEveryMethodAfterCloseReturnsErrClosed: after Close, every method of a
// DB returns ErrClosed, whether Open made its pools (Close closed them) or
// New was given them.
func TestEveryMethodAfterCloseReturnsErrClosed(t *testing.T) {
	for _, k := range []testcluster.Kind{testcluster.Postgres, testcluster.MariaDB} {
		c := clusters.Get(t, k)
		makers := []struct {
			name string
			open func(t *testing.T) *replica.DB
		}{
			{"Open", func(t *testing.T) *replica.DB {
				dsns := make([]string, len(c.Replicas))
				for i, r := range c.Replicas {
					dsns[i] = c.DSN(r)
				}
				db, err := replica.Open(c.DriverName(), c.DSN(c.Primary), dsns)
				require.NoError(t, err)
				return db
			}},
			{"New", func(t *testing.T) *replica.DB {
				var pools []*sql.DB
				for _, s := range c.Servers() {
					p, err := c.Open(s)
					require.NoError(t, err)
					t.Cleanup(func() { p.Close() })
					pools = append(pools, p)
				}
				db, err := replica.New(pools[0], pools[1:])
				require.NoError(t, err)
				return db
			}},
		}
		tok := consistency.PostgresToken(1, 1, 1)
		if k != testcluster.Postgres {
			tok, _ = consistency.MariaDBToken("0-1-1")
		}
		methods := []struct {
			name string
			call func(db *replica.DB) error
		}{
			{"QueryRow", func(db *replica.DB) error { return db.QueryRow("SELECT 1").Scan(new(int)) }},
			{"QueryRowContext", func(db *replica.DB) error { return db.QueryRowContext(context.Background(), "SELECT 1").Scan(new(int)) }},
			{"QueryRowContext write", func(db *replica.DB) error {
				return db.QueryRowContext(context.Background(), "SELECT 1 FOR UPDATE").Scan(new(int))
			}},
			{"QueryRowContext in a session", func(db *replica.DB) error {
				return db.QueryRowContext(consistency.WithSession(context.Background()), "SELECT 1").Scan(new(int))
			}},
			{"Query", func(db *replica.DB) error { _, err := db.Query("SELECT 1"); return err }},
			{"QueryContext", func(db *replica.DB) error { _, err := db.QueryContext(context.Background(), "SELECT 1"); return err }},
			{"Exec", func(db *replica.DB) error { _, err := db.Exec("SELECT 1"); return err }},
			{"ExecContext", func(db *replica.DB) error { _, err := db.ExecContext(context.Background(), "SELECT 1"); return err }},
			{"Begin", func(db *replica.DB) error { _, err := db.Begin(); return err }},
			{"BeginTx", func(db *replica.DB) error {
				_, err := db.BeginTx(context.Background(), &sql.TxOptions{ReadOnly: true})
				return err
			}},
			{"Prepare", func(db *replica.DB) error { _, err := db.Prepare("SELECT 1"); return err }},
			{"PrepareContext", func(db *replica.DB) error { _, err := db.PrepareContext(context.Background(), "SELECT 1"); return err }},
			{"Conn", func(db *replica.DB) error { _, err := db.Conn(context.Background()); return err }},
			{"Ping", func(db *replica.DB) error { return db.Ping() }},
			{"PingContext", func(db *replica.DB) error { return db.PingContext(context.Background()) }},
			{"WaitReplicated", func(db *replica.DB) error { return db.WaitReplicated(context.Background(), tok, 1) }},
			{"Failover", func(db *replica.DB) error { _, err := db.Failover(context.Background()); return err }},
		}
		for _, mk := range makers {
			t.Run(k.String()+"/"+mk.name, func(t *testing.T) {
				db := mk.open(t)
				require.NoError(t, db.QueryRow("SELECT 1").Scan(new(int)))
				require.NoError(t, db.Close())
				for _, m := range methods {
					err := m.call(db)
					assert.ErrorIs(t, err, replica.ErrClosed, "%s: %v", m.name, err)
				}
			})
		}
	}
}

// 14. --------------------------------------------------------------------

// TestEveryNodeDownNamesEveryNode: with every node down, a read's error
// holds a *replica.NodeError for each node, whatever the read method, before
// and after the checks have seen them down.
func TestEveryNodeDownNamesEveryNode(t *testing.T) {
	closedPort := func(t *testing.T) int {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		port := l.Addr().(*net.TCPAddr).Port
		require.NoError(t, l.Close())
		return port
	}
	drivers := []struct {
		name, driver, dsn string
	}{
		{"pgx", "pgx", "postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable&connect_timeout=2"},
		{"mysql", "mysql", "app:app@tcp(127.0.0.1:%d)/app?timeout=2s"},
	}
	reads := []struct {
		name string
		read func(ctx context.Context, db *replica.DB) error
	}{
		{"QueryRowContext", func(ctx context.Context, db *replica.DB) error {
			_, err := viaQueryRow(ctx, db, "SELECT 1")
			return err
		}},
		{"QueryContext", func(ctx context.Context, db *replica.DB) error { _, err := viaQuery(ctx, db, "SELECT 1"); return err }},
		{"ExecContext", func(ctx context.Context, db *replica.DB) error { _, err := db.ExecContext(ctx, "SELECT 1"); return err }},
		{"BeginTx read-only", func(ctx context.Context, db *replica.DB) error {
			_, err := viaReadOnlyTx(ctx, db, "SELECT 1")
			return err
		}},
		{"QueryRowContext in a session", func(ctx context.Context, db *replica.DB) error {
			_, err := viaQueryRow(consistency.WithSession(ctx), db, "SELECT 1")
			return err
		}},
		{"PingContext", func(ctx context.Context, db *replica.DB) error { return db.PingContext(ctx) }},
	}
	for _, d := range drivers {
		for _, checked := range []bool{false, true} {
			for _, r := range reads {
				name := fmt.Sprintf("%s/%s/checked=%v", d.name, r.name, checked)
				t.Run(name, func(t *testing.T) {
					db, err := replica.Open(d.driver, fmt.Sprintf(d.dsn, closedPort(t)),
						[]string{fmt.Sprintf(d.dsn, closedPort(t)), fmt.Sprintf(d.dsn, closedPort(t))})
					require.NoError(t, err)
					t.Cleanup(func() { db.Close() })
					ctx, cancel := context.WithTimeout(context.Background(), seamWait)
					defer cancel()
					if checked {
						db.CheckNow(ctx)
					}
					err = r.read(ctx, db)
					require.Error(t, err)
					assert.ElementsMatch(t, []string{"primary", "replica1", "replica2"}, nodeErrorNames(err), "error: %v", err)
				})
			}
		}
	}
}

// nodeErrorNames returns the node of every *replica.NodeError in err's tree.
func nodeErrorNames(err error) []string {
	var names []string
	var walk func(error)
	walk = func(e error) {
		if e == nil {
			return
		}
		if ne, ok := e.(*replica.NodeError); ok {
			names = append(names, ne.Node)
		}
		switch u := e.(type) {
		case interface{ Unwrap() []error }:
			for _, x := range u.Unwrap() {
				walk(x)
			}
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		}
	}
	walk(err)
	return names
}
