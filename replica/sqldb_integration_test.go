package replica_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"reflect"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sqlreplica/sqlreplica/consistency"
	"github.com/sqlreplica/sqlreplica/internal/testcluster"
	"github.com/sqlreplica/sqlreplica/replica"
)

// sqldbCtx bounds a test's statements: a hang fails it instead of the run.
func sqldbCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestSQLDBRoutesEveryStatement: the routing *sql.DB sends reads,
// prepared reads and read-only transactions to the replicas, writes and
// read-write transactions to the primary, and is one value closed with the
// DB.
func TestSQLDBRoutesEveryStatement(t *testing.T) {
	t.Parallel() // it only adds tables to the clusters it shares
	for _, k := range kinds {
		t.Run(k.String(), func(t *testing.T) {
			t.Parallel() // each kind has its own servers
			c := clusters.Get(t, k)
			db := readyDB(t, c, nil)
			sdb := db.SQLDB()
			require.Same(t, sdb, db.SQLDB(), "one *sql.DB per DB")
			id := newIdentity(c)
			ctx := sqldbCtx(t)
			table := seamTable(t, c, db, "sqldb_route")

			notPrimary := func(what string, q queryRower) {
				t.Helper()
				for i := 0; i < 6; i++ {
					require.NotEqual(t, "primary", id.who(t, ctx, q, ""), what)
				}
			}
			notPrimary("a read", sdb)
			st, err := sdb.PrepareContext(ctx, "SELECT "+id.whoExpr())
			require.NoError(t, err)
			seen := map[string]bool{}
			for i := 0; i < 12; i++ {
				var v int
				require.NoError(t, st.QueryRowContext(ctx).Scan(&v))
				seen[id.name(v)] = true
			}
			require.NoError(t, st.Close())
			require.NotContains(t, seen, "primary", "a prepared read runs on the replicas")
			if len(c.Replicas) > 1 {
				require.Greater(t, len(seen), 1, "a prepared read spreads over the replicas: %v", seen)
			}

			// A write runs on the primary (the replicas are read only).
			res, err := sdb.ExecContext(ctx, "INSERT INTO "+table+" (k) VALUES ('a')")
			require.NoError(t, err)
			n, err := res.RowsAffected()
			require.NoError(t, err)
			require.EqualValues(t, 1, n)

			// A read-only transaction runs wholly on one replica, refuses a
			// write without sending it, and may use savepoints.
			tx, err := sdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
			require.NoError(t, err)
			first := id.who(t, ctx, tx, "")
			require.NotEqual(t, "primary", first)
			for _, q := range []string{"SAVEPOINT s1", "ROLLBACK TO SAVEPOINT s1", "RELEASE SAVEPOINT s1"} {
				_, err := tx.ExecContext(ctx, q)
				require.NoError(t, err, q)
			}
			require.Equal(t, first, id.who(t, ctx, tx, ""), "one node for the whole transaction")
			_, err = tx.ExecContext(ctx, "INSERT INTO "+table+" (k) VALUES ('ro')")
			require.ErrorIs(t, err, replica.ErrWriteOnReplica)
			require.NoError(t, tx.Rollback())

			// A read-write transaction runs on the primary, savepoints
			// included, and a rollback to a savepoint undoes what followed.
			tx, err = sdb.BeginTx(ctx, nil)
			require.NoError(t, err)
			require.Equal(t, "primary", id.who(t, ctx, tx, ""))
			_, err = tx.ExecContext(ctx, "INSERT INTO "+table+" (k) VALUES ('kept')")
			require.NoError(t, err)
			_, err = tx.ExecContext(ctx, "SAVEPOINT s1")
			require.NoError(t, err)
			_, err = tx.ExecContext(ctx, "INSERT INTO "+table+" (k) VALUES ('undone')")
			require.NoError(t, err)
			_, err = tx.ExecContext(ctx, "ROLLBACK TO SAVEPOINT s1")
			require.NoError(t, err)
			require.NoError(t, tx.Commit())
			var kept, undone int
			require.NoError(t, db.Primary().QueryRowContext(ctx, "SELECT count(*) FROM "+table+" WHERE k = 'kept'").Scan(&kept))
			require.NoError(t, db.Primary().QueryRowContext(ctx, "SELECT count(*) FROM "+table+" WHERE k = 'undone'").Scan(&undone))
			require.Equal(t, []int{1, 0}, []int{kept, undone})

			require.NoError(t, db.Close())
			require.Error(t, sdb.PingContext(ctx), "closing the DB closes its *sql.DB")
		})
	}
}

