package replica_test

// Attacks of the second adversarial review of package replica's routing and
// read-your-writes. Each test is a defect found on the code it was written
// against: it fails there. Every wait is bounded.

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sqlreplica/sqlreplica/consistency"
	"github.com/sqlreplica/sqlreplica/internal/testcluster"
	"github.com/sqlreplica/sqlreplica/replica"
)

// TestReviewReadTxRefusesAPreparedWrite: a transaction routed as a read
// refuses every statement that may write, lock or change session state with
// ErrWriteOnReplica, without sending it, "wherever it runs (on a replica, or
// on the primary ...)". A statement prepared by DB.PrepareContext (a write,
// so prepared on the primary) and bound with Tx.StmtContext to a read-only
// identityFunc creates a read-only user function returning its argument,
// named prefix plus a suffix, and waits until every replica has it.
func identityFunc(t *testing.T, c *testcluster.Cluster, db *replica.DB, prefix string) string {
	t.Helper()
	fn := fmt.Sprintf("%s_%d", prefix, time.Now().UnixNano())
	q := "CREATE FUNCTION " + fn + "(x int) RETURNS int DETERMINISTIC NO SQL RETURN x"
	if c.Kind == testcluster.Postgres {
		q = "CREATE FUNCTION " + fn + "(x int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT x'"
	}
	_, err := db.Exec(q)
	require.NoError(t, err)
	waitFunction(t, c, fn)
	return fn
}

