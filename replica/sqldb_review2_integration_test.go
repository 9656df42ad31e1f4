package replica_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
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
	t.Parallel() // it kills only connections of its own pools
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

// TestReview2SQLDBHiddenCallLeaksSession: a write whose function call a
// plain reading took for a comment or a list (PostgreSQL's # operator,
// MySQL's --x, a function named key or with a non-ASCII name) must not
// leave its lock on a pooled connection: the connection is closed when the
// statement may have changed its session.
func TestReview2SQLDBHiddenCallLeaksSession(t *testing.T) {
	t.Parallel() // a table, functions and lock keys only it uses on the shared clusters
	for _, k := range kinds {
		t.Run(k.String(), func(t *testing.T) {
			t.Parallel()
			c := clusters.Get(t, k)
			db := readyDB(t, c, nil)
			sdb := db.SQLDB()
			ctx := sqldbCtx(t)
			table := seamTable(t, c, db, "rv2_hide")
			admin, err := c.OpenAdmin(c.Primary)
			require.NoError(t, err)
			t.Cleanup(func() { admin.Close() })
			key := time.Now().UnixNano() % 1000000
			pg := k == testcluster.Postgres
			var writes []string
			if pg {
				for _, f := range []string{"key", "rv2_lockñ"} {
					_, err := admin.ExecContext(ctx, "CREATE OR REPLACE FUNCTION "+f+"(bigint) RETURNS text LANGUAGE sql AS $$ SELECT pg_advisory_lock($1)::text $$")
					require.NoError(t, err)
				}
				writes = []string{
					"INSERT INTO " + table + " (k) SELECT (1 # pg_try_advisory_lock(%d)::int)::text",
					"INSERT INTO " + table + " (k) SELECT key(%d)",
					"INSERT INTO " + table + " (k) SELECT rv2_lockñ(%d)",
				}
			} else {
				writes = []string{"INSERT INTO " + table + " (k) VALUES (1 --GET_LOCK('rv2_%d', 0)\n)"}
			}
			for i, w := range writes {
				id := key + int64(i)
				_, err := sdb.ExecContext(ctx, fmt.Sprintf(w, id))
				require.NoError(t, err)
				time.Sleep(50 * time.Millisecond) // the connection is back in its pool
				held := fmt.Sprintf("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = %d AND granted", id)
				if !pg {
					held = fmt.Sprintf("SELECT IS_USED_LOCK('rv2_%d') IS NOT NULL", id)
				}
				var n int
				require.NoError(t, admin.QueryRowContext(ctx, held).Scan(&n))
				require.Zero(t, n, "%q left its lock on a pooled connection", w)
			}
		})
	}
}