// TestSQLDBConnKeepsSessionState: a *sql.Conn of the routing *sql.DB reads
// on the replicas until it writes or changes session state; from then on
// its statements run where that state is (LAST_INSERT_ID or lastval, a
// temporary table, a setting, an advisory lock). When the Conn is closed, a
// real connection whose session state was changed is closed, not pooled.
func TestSQLDBConnKeepsSessionState(t *testing.T) {
	t.Parallel() // it only adds tables to the clusters it shares
	for _, k := range kinds {
		t.Run(k.String(), func(t *testing.T) {
			t.Parallel() // each kind has its own servers
			c := clusters.Get(t, k)
			db := readyDB(t, c, nil)
			sdb := db.SQLDB()
			id := newIdentity(c)
			ctx := sqldbCtx(t)
			table := seamTable(t, c, db, "sqldb_conn")
			pg := k == testcluster.Postgres

			conn, err := db.Conn(ctx) // the DB's own Conn is the routing *sql.DB's
			require.NoError(t, err)
			require.NotEqual(t, "primary", id.who(t, ctx, conn, ""), "a connection reads on the replicas until it writes")

			// The id a write made, read back through the session's state.
			var want, got int64
			if pg {
				require.NoError(t, conn.QueryRowContext(ctx, "INSERT INTO "+table+" (k) VALUES ('x') RETURNING id").Scan(&want))
				require.NoError(t, conn.QueryRowContext(ctx, "SELECT lastval()").Scan(&got))
			} else {
				res, err := conn.ExecContext(ctx, "INSERT INTO "+table+" (k) VALUES ('x')")
				require.NoError(t, err)
				want, err = res.LastInsertId()
				require.NoError(t, err)
				require.NoError(t, conn.QueryRowContext(ctx, "SELECT LAST_INSERT_ID()").Scan(&got))
			}
			require.Equal(t, want, got, "the session's last id is where the next statement runs")
			require.Equal(t, "primary", id.who(t, ctx, conn, ""), "after a write, every statement runs on the primary")
			require.Equal(t, "primary", id.who(t, replica.WithReplica(ctx), conn, ""), "WithReplica does not move it")
			require.NoError(t, conn.Close())

			// A temporary table, a setting and an advisory lock: each is where
			// the next statement of the connection runs.
			conn, err = sdb.Conn(ctx)
			require.NoError(t, err)
			tmp := "tmp_" + strconv.FormatInt(time.Now().UnixNano(), 36)
			mark := "sqlreplica_" + strconv.FormatInt(time.Now().UnixNano(), 36)
			steps := []string{"CREATE TEMPORARY TABLE " + tmp + " (v int)", "INSERT INTO " + tmp + " VALUES (7)"}
			if pg {
				steps = append(steps, "SET application_name = '"+mark+"'")
			} else {
				steps = append(steps, "SET @mark = '"+mark+"'")
			}
			for _, q := range steps {
				_, err := conn.ExecContext(ctx, q)
				require.NoError(t, err, q)
			}
			var v int
			require.NoError(t, conn.QueryRowContext(ctx, "SELECT v FROM "+tmp).Scan(&v), "a read of the temporary table")
			require.Equal(t, 7, v)
			var setting string
			q := "SELECT @mark"
			if pg {
				q = "SELECT current_setting('application_name')"
			}
			require.NoError(t, conn.QueryRowContext(ctx, q).Scan(&setting))
			require.Equal(t, mark, setting)
			lock, unlock := "SELECT pg_try_advisory_lock(4242)", "SELECT pg_advisory_unlock(4242)"
			if !pg {
				lock, unlock = "SELECT GET_LOCK('sqldb_lock', 1)", "SELECT RELEASE_LOCK('sqldb_lock')"
			}
			var ok bool
			require.NoError(t, conn.QueryRowContext(ctx, lock).Scan(&ok))
			require.True(t, ok)
			require.NoError(t, conn.QueryRowContext(ctx, unlock).Scan(&ok))
			require.True(t, ok, "the lock is released on the connection that holds it")

			// Raw hands over the primary's driver connection.
			require.NoError(t, conn.Raw(func(dc any) error {
				rc, err := dc.(*replica.DriverConn).Primary(ctx)
				if err != nil {
					return err
				}
				if pg {
					_, ok := rc.(*stdlib.Conn)
					require.True(t, ok, "%T", rc)
				}
				return nil
			}))
			require.NoError(t, conn.Close())

			// The connection that held that state was closed, not pooled:
			// no statement of the primary's pool sees it again.
			if pg {
				require.Eventually(t, func() bool {
					var n int
					err := db.Primary().QueryRowContext(ctx, "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1", mark).Scan(&n)
					return err == nil && n == 0
				}, 10*time.Second, 20*time.Millisecond, "the connection with the setting is still open")
			}
			for i := 0; i < 8; i++ {
				_, err := db.Primary().ExecContext(ctx, "SELECT count(*) FROM "+tmp)
				require.Error(t, err, "the temporary table outlived its connection's checkout")
			}
		})
	}
}