// transaction that runs on the primary is sent: the lock is taken.
func TestReviewReadTxRefusesAPreparedWrite(t *testing.T) {
	t.Parallel() // a table and lock keys of its own on the shared clusters
	for _, k := range kinds {
		t.Run(k.String(), func(t *testing.T) {
			t.Parallel() // each kind has its own servers
			c := clusters.Get(t, k)
			db := openCluster(t, c)
			table := seamTable(t, c, db, "rv_stmt")
			lockKey := time.Now().UnixNano()%1000000 + 3000000
			lockName := fmt.Sprintf("rv_stmt_%d", lockKey)
			lock := fmt.Sprintf("SELECT GET_LOCK('%s', 0)", lockName)
			if k == testcluster.Postgres {
				lock = fmt.Sprintf("SELECT pg_advisory_lock(%d)::text", lockKey)
			}
			lockHeld := func() bool {
				pdb, err := c.Open(c.Primary)
				require.NoError(t, err)
				defer pdb.Close()
				ctx, cancel := context.WithTimeout(context.Background(), seamWait)
				defer cancel()
				if k == testcluster.Postgres {
					var n int
					require.NoError(t, pdb.QueryRowContext(ctx, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = $1", lockKey).Scan(&n))
					return n > 0
				}
				var free sql.NullInt64
				require.NoError(t, pdb.QueryRowContext(ctx, "SELECT IS_FREE_LOCK(?)", lockName).Scan(&free))
				return !free.Valid || free.Int64 == 0
			}

			ctx, cancel := context.WithTimeout(context.Background(), seamWait)
			defer cancel()
			lockStmt, err := db.PrepareContext(ctx, lock)
			require.NoError(t, err)
			defer lockStmt.Close()
			insStmt, err := db.PrepareContext(ctx, "INSERT INTO "+table+" (k) VALUES ("+ph(c, 1)+")")
			require.NoError(t, err)
			defer insStmt.Close()

			tx, err := db.BeginTx(replica.WithPrimary(ctx), &sql.TxOptions{ReadOnly: true})
			require.NoError(t, err)
			defer tx.Rollback()
			require.Equal(t, "primary", tx.Node())

			var got sql.NullString
			err = tx.StmtContext(ctx, lockStmt).QueryRowContext(ctx).Scan(&got)
			assert.ErrorIs(t, err, replica.ErrWriteOnReplica, "a lock sent through a read-routed transaction (result %v)", got)
			assert.False(t, lockHeld(), "the read-routed transaction took a lock on the primary")

			_, err = tx.StmtContext(ctx, insStmt).ExecContext(ctx, "tx")
			assert.ErrorIs(t, err, replica.ErrWriteOnReplica, "an INSERT was sent through a read-routed transaction")
		})
	}
}

// TestReviewPreparedDeclaredReadIsUsable: DB.PrepareContext of a read that
// calls a function declared read-only returns a statement bound to a
// connection that the DB closes behind the caller's back: the statement
// fails on its first use.
func TestReviewPreparedDeclaredReadIsUsable(t *testing.T) {
	t.Parallel() // a function of its own on the shared clusters
	for _, k := range kinds {
		t.Run(k.String(), func(t *testing.T) {
			t.Parallel() // each kind has its own servers
			c := clusters.Get(t, k)
			setup := openCluster(t, c)
			fn := identityFunc(t, c, setup, "rv_ident")
			db := openCluster(t, c, replica.ReadFunctions(fn))

			ctx, cancel := context.WithTimeout(context.Background(), seamWait)
			defer cancel()
			st, err := db.PrepareContext(ctx, "SELECT "+fn+"("+ph(c, 1)+")")
			require.NoError(t, err)
			defer st.Close()
			time.Sleep(100 * time.Millisecond)
			var v int
			require.NoError(t, st.QueryRowContext(ctx, 7).Scan(&v), "the prepared statement is unusable")
			require.Equal(t, 7, v)
		})
	}
}

// TestReviewConcurrentReadKeepsTheMonotonicFloor: a session's reads never
// go back in time. Read A (on the primary) sees row X; a read B of the same
// session, begun on the late replica before A and ending after it, pins the
// session back to that replica without its floor; read C, begun after A and
// B ended, runs there and does not see X.
func TestReviewConcurrentReadKeepsTheMonotonicFloor(t *testing.T) {
	t.Parallel() // it only adds tables to the clusters it shares
	for _, k := range kinds {
		t.Run(k.String(), func(t *testing.T) {
			t.Parallel() // each kind has its own servers
			c := lateCluster(t, k)
			db := readyDB(t, c, nil)
			id := newIdentity(c)
			table := seamTable(t, c, db, "rv_mono")
			late := c.Replicas[0].Name
			ctx, cancel := context.WithTimeout(consistency.WithSession(context.Background()), 10*time.Second)
			defer cancel()

			// Pin the session to the late replica.
			require.Equal(t, late, id.who(t, ctx, db, ""))

			// B: a slow read of the session on the late replica.
			slow := "SELECT " + id.whoExpr() + " + SLEEP(0.8)"
			if k == testcluster.Postgres {
				slow = "SELECT " + id.whoExpr() + " FROM pg_sleep(0.8)"
			}
			bDone := make(chan string, 1)
			go func() {
				var v int
				err := db.QueryRowContext(ctx, slow).Scan(&v)
				if err != nil {
					bDone <- "error: " + err.Error()
					return
				}
				bDone <- id.name(v)
			}()
			time.Sleep(150 * time.Millisecond)

			// X, written by someone else; A sees it on the primary.
			_, err := db.ExecContext(context.Background(), "INSERT INTO "+table+" (k) VALUES ('x')")
			require.NoError(t, err)
			t0 := time.Now()
			count := "SELECT (SELECT count(*) FROM " + table + " WHERE k = 'x'), " + id.whoExpr()
			var a, who int
			require.NoError(t, db.QueryRowContext(replica.WithPrimary(ctx), count).Scan(&a, &who))
			require.Equal(t, 1, a)
			require.Equal(t, late, <-bDone, "B ran on the late replica")

			// C, after A and B ended. It may not wait for a replica to catch
			// up (so that it returns before the late replica shows X anyway):
			// it must go where X is.
			var cv int
			nowait := consistency.WithPolicy(ctx, consistency.Policy{Wait: -1})
			require.NoError(t, db.QueryRowContext(nowait, count).Scan(&cv, &who))
			elapsed := time.Since(t0)
			require.Less(t, elapsed, 1400*time.Millisecond, "too slow to show anything")
			assert.Equal(t, 1, cv, "read C on %s went back in time: A saw X, C (%v after X) did not", id.name(who), elapsed.Round(time.Millisecond))
		})
	}
}

// TestReviewSessionReadIsNotHeldByTheCallersPrimaryConnection: with pools of
// one connection, a session read that a replica can serve must not wait for
// the primary connection the caller holds (rows of an earlier read on the
// primary left open, or a read-only transaction on the primary). The DB
// reads the primary's position for the earlier read's monotonic floor from
// the same pool, and waits until the read's context ends.
func TestReviewSessionReadIsNotHeldByTheCallersPrimaryConnection(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.String(), func(t *testing.T) {
			t.Parallel() // each kind has its own servers
			c := clusters.Get(t, k)
			holds := []struct {
				name string
				hold func(ctx context.Context, db *replica.DB) (release func(), err error)
			}{
				{"rows of a read on the primary", func(ctx context.Context, db *replica.DB) (func(), error) {
					rows, err := db.QueryContext(replica.WithPrimary(ctx), "SELECT 1")
					if err != nil {
						return nil, err
					}
					return func() { rows.Close() }, nil
				}},
				{"read-only transaction on the primary", func(ctx context.Context, db *replica.DB) (func(), error) {
					tx, err := db.BeginTx(replica.WithPrimary(ctx), &sql.TxOptions{ReadOnly: true})
					if err != nil {
						return nil, err
					}
					return func() { tx.Rollback() }, nil
				}},
			}
			for _, h := range holds {
				t.Run(h.name, func(t *testing.T) {
					db := readyDB(t, c, nil)
					db.SetMaxOpenConns(1)
					ctx := consistency.WithSession(context.Background())
					release, err := h.hold(ctx, db)
					require.NoError(t, err)
					defer release()

					// Raw database/sql: the replica's pool is free, this read is served.
					rctx, cancel := context.WithTimeout(ctx, 3*time.Second)
					defer cancel()
					start := time.Now()
					var v int
					err = db.QueryRowContext(rctx, "SELECT 1").Scan(&v)
					assert.NoError(t, err, "the session read waited %v", time.Since(start).Round(time.Millisecond))
					if errors.Is(err, context.DeadlineExceeded) {
						t.Logf("the read waited for the primary connection its caller holds")
					}
				})
			}
		})
	}
}