// TestReview2SQLDBCausalReadsEveryFace: with CausalReads, a write
// acknowledged through any face of the routing *sql.DB (Exec, a write's
// rows, a prepared statement, a Conn, a transaction, DriverConn.Primary
// then RecordWrite) is seen by a read from another goroutine, with no
// session, through any face (the DB's methods, SQLDB, a prepared statement,
// a read-only transaction, a Conn), the replica being 1.5 s late.
func TestReview2SQLDBCausalReadsEveryFace(t *testing.T) {
	t.Parallel() // a table of its own on the shared late clusters
	for _, k := range kinds {
		t.Run(k.String(), func(t *testing.T) {
			t.Parallel()
			c := lateCluster(t, k)
			db := readyDB(t, c, nil, replica.CausalReads(), fastPrimary)
			sdb := db.SQLDB()
			table := seamTable(t, c, db, "rv2_causal")
			p := ph(c, 1)
			ins := "INSERT INTO " + table + " (k) VALUES (" + p + ")"
			sel := "SELECT count(*) FROM " + table + " WHERE k = " + p
			type face struct {
				name string
				run  func(ctx context.Context, key string) error
			}
			writes := []face{
				{"SQLDB Exec", func(ctx context.Context, key string) error {
					_, err := sdb.ExecContext(ctx, ins, key)
					return err
				}},
				{"SQLDB prepared", func(ctx context.Context, key string) error {
					st, err := db.PrepareContext(ctx, ins)
					if err != nil {
						return err
					}
					defer st.Close()
					_, err = st.ExecContext(ctx, key)
					return err
				}},
				{"Conn", func(ctx context.Context, key string) error {
					conn, err := db.Conn(ctx)
					if err != nil {
						return err
					}
					defer conn.Close()
					_, err = conn.ExecContext(ctx, ins, key)
					return err
				}},
				{"tx", func(ctx context.Context, key string) error {
					tx, err := sdb.BeginTx(ctx, nil)
					if err != nil {
						return err
					}
					if _, err := tx.ExecContext(ctx, ins, key); err != nil {
						tx.Rollback()
						return err
					}
					return tx.Commit()
				}},
				{"DriverConn.Primary, RecordWrite", func(ctx context.Context, key string) error {
					conn, err := sdb.Conn(ctx)
					if err != nil {
						return err
					}
					defer conn.Close()
					err = conn.Raw(func(c any) error {
						dc, err := c.(*replica.DriverConn).Primary(ctx)
						if err != nil {
							return err
						}
						_, err = dc.(driver.ExecerContext).ExecContext(ctx, "INSERT INTO "+table+" (k) VALUES ('"+key+"')", nil)
						return err
					})
					if err != nil {
						return err
					}
					return db.RecordWrite(ctx)
				}},
			}
			if k != testcluster.MySQL {
				writes = append(writes, face{"SQLDB RETURNING", func(ctx context.Context, key string) error {
					var id int
					return sdb.QueryRowContext(ctx, ins+" RETURNING id", key).Scan(&id)
				}})
			}
			count := func(ctx context.Context, q interface {
				QueryRowContext(context.Context, string, ...any) *sql.Row
			}, key string) (int, error) {
				var n int
				err := q.QueryRowContext(ctx, sel, key).Scan(&n)
				return n, err
			}
			reads := []face{
				{"DB method", nil}, {"SQLDB", nil}, {"prepared", nil}, {"read-only tx", nil}, {"Conn", nil},
			}
			read := func(ctx context.Context, how, key string) (int, error) {
				switch how {
				case "DB method":
					return count(ctx, db, key)
				case "SQLDB":
					return count(ctx, sdb, key)
				case "prepared":
					st, err := sdb.PrepareContext(ctx, sel)
					if err != nil {
						return 0, err
					}
					defer st.Close()
					var n int
					return n, st.QueryRowContext(ctx, key).Scan(&n)
				case "read-only tx":
					tx, err := sdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
					if err != nil {
						return 0, err
					}
					defer tx.Rollback()
					return count(ctx, tx, key)
				}
				conn, err := sdb.Conn(ctx)
				if err != nil {
					return 0, err
				}
				defer conn.Close()
				return count(ctx, conn, key)
			}
			for _, w := range writes {
				for _, r := range reads {
					key := w.name + "/" + r.name
					require.NoError(t, w.run(sqldbCtx(t), key), key)
					res := make(chan error, 1)
					go func() {
						n, err := read(sqldbCtx(t), r.name, key)
						if err == nil && n != 1 {
							err = fmt.Errorf("stale: %d rows", n)
						}
						res <- err
					}()
					require.NoError(t, <-res, key)
				}
			}
		})
	}
}

// TestReview2SQLDBSparesStarveThePool: with one connection per node, a
// loop of statements through the routing *sql.DB must not keep the
// primary's only connection from the pool's other users (the DB's own
// methods, the caller's direct use of the pool) for more than a few
// milliseconds at a time: the spare cache hands a connection given back
// straight to the next routed statement, bypassing the pool's waiters.
func TestReview2SQLDBSparesStarveThePool(t *testing.T) {
	c := clusters.Get(t, testcluster.Postgres)
	db := readyDB(t, c, nil)
	db.SetMaxOpenConns(1)
	sdb := db.SQLDB()
	ctx := replica.WithPrimary(sqldbCtx(t))
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			var n int
			_ = sdb.QueryRowContext(ctx, "SELECT 1").Scan(&n)
		}
	}()
	defer func() { close(stop); <-done }()
	time.Sleep(50 * time.Millisecond)
	var worst time.Duration
	for i := 0; i < 10; i++ {
		start := time.Now()
		var n int
		require.NoError(t, db.Primary().QueryRowContext(ctx, "SELECT 1").Scan(&n))
		if d := time.Since(start); d > worst {
			worst = d
		}
	}
	t.Logf("worst wait of the pool's own user: %v", worst)
	require.Less(t, worst, 250*time.Millisecond, "the pool's own user waited for the spare cache")
}