// TestSQLDBReadYourWrites: a session in the context is honoured by every
// statement of the routing *sql.DB: Exec, INSERT … RETURNING, a prepared
// statement, a transaction's commit, a Conn; next to a replica 1.5 s late.
func TestSQLDBReadYourWrites(t *testing.T) {
	t.Parallel() // it only adds tables to the clusters it shares
	for _, k := range kinds {
		t.Run(k.String(), func(t *testing.T) {
			t.Parallel() // each kind has its own servers
			c := lateCluster(t, k)
			db := readyDB(t, c, nil, fastPrimary)
			sdb := db.SQLDB()
			table := seamTable(t, c, db, "sqldb_ryw")
			p := ph(c, 1)
			count := func(ctx context.Context, q queryRower, key string) int {
				t.Helper()
				var n int
				require.NoError(t, q.QueryRowContext(ctx, "SELECT count(*) FROM "+table+" WHERE k = "+p, key).Scan(&n))
				return n
			}
			stale := 0
			for i := 0; i < 3; i++ {
				key := fmt.Sprintf("plain-%d", i)
				_, err := sdb.ExecContext(sqldbCtx(t), "INSERT INTO "+table+" (k) VALUES ("+p+")", key)
				require.NoError(t, err)
				if count(sqldbCtx(t), sdb, key) == 0 {
					stale++
				}
			}
			require.Positive(t, stale, "without a session the late replica serves stale reads: the test shows nothing")

			writes := []struct {
				name  string
				write func(ctx context.Context, key string) error
			}{
				{"ExecContext", func(ctx context.Context, key string) error {
					_, err := sdb.ExecContext(ctx, "INSERT INTO "+table+" (k) VALUES ("+p+")", key)
					return err
				}},
				{"a prepared statement", func(ctx context.Context, key string) error {
					st, err := sdb.PrepareContext(ctx, "INSERT INTO "+table+" (k) VALUES ("+p+")")
					if err != nil {
						return err
					}
					defer st.Close()
					_, err = st.ExecContext(ctx, key)
					return err
				}},
				{"a committed transaction", func(ctx context.Context, key string) error {
					tx, err := sdb.BeginTx(ctx, nil)
					if err != nil {
						return err
					}
					defer tx.Rollback()
					if _, err := tx.ExecContext(ctx, "INSERT INTO "+table+" (k) VALUES ("+p+")", key); err != nil {
						return err
					}
					return tx.Commit()
				}},
				{"a Conn", func(ctx context.Context, key string) error {
					conn, err := sdb.Conn(ctx)
					if err != nil {
						return err
					}
					defer conn.Close()
					_, err = conn.ExecContext(ctx, "INSERT INTO "+table+" (k) VALUES ("+p+")", key)
					return err
				}},
			}
			if k == testcluster.Postgres {
				writes = append(writes, struct {
					name  string
					write func(ctx context.Context, key string) error
				}{"INSERT … RETURNING", func(ctx context.Context, key string) error {
					var id int
					return sdb.QueryRowContext(ctx, "INSERT INTO "+table+" (k) VALUES ($1) RETURNING id", key).Scan(&id)
				}})
			}
			for _, w := range writes {
				key := "s-" + w.name
				ctx := consistency.WithSession(sqldbCtx(t))
				require.NoError(t, w.write(ctx, key), w.name)
				assert.Equal(t, 1, count(ctx, sdb, key), "%s: the session's next read missed it", w.name)
				st, err := sdb.PrepareContext(ctx, "SELECT count(*) FROM "+table+" WHERE k = "+p)
				require.NoError(t, err)
				var n int
				require.NoError(t, st.QueryRowContext(ctx, key).Scan(&n))
				require.NoError(t, st.Close())
				assert.Equal(t, 1, n, "%s: a prepared read of the session missed it", w.name)
				tx, err := sdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
				require.NoError(t, err)
				assert.Equal(t, 1, count(ctx, tx, key), "%s: a read-only transaction of the session missed it", w.name)
				require.NoError(t, tx.Rollback())
				tok := consistency.SessionFrom(ctx).Token()
				assert.Equal(t, 1, count(consistency.WithToken(sqldbCtx(t), tok), sdb, key), "%s: a read given the session's token missed it", w.name)
			}
		})
	}
}