// TestReviewEndedContextDoesNotMakeTheSessionUnsure: a caller's context
// ending is not the session's fault. After a read on the primary, the next
// read of the session reads the primary's position for its floor with that
// read's own context; when that context has already ended, the position read
// fails and the session is marked unsure for good: every later read, with a
// live context, goes to the primary, or with a ReplicaOnly policy is
// refused, although the session never wrote anything.
func TestReviewEndedContextDoesNotMakeTheSessionUnsure(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.String(), func(t *testing.T) {
			t.Parallel() // each kind has its own servers
			c := clusters.Get(t, k)
			db := readyDB(t, c, nil)
			id := newIdentity(c)
			ctx, cancel := context.WithTimeout(consistency.WithSession(context.Background()), seamWait)
			defer cancel()
			require.Equal(t, "primary", id.who(t, replica.WithPrimary(ctx), db, ""))

			ended, end := context.WithCancel(ctx)
			end()
			var v int
			require.Error(t, db.QueryRowContext(ended, "SELECT 1").Scan(&v))

			s := consistency.SessionFrom(ctx)
			assert.False(t, s.Unsure(), "a read whose context had ended made the session unsure")
			var who int
			err := db.QueryRowContext(consistency.WithPolicy(ctx, consistency.Policy{ReplicaOnly: true}), "SELECT "+id.whoExpr()).Scan(&who)
			assert.NoError(t, err, "a later read with a live context and ReplicaOnly")
			if err == nil {
				assert.NotEqual(t, "primary", id.name(who))
			}
			require.NoError(t, db.QueryRowContext(ctx, "SELECT "+id.whoExpr()).Scan(&who))
			assert.NotEqual(t, "primary", id.name(who), "a later read with a live context went to the primary")
		})
	}
}

// TestReviewOneCallersDeadlineDoesNotMakeOtherSessionsUnsure: the primary's
// position is read once for concurrent callers (singleflight), with the
// context of the caller that started the read: when that caller's deadline
// ends the read, every session that joined it is marked unsure, although its
// own context was live.
func TestReviewOneCallersDeadlineDoesNotMakeOtherSessionsUnsure(t *testing.T) {
	t.Parallel() // it only reads the shared clusters
	for _, k := range kinds {
		t.Run(k.String(), func(t *testing.T) {
			t.Parallel() // each kind has its own servers
			c := clusters.Get(t, k)
			db := readyDB(t, c, nil)
			deadline := time.Now().Add(8 * time.Second)
			var (
				mu     sync.Mutex
				unsure int
				rounds int
			)
			for time.Now().Before(deadline) && unsure == 0 {
				var wg sync.WaitGroup
				for g := 0; g < 16; g++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						ctx, cancel := context.WithTimeout(consistency.WithSession(context.Background()), seamWait)
						defer cancel()
						var v int
						if db.QueryRowContext(replica.WithPrimary(ctx), "SELECT 1").Scan(&v) != nil {
							return
						}
						rctx := ctx
						if g%2 == 1 { // a caller in a hurry
							var c2 context.CancelFunc
							rctx, c2 = context.WithTimeout(ctx, time.Duration(200+g*50)*time.Microsecond)
							defer c2()
						}
						_ = db.QueryRowContext(rctx, "SELECT 1").Scan(&v)
						if g%2 == 0 && consistency.SessionFrom(ctx).Unsure() {
							mu.Lock()
							unsure++
							mu.Unlock()
						}
					}()
				}
				wg.Wait()
				rounds++
			}
			assert.Zero(t, unsure, "sessions with live contexts made unsure by another caller's deadline (%d rounds)", rounds)
		})
	}
}