// TestReview2SQLDBLikeAPlainPool: through the routing *sql.DB as through a
// plain pool of the primary: a MySQL procedure's result sets are all read
// with NextResultSet, sql.Named and sql.Out fail with the driver's own
// error and leave the node in rotation, a Valuer's error is returned, and a
// pinned Conn whose statement is cancelled fails cleanly afterwards rather
// than hanging or moving its session elsewhere.
func TestReview2SQLDBLikeAPlainPool(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.String(), func(t *testing.T) {
			t.Parallel()
			c := clusters.Get(t, k)
			db := readyDB(t, c, nil)
			ctx := sqldbCtx(t)
			pg := k == testcluster.Postgres
			faces := []struct {
				name string
				pool *sql.DB
			}{{"plain", db.Primary()}, {"SQLDB", db.SQLDB()}}
			if !pg {
				proc := fmt.Sprintf("rv2_multi_%d", time.Now().UnixNano())
				_, err := db.ExecContext(ctx, "CREATE PROCEDURE "+proc+"() BEGIN SELECT 1 AS a; SELECT 2 AS b, 3 AS c; END")
				require.NoError(t, err)
				for _, f := range faces {
					rows, err := f.pool.QueryContext(ctx, "CALL "+proc+"()")
					require.NoError(t, err, f.name)
					var got []int
					for {
						for rows.Next() {
							cols, _ := rows.Columns()
							vals := make([]any, len(cols))
							ptrs := make([]any, len(cols))
							for i := range vals {
								ptrs[i] = &vals[i]
							}
							require.NoError(t, rows.Scan(ptrs...))
							got = append(got, len(cols))
						}
						if !rows.NextResultSet() {
							break
						}
					}
					require.NoError(t, rows.Err(), f.name)
					require.NoError(t, rows.Close())
					require.Equal(t, []int{1, 2}, got, "%s: the procedure's result sets", f.name)
				}
			}
			p := ph(c, 1)
			var errs [2][3]string
			for i, f := range faces {
				var n int
				err := f.pool.QueryRowContext(ctx, "SELECT 1 WHERE 1 = "+p, sql.Named("x", 1)).Scan(&n)
				errs[i][0] = fmt.Sprint(err)
				_, err = f.pool.ExecContext(ctx, "DELETE FROM rv2_none_"+strconv.Itoa(i)+" WHERE 1 = "+p, sql.Out{Dest: &n})
				errs[i][1] = fmt.Sprint(err != nil)
				_, err = f.pool.ExecContext(ctx, "SELECT "+p, badValuer{})
				require.ErrorIs(t, err, errBadValuer, f.name)
				errs[i][2] = fmt.Sprint(err != nil)
			}
			t.Logf("plain: %q\nSQLDB: %q", errs[0], errs[1])
			require.Equal(t, errs[0][1:], errs[1][1:])
			for _, n := range db.Status().Nodes {
				require.True(t, n.Healthy, "an argument error took %s out: %s", n.Name, n.LastError)
			}

			// A statement of a pinned Conn cancelled mid-way.
			conn, err := db.SQLDB().Conn(ctx)
			require.NoError(t, err)
			defer conn.Close()
			_, err = conn.ExecContext(ctx, "CREATE TEMPORARY TABLE rv2_tmp (a int)")
			require.NoError(t, err)
			sleep := "SELECT pg_sleep(5)"
			if !pg {
				sleep = "SELECT SLEEP(5)"
			}
			cctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
			_, err = conn.ExecContext(cctx, sleep)
			cancel()
			t.Logf("cancelled: %v", err)
			start := time.Now()
			_, err = conn.ExecContext(ctx, "INSERT INTO rv2_tmp (a) VALUES (1)")
			t.Logf("after the cancel: %v (%v)", err, time.Since(start))
			require.Less(t, time.Since(start), 3*time.Second, "the Conn waited for the cancelled statement")
			var n int
			err2 := conn.QueryRowContext(ctx, "SELECT count(*) FROM rv2_tmp").Scan(&n)
			if err == nil {
				require.NoError(t, err2)
				require.Equal(t, 1, n)
			} else {
				require.Error(t, err2, "the Conn's session (its temporary table) is gone: a later statement must not run elsewhere")
			}
		})
	}
}

var errBadValuer = errors.New("rv2: bad valuer")

type badValuer struct{}

func (badValuer) Value() (driver.Value, error) { return nil, errBadValuer }