// TestSQLDBBehavesLikeAPlainDB: what a plain *sql.DB on the primary gives,
// the routing one gives: sql.ErrNoRows, RowsAffected, LastInsertId, NULLs,
// column types, and the Go types a Scan into *any gives; and arguments
// reach the driver untouched (pgx.NamedArgs, a query exec mode, a
// driver.Valuer).
func TestSQLDBBehavesLikeAPlainDB(t *testing.T) {
	t.Parallel() // it only adds tables to the clusters it shares
	for _, k := range kinds {
		t.Run(k.String(), func(t *testing.T) {
			t.Parallel() // each kind has its own servers
			c := clusters.Get(t, k)
			db := readyDB(t, c, nil)
			ctx := sqldbCtx(t)
			table := seamTable(t, c, db, "sqldb_plain")
			p := ph(c, 1)
			pg := k == testcluster.Postgres
			for _, face := range []struct {
				name string
				db   *sql.DB
			}{{"plain", db.Primary()}, {"routing", db.SQLDB()}} {
				t.Run(face.name, func(t *testing.T) {
					var s string
					require.ErrorIs(t, face.db.QueryRowContext(replica.WithPrimary(ctx), "SELECT k FROM "+table+" WHERE id = -1").Scan(&s), sql.ErrNoRows)
					res, err := face.db.ExecContext(ctx, "INSERT INTO "+table+" (k) VALUES ("+p+")", face.name)
					require.NoError(t, err)
					n, err := res.RowsAffected()
					require.NoError(t, err)
					require.EqualValues(t, 1, n)
					if !pg {
						last, err := res.LastInsertId()
						require.NoError(t, err)
						require.Positive(t, last)
					}
					res, err = face.db.ExecContext(ctx, "UPDATE "+table+" SET k = k WHERE id < 0")
					require.NoError(t, err)
					n, err = res.RowsAffected()
					require.NoError(t, err)
					require.EqualValues(t, 0, n)
					var ns sql.NullString
					var ni sql.NullInt64
					require.NoError(t, face.db.QueryRowContext(ctx, "SELECT NULL, NULL").Scan(&ns, &ni))
					require.False(t, ns.Valid || ni.Valid)
				})
			}
			// Scan into *any, and the column types, match the plain pool's.
			q := "SELECT 1, 'text', 2.5, CAST(NULL AS CHAR), CAST('2024-01-02 03:04:05' AS DATETIME), X'4142'"
			if pg {
				q = "SELECT 1::int, 'text'::text, 2.5::float8, NULL::text, '2024-01-02 03:04:05'::timestamp, '\\x4142'::bytea, true, '{\"a\":1}'::jsonb, 1.5::numeric"
			}
			scan := func(d *sql.DB) ([]any, []string) {
				rows, err := d.QueryContext(ctx, q)
				require.NoError(t, err)
				defer rows.Close()
				cols, err := rows.ColumnTypes()
				require.NoError(t, err)
				var types []string
				for _, ct := range cols {
					types = append(types, fmt.Sprintf("%s/%v", ct.DatabaseTypeName(), ct.ScanType()))
				}
				vals := make([]any, len(cols))
				ptrs := make([]any, len(cols))
				for i := range vals {
					ptrs[i] = &vals[i]
				}
				require.True(t, rows.Next())
				require.NoError(t, rows.Scan(ptrs...))
				require.NoError(t, rows.Err())
				return vals, types
			}
			plainVals, plainTypes := scan(db.Primary())
			routedVals, routedTypes := scan(db.SQLDB())
			require.Equal(t, plainTypes, routedTypes)
			require.Equal(t, len(plainVals), len(routedVals))
			for i := range plainVals {
				require.Equal(t, reflect.TypeOf(plainVals[i]), reflect.TypeOf(routedVals[i]), "column %d", i)
				require.Equal(t, plainVals[i], routedVals[i], "column %d", i)
			}

			// Arguments reach the real driver as they are.
			var got string
			require.NoError(t, db.SQLDB().QueryRowContext(ctx, "SELECT "+p, valuer{"from a Valuer"}).Scan(&got))
			require.Equal(t, "from a Valuer", got)
			if pg {
				var n int
				require.NoError(t, db.SQLDB().QueryRowContext(ctx, "SELECT @n::int + 1", pgx.NamedArgs{"n": 41}).Scan(&n))
				require.Equal(t, 42, n)
				require.NoError(t, db.SQLDB().QueryRowContext(ctx, "SELECT $1::int", pgx.QueryExecModeSimpleProtocol, 7).Scan(&n))
				require.Equal(t, 7, n)
				st, err := db.SQLDB().PrepareContext(ctx, "SELECT @n::int * 2")
				require.NoError(t, err)
				require.NoError(t, st.QueryRowContext(ctx, pgx.NamedArgs{"n": 21}).Scan(&n))
				require.NoError(t, st.Close())
				require.Equal(t, 42, n)
			} else {
				var u uint64
				require.NoError(t, db.SQLDB().QueryRowContext(ctx, "SELECT CAST(? AS UNSIGNED)", uint64(1<<63+5)).Scan(&u))
				require.Equal(t, uint64(1<<63+5), u)
			}
		})
	}
}

