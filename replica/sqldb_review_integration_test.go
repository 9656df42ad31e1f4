package replica_test

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sqlreplica/sqlreplica/consistency"
	"github.com/sqlreplica/sqlreplica/internal/testcluster"
	"github.com/sqlreplica/sqlreplica/replica"
)

// newOverPools opens a DB with New over pools of c's servers that the test
// owns (no health-check pools: the library reads positions from the
// application's pools), and waits until every node is healthy.
func newOverPools(t *testing.T, c *testcluster.Cluster, opts ...replica.Option) *replica.DB {
	t.Helper()
	open := func(s *testcluster.Server) *sql.DB {
		p, err := c.Open(s)
		require.NoError(t, err)
		t.Cleanup(func() { p.Close() })
		return p
	}
	var reps []*sql.DB
	for _, r := range c.Replicas {
		reps = append(reps, open(r))
	}
	db, err := replica.New(open(c.Primary), reps, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
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
	}, 15*time.Second, 20*time.Millisecond)
	return db
}

// TestReviewSQLDBWriteCallingSessionFunctionLeaks: a write that calls a
// function changing session state (an advisory lock, GET_LOCK, set_config,
// a user variable) must not leave that state on a pooled connection
// (SQLDB's doc: "one whose session state a statement changed … is closed
// instead, so that state never leaks into another caller's statements").
func TestReviewSQLDBWriteCallingSessionFunctionLeaks(t *testing.T) {
	t.Parallel() // a table and lock keys of its own on the shared clusters
	for _, k := range kinds {
		t.Run(k.String(), func(t *testing.T) {
			t.Parallel()
			c := clusters.Get(t, k)
			db := readyDB(t, c, nil)
			sdb := db.SQLDB()
			ctx := sqldbCtx(t)
			table := seamTable(t, c, db, "rv_leak")
			key := time.Now().UnixNano() % 1000000
			admin, err := c.Open(c.Primary)
			require.NoError(t, err)
			t.Cleanup(func() { admin.Close() })
			var write, held string
			if k == testcluster.Postgres {
				write = fmt.Sprintf("INSERT INTO %s (k) SELECT pg_advisory_lock(%d)::text", table, key)
				held = fmt.Sprintf("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = %d AND granted", key)
			} else {
				write = fmt.Sprintf("INSERT INTO %s (k) VALUES (GET_LOCK('rv_%d', 0))", table, key)
				held = fmt.Sprintf("SELECT IS_USED_LOCK('rv_%d') IS NOT NULL", key)
			}
			for _, via := range []string{"SQLDB", "Conn"} {
				if via == "SQLDB" {
					_, err = sdb.ExecContext(ctx, write)
				} else {
					conn, cerr := sdb.Conn(ctx)
					require.NoError(t, cerr)
					_, err = conn.ExecContext(ctx, write)
					require.NoError(t, conn.Close())
				}
				require.NoError(t, err, via)
				require.Eventually(t, func() bool {
					var n int
					require.NoError(t, admin.QueryRowContext(ctx, held).Scan(&n))
					return n == 0
				}, 5*time.Second, 20*time.Millisecond, "%s: the lock taken by a write stays on a pooled connection", via)
			}

			// A setting or user variable changed by a write reaches later callers.
			leak := "UPDATE " + table + " SET k = set_config('application_name', 'rv_leaked', false)"
			see := "SELECT current_setting('application_name')"
			if k != testcluster.Postgres {
				leak = "UPDATE " + table + " SET k = (@rv_leak := 'rv_leaked')"
				see = "SELECT COALESCE(@rv_leak, '')"
			}
			_, err = sdb.ExecContext(ctx, leak)
			require.NoError(t, err)
			for i := 0; i < 10; i++ {
				var s string
				require.NoError(t, sdb.QueryRowContext(replica.WithPrimary(ctx), see).Scan(&s))
				require.NotEqual(t, "rv_leaked", s, "a later caller inherits the write's session state")
			}
		})
	}
}

// TestReviewSQLDBRollbackWorkToSavepoint: ROLLBACK WORK TO SAVEPOINT is a
// savepoint's statement (both dialects accept the optional WORK), which a
// read-only transaction may run (SQLDB's doc: "savepoints are allowed").
func TestReviewSQLDBRollbackWorkToSavepoint(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.String(), func(t *testing.T) {
			t.Parallel()
			c := clusters.Get(t, k)
			db := readyDB(t, c, nil)
			ctx := sqldbCtx(t)
			type txer interface {
				ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
				Rollback() error
			}
			begins := map[string]func() (txer, error){
				"SQLDB": func() (txer, error) { return db.SQLDB().BeginTx(ctx, &sql.TxOptions{ReadOnly: true}) },
				"DB":    func() (txer, error) { return db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true}) },
			}
			for name, begin := range begins {
				tx, err := begin()
				require.NoError(t, err, name)
				for _, q := range []string{"SAVEPOINT s1", "ROLLBACK WORK TO SAVEPOINT s1", "ROLLBACK WORK TO s1", "RELEASE SAVEPOINT s1"} {
					_, err := tx.ExecContext(ctx, q)
					require.NoError(t, err, "%s: %s", name, q)
				}
				require.NoError(t, tx.Rollback())
			}
		})
	}
}