// TestReviewNoGoroutineOutlivesClose: Close must not hang and no goroutine
// of the DB may outlive it, while readers and writers of other goroutines
// keep running statements that spawn one (isolated reads of a declared
// function, session writes through QueryContext).
func TestReviewNoGoroutineOutlivesClose(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.String(), func(t *testing.T) {
			// Not parallel: it looks for goroutines of every DB in the process.
			c := clusters.Get(t, k)
			setup := openCluster(t, c)
			// Only the primary's table is written to: no wait for the late
			// replica to have it (identityFunc waits for the function).
			table := fmt.Sprintf("rv_close_%d", time.Now().UnixNano())
			idCol := "id int AUTO_INCREMENT PRIMARY KEY"
			if k == testcluster.Postgres {
				idCol = "id serial PRIMARY KEY"
			}
			_, err := setup.Exec("CREATE TABLE " + table + " (" + idCol + ", k varchar(100))")
			require.NoError(t, err)
			fn := identityFunc(t, c, setup, "rv_cident")
			for round := 0; round < 8; round++ {
				db := readyDB(t, c, nil, replica.ReadFunctions(fn))
				stmts := []string{"SELECT " + fn + "(1)"}
				if k != testcluster.MySQL {
					stmts = append(stmts, "INSERT INTO "+table+" (k) VALUES ('c') RETURNING id")
				}
				var wg sync.WaitGroup
				stop := make(chan struct{})
				for g := 0; g < 8; g++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						ctx, cancel := context.WithTimeout(consistency.WithSession(context.Background()), seamWait)
						defer cancel()
						for i := 0; ; i++ {
							select {
							case <-stop:
								return
							default:
							}
							rows, err := db.QueryContext(ctx, stmts[(g+i)%len(stmts)])
							if err != nil {
								if errors.Is(err, replica.ErrClosed) {
									return
								}
								continue
							}
							for rows.Next() {
							}
							rows.Close()
						}
					}()
				}
				time.Sleep(time.Duration(100+round*37) * time.Millisecond)
				closed := make(chan error, 1)
				go func() { closed <- db.Close() }()
				select {
				case <-closed:
				case <-time.After(seamWait):
					close(stop)
					t.Fatalf("Close hung")
				}
				seen, stack := 0, ""
				for end := time.Now().Add(300 * time.Millisecond); time.Now().Before(end); time.Sleep(time.Millisecond) {
					buf := make([]byte, 1<<20)
					buf = buf[:runtime.Stack(buf, true)]
					for _, g := range bytes.Split(buf, []byte("\n\n")) {
						if bytes.Contains(g, []byte("created by github.com/sqlreplica/sqlreplica/replica.(*DB).afterRows")) && !exiting(g) {
							seen, stack = seen+1, string(g)
						}
					}
				}
				close(stop)
				wg.Wait()
				require.Zero(t, seen, "round %d: a goroutine of the DB was running after Close returned:\n%s", round, stack)
			}
		})
	}
}

// exiting reports whether goroutine stack g is in its own function only,
// with no call under way: after Close has returned, a goroutine Close waited
// for can only be there past its deferred wg.Done, returning (the
// WaitGroup's count held Close until then), and does nothing more.
func exiting(g []byte) bool {
	lines := bytes.Split(g, []byte("\n"))
	// goroutine N [state]:, its function, its file:line, created by …
	return len(lines) >= 4 && bytes.HasPrefix(lines[3], []byte("created by "))
}