type valuer struct{ s string }

func (v valuer) Value() (driver.Value, error) { return v.s, nil }

// TestSQLDBOnSaturatedPools: with one connection per node, a session's
// write then read, a Conn kept on the primary next to reads, and
// concurrent readers through both faces all finish: nothing holds a
// connection while it waits for another of the same pool.
func TestSQLDBOnSaturatedPools(t *testing.T) {
	t.Parallel() // it only adds tables to the clusters it shares
	for _, k := range kinds {
		t.Run(k.String(), func(t *testing.T) {
			t.Parallel() // each kind has its own servers
			c := clusters.Get(t, k)
			db := readyDB(t, c, nil, replica.ReadYourWrites(consistency.Policy{Wait: 200 * time.Millisecond}))
			table := seamTable(t, c, db, "sqldb_sat")
			db.SetMaxOpenConns(1)
			sdb := db.SQLDB()
			p := ph(c, 1)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()

			sctx := consistency.WithSession(ctx, consistency.PrimaryAfterWrite(time.Minute))
			_, err := sdb.ExecContext(sctx, "INSERT INTO "+table+" (k) VALUES ("+p+")", "sat")
			require.NoError(t, err)
			var n int
			require.NoError(t, sdb.QueryRowContext(sctx, "SELECT count(*) FROM "+table+" WHERE k = "+p, "sat").Scan(&n))
			require.Equal(t, 1, n)

			var wg sync.WaitGroup
			errs := make(chan error, 40)
			for i := 0; i < 20; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					var v int
					q := "SELECT count(*) FROM " + table
					if i%2 == 0 {
						errs <- sdb.QueryRowContext(sctx, q).Scan(&v)
					} else {
						errs <- db.QueryRowContext(sctx, q).Scan(&v)
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				require.NoError(t, err)
			}
		})
	}
}