// TestReviewSQLDBSessionWriteOnSaturatedPrimary: over pools given to New
// (no pool of the library's own), with one connection per node, a
// session's write through the routing *sql.DB must not wait for the
// connection it holds itself to read the primary's position: its next read,
// in the same context, must still have time to run.
func TestReviewSQLDBSessionWriteOnSaturatedPrimary(t *testing.T) {
	t.Parallel() // a table and pools of its own on the shared clusters
	for _, k := range kinds {
		t.Run(k.String(), func(t *testing.T) {
			t.Parallel()
			c := clusters.Get(t, k)
			db := newOverPools(t, c)
			table := seamTable(t, c, db, "rv_sat")
			db.SetMaxOpenConns(1)
			p := ph(c, 1)
			writes := map[string]func(ctx context.Context, sdb *sql.DB) error{
				"Exec": func(ctx context.Context, sdb *sql.DB) error {
					_, err := sdb.ExecContext(ctx, "INSERT INTO "+table+" (k) VALUES ("+p+")", "exec")
					return err
				},
				"a transaction's commit": func(ctx context.Context, sdb *sql.DB) error {
					tx, err := sdb.BeginTx(ctx, nil)
					if err != nil {
						return err
					}
					defer tx.Rollback()
					if _, err := tx.ExecContext(ctx, "INSERT INTO "+table+" (k) VALUES ("+p+")", "tx"); err != nil {
						return err
					}
					return tx.Commit()
				},
				"a Conn": func(ctx context.Context, sdb *sql.DB) error {
					conn, err := sdb.Conn(ctx)
					if err != nil {
						return err
					}
					defer conn.Close()
					_, err = conn.ExecContext(ctx, "INSERT INTO "+table+" (k) VALUES ("+p+")", "conn")
					return err
				},
			}
			for name, write := range writes {
				// The 5 s position timeout must not be spent waiting for
				// ourselves: 3 s are plenty for a write and a read.
				ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
				sctx := consistency.WithSession(ctx)
				require.NoError(t, write(sctx, db.SQLDB()), name)
				var n int
				err := db.SQLDB().QueryRowContext(sctx, "SELECT count(*) FROM "+table).Scan(&n)
				cancel()
				require.NoError(t, err, "%s: the write spent the context waiting for its own connection", name)
			}
		})
	}
}

// TestReviewSQLDBKilledConnection: when the server ends the primary
// connection a *sql.Conn keeps, the next write is not run twice, and a
// plain write through the routing *sql.DB after its pooled connections
// were killed runs exactly once.
func TestReviewSQLDBKilledConnection(t *testing.T) {
	// Not parallel: it kills every idle connection of the shared primary's database, other tests' too.
	for _, k := range kinds {
		t.Run(k.String(), func(t *testing.T) {
			t.Parallel()
			c := clusters.Get(t, k)
			db := readyDB(t, c, nil)
			sdb := db.SQLDB()
			ctx := sqldbCtx(t)
			table := seamTable(t, c, db, "rv_kill")
			p := ph(c, 1)
			admin, err := c.OpenAdmin(c.Primary)
			require.NoError(t, err)
			t.Cleanup(func() { admin.Close() })
			pg := k == testcluster.Postgres
			pidQ, kill := "SELECT pg_backend_pid()", "SELECT pg_terminate_backend("+p+")"
			if !pg {
				pidQ, kill = "SELECT CONNECTION_ID()", "KILL "
			}
			killPid := func(pid int64) {
				t.Helper()
				if pg {
					_, err := admin.ExecContext(ctx, kill, pid)
					require.NoError(t, err)
				} else {
					_, err := admin.ExecContext(ctx, kill+strconv.FormatInt(pid, 10))
					require.NoError(t, err)
				}
			}
			count := func(key string) int {
				var n int
				require.NoError(t, db.Primary().QueryRowContext(ctx, "SELECT count(*) FROM "+table+" WHERE k = "+p, key).Scan(&n))
				return n
			}

			conn, err := sdb.Conn(ctx)
			require.NoError(t, err)
			_, err = conn.ExecContext(ctx, "INSERT INTO "+table+" (k) VALUES ("+p+")", "first")
			require.NoError(t, err)
			var pid int64
			require.NoError(t, conn.QueryRowContext(ctx, pidQ).Scan(&pid))
			killPid(pid)
			time.Sleep(100 * time.Millisecond) // the server closes the socket
			_, err = conn.ExecContext(ctx, "INSERT INTO "+table+" (k) VALUES ("+p+")", "after-kill")
			t.Logf("write on the killed connection: %v", err)
			require.Error(t, err, "the session state (LAST_INSERT_ID, temporary tables) is gone: the write must fail, not move silently")
			require.LessOrEqual(t, count("after-kill"), 1)
			_, err = conn.ExecContext(ctx, "INSERT INTO "+table+" (k) VALUES ("+p+")", "after-kill-2")
			t.Logf("next write on the Conn: %v", err)
			require.Error(t, err)
			require.Zero(t, count("after-kill-2"), "a later statement of the Conn ran on another connection, without its session")
			conn.Close()

			// Kill every idle connection of the primary's pool, then write
			// through the routing *sql.DB: exactly once.
			_, err = sdb.ExecContext(ctx, "INSERT INTO "+table+" (k) VALUES ("+p+")", "warm")
			require.NoError(t, err)
			var pids []int64
			q := "SELECT pid FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() AND datname = current_database() AND state = 'idle'"
			if !pg {
				q = "SELECT ID FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID() AND COMMAND = 'Sleep' AND DB = DATABASE()"
			}
			rows, err := admin.QueryContext(ctx, q)
			require.NoError(t, err)
			for rows.Next() {
				var id int64
				require.NoError(t, rows.Scan(&id))
				pids = append(pids, id)
			}
			require.NoError(t, rows.Close())
			for _, id := range pids {
				killPid(id)
			}
			time.Sleep(100 * time.Millisecond)
			_, err = sdb.ExecContext(ctx, "INSERT INTO "+table+" (k) VALUES ("+p+")", "once")
			t.Logf("write after the pool's connections were killed: %v", err)
			require.LessOrEqual(t, count("once"), 1, "a write ran twice")
		})
	}
}

// TestReviewSQLDBCloseWithOpenWork: closing the DB while rows, a
// transaction and a Conn of its routing *sql.DB are open neither hangs nor
// panics; what was open can still be ended, and later calls fail.
func TestReviewSQLDBCloseWithOpenWork(t *testing.T) {
	t.Parallel() // a table of its own on the shared clusters
	for _, k := range kinds {
		t.Run(k.String(), func(t *testing.T) {
			t.Parallel()
			c := clusters.Get(t, k)
			db := readyDB(t, c, nil)
			sdb := db.SQLDB()
			ctx := sqldbCtx(t)
			table := seamTable(t, c, db, "rv_close")
			p := ph(c, 1)
			rows, err := sdb.QueryContext(ctx, "SELECT k FROM "+table)
			require.NoError(t, err)
			tx, err := sdb.BeginTx(ctx, nil)
			require.NoError(t, err)
			_, err = tx.ExecContext(ctx, "INSERT INTO "+table+" (k) VALUES ("+p+")", "tx")
			require.NoError(t, err)
			conn, err := sdb.Conn(ctx)
			require.NoError(t, err)
			_, err = conn.ExecContext(ctx, "INSERT INTO "+table+" (k) VALUES ("+p+")", "conn")
			require.NoError(t, err)

			done := make(chan error, 1)
			go func() { done <- db.Close() }()
			select {
			case err := <-done:
				require.NoError(t, err)
			case <-time.After(10 * time.Second):
				t.Fatal("DB.Close hangs on open work of its *sql.DB")
			}
			for rows.Next() {
			}
			require.NoError(t, rows.Close())
			_ = tx.Commit() // either outcome, no panic, no hang
			_, err = conn.ExecContext(ctx, "SELECT 1")
			require.Error(t, err, "a Conn after Close")
			require.NoError(t, conn.Close())
			_, err = sdb.ExecContext(ctx, "SELECT 1")
			require.Error(t, err)
			require.Same(t, sdb, db.SQLDB())
			_, err = db.SQLDB().ExecContext(ctx, "SELECT 1")
			require.Error(t, err, "SQLDB after Close")
		})
	}
}

// TestReviewSQLDBConnRowsOpenOnSaturatedReplicas: a *sql.Conn that keeps
// rows open while it runs another read must not wait for ever for a
// replica connection it holds itself: a plain *sql.Conn answers at once
// (with an error: the connection is busy).
func TestReviewSQLDBConnRowsOpenOnSaturatedReplicas(t *testing.T) {
	c := clusters.Get(t, testcluster.Postgres)
	db := readyDB(t, c, nil)
	db.SetMaxOpenConns(1)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := db.SQLDB().Conn(ctx)
	require.NoError(t, err)
	defer conn.Close()
	var open []*sql.Rows
	defer func() {
		for _, r := range open {
			r.Close()
		}
	}()
	for i := 0; i <= len(c.Replicas); i++ {
		r, err := conn.QueryContext(ctx, "SELECT 1")
		if err != nil {
			require.NotErrorIs(t, err, context.DeadlineExceeded, "read %d waited for its own connections", i)
			return
		}
		open = append(open, r)
	}
}
