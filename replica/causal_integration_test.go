package replica_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sqlreplica/sqlreplica/consistency"
	"github.com/sqlreplica/sqlreplica/internal/testcluster"
	"github.com/sqlreplica/sqlreplica/replica"
)

// causalCluster starts a cluster with a fresh replica and one about 1.5 s
// late (2 s on MySQL and MariaDB), and makes a table (id auto-numbered, k a
// key) every replica has.
func causalCluster(t *testing.T, k testcluster.Kind) (*testcluster.Cluster, string) {
	c := rywCluster(t, k)
	setup := openCluster(t, c)
	return c, seamTable(t, c, setup, "causal")
}

// countKey returns how many rows of table have key k, as read through q
// with ctx (no session in it), and the server that answered.
func countKey(t *testing.T, ctx context.Context, c *testcluster.Cluster, id *identity, q queryRower, table, key string) (n int, who string) {
	t.Helper()
	var w int
	require.NoError(t, q.QueryRowContext(ctx, "SELECT count(*), "+id.whoExpr()+" FROM "+table+" WHERE k = "+ph(c, 1), key).Scan(&n, &w))
	return n, id.name(w)
}

// TestCausalReadsSeeEveryAcknowledgedWrite: with CausalReads and no session
// in any context, a read right after a write sees it, whichever way the
// write went (ExecContext, INSERT … RETURNING through QueryContext and
// QueryRowContext, a committed transaction), and so do reads of hundreds of
// goroutines writing and reading at once. The same pairs on a DB without
// the option read stale rows: the test can fail.
func TestCausalReadsSeeEveryAcknowledgedWrite(t *testing.T) {
	t.Parallel() // it only adds tables to the clusters it shares
	for _, k := range kinds {
		t.Run(k.String(), func(t *testing.T) {
			t.Parallel() // each kind has its own servers
			c, table := causalCluster(t, k)
			id := newIdentity(c)
			db := openCluster(t, c, replica.CausalReads(), fastPrimary)
			plain := openCluster(t, c, fastPrimary)
			ins := "INSERT INTO " + table + " (k) VALUES (" + ph(c, 1) + ")"
			returning := c.Kind != testcluster.MySQL // MySQL has no INSERT … RETURNING

			writes := []struct {
				name string
				skip bool
				run  func(ctx context.Context, db *replica.DB, key string) error
			}{
				{"ExecContext", false, func(ctx context.Context, db *replica.DB, key string) error {
					_, err := db.ExecContext(ctx, ins, key)
					return err
				}},
				{"QueryContext RETURNING", !returning, func(ctx context.Context, db *replica.DB, key string) error {
					rows, err := db.QueryContext(ctx, ins+" RETURNING id", key)
					if err != nil {
						return err
					}
					for rows.Next() {
					}
					return errors.Join(rows.Err(), rows.Close())
				}},
				{"QueryRowContext RETURNING", !returning, func(ctx context.Context, db *replica.DB, key string) error {
					var n int
					return db.QueryRowContext(ctx, ins+" RETURNING id", key).Scan(&n)
				}},
				{"Tx commit", false, func(ctx context.Context, db *replica.DB, key string) error {
					tx, err := db.BeginTx(ctx, nil)
					if err != nil {
						return err
					}
					if _, err := tx.ExecContext(ctx, ins, key); err != nil {
						return errors.Join(err, tx.Rollback())
					}
					return tx.Commit()
				}},
			}
			ctx := context.Background()
			stalePlain := 0
			for _, w := range writes {
				if w.skip {
					continue
				}
				t.Run(w.name, func(t *testing.T) {
					onReplica := 0
					for i := 0; i < 20; i++ {
						key := fmt.Sprintf("%s-%d", w.name, i)
						require.NoError(t, w.run(ctx, db, key))
						n, who := countKey(t, ctx, c, id, db, table, key)
						require.Equal(t, 1, n, "stale read of %s on %s", key, who)
						if who != "primary" {
							onReplica++
						}
						require.NoError(t, w.run(ctx, plain, "plain-"+key))
						if n, _ := countKey(t, ctx, c, id, plain, table, "plain-"+key); n == 0 {
							stalePlain++
						}
					}
					t.Logf("%s: %d of 20 fresh reads served by the fresh replica", w.name, onReplica)
				})
			}
			require.NotZero(t, stalePlain, "no stale read without CausalReads: the test could not fail")

			t.Run("goroutines", func(t *testing.T) {
				const goroutines, pairs = 8, 40
				var usable []func(context.Context, *replica.DB, string) error
				for _, w := range writes {
					if !w.skip {
						usable = append(usable, w.run)
					}
				}
				var (
					mu               sync.Mutex
					stale, onReplica int
				)
				var wg sync.WaitGroup
				for g := 0; g < goroutines; g++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for i := 0; i < pairs; i++ {
							key := fmt.Sprintf("g%d-%d", g, i)
							if err := usable[i%len(usable)](ctx, db, key); err != nil {
								t.Error(err)
								return
							}
							var n, w int
							if err := db.QueryRowContext(ctx, "SELECT count(*), "+id.whoExpr()+" FROM "+table+" WHERE k = "+ph(c, 1), key).Scan(&n, &w); err != nil {
								t.Error(err)
								return
							}
							mu.Lock()
							if n != 1 {
								stale++
							}
							if id.name(w) != "primary" {
								onReplica++
							}
							mu.Unlock()
						}
					}()
				}
				wg.Wait()
				require.Zero(t, stale, "stale reads among %d", goroutines*pairs)
				t.Logf("%d concurrent pairs: 0 stale; %d reads served by replicas", goroutines*pairs, onReplica)
			})

			t.Run("reads spread over the replicas once they caught up", func(t *testing.T) {
				// The session only tells the test where "last" landed; the
				// DB's causal reads know it without one.
				sctx := consistency.WithSession(ctx)
				_, err := db.ExecContext(sctx, ins, "last")
				require.NoError(t, err)
				last := consistency.SessionFrom(sctx).Token()
				waitReplicated(t, c, "SELECT count(*) FROM "+table+" WHERE k = 'last'", 1)
				// Every replica checked to have the DB's last write (other
				// tests write to the same cluster meanwhile, so "no lag at
				// all" may never be seen).
				require.Eventually(t, func() bool {
					s := db.CheckNow(ctx)
					for _, n := range s.Nodes[1:] {
						if !n.Healthy || !n.Position.Covers(last) {
							return false
						}
					}
					return true
				}, 15*time.Second, 50*time.Millisecond)
				served := map[string]int{}
				for i := 0; i < 40; i++ {
					_, who := countKey(t, ctx, c, id, db, table, "last")
					served[who]++
				}
				require.Zero(t, served["primary"], "reads on the primary: %v", served)
				for _, r := range c.Replicas {
					require.NotZero(t, served[r.Name], "no read on %s: %v", r.Name, served)
				}
			})
		})
	}
}

// TestCausalReadDoesNotWaitForAWriteWhoseRowsAreOpen: a write through
// QueryContext is acknowledged only once its rows are closed; a read that
// begins while they are open runs at once, from this goroutine and from
// another, and a read after they are closed sees the write.
func TestCausalReadDoesNotWaitForAWriteWhoseRowsAreOpen(t *testing.T) {
	t.Parallel()                                                                      // its clusters are its own
	for _, k := range []testcluster.Kind{testcluster.Postgres, testcluster.MariaDB} { // MySQL has no RETURNING
		t.Run(k.String(), func(t *testing.T) {
			t.Parallel()
			c := lateCluster(t, k)
			setup := openCluster(t, c)
			table := seamTable(t, c, setup, "causal_open")
			id := newIdentity(c)
			db := openCluster(t, c, replica.CausalReads(), replica.ReadYourWrites(consistency.Policy{Wait: 3 * time.Second}))
			ctx := context.Background()
			rows, err := db.QueryContext(ctx, "INSERT INTO "+table+" (k) VALUES ("+ph(c, 1)+") RETURNING id", "open")
			require.NoError(t, err)
			t.Cleanup(func() { rows.Close() })

			read := func() time.Duration {
				start := time.Now()
				rctx, cancel := context.WithTimeout(ctx, seamWait)
				defer cancel()
				countKey(t, rctx, c, id, db, table, "other")
				return time.Since(start)
			}
			// The replica is 1.5–2 s late and the policy would wait 3 s for
			// it: a read that waited for the write would show it.
			require.Less(t, read(), time.Second, "a read waited for a write whose rows are open")
			var other time.Duration
			done := make(chan struct{})
			go func() { defer close(done); other = read() }()
			<-done
			require.Less(t, other, time.Second, "another goroutine's read waited for a write whose rows are open")

			require.True(t, rows.Next())
			require.NoError(t, rows.Close())
			n, _ := countKey(t, ctx, c, id, db, table, "open")
			require.Equal(t, 1, n, "the write's rows are closed: a read must see it")
		})
	}
}

// TestRecordWriteTellsOfAWriteOutsideTheDB: a write through a pool of the
// primary's own, then RecordWrite, then a read with the session (or, with
// CausalReads, without one) sees it. Without RecordWrite the same read is
// stale: the test can fail.
func TestRecordWriteTellsOfAWriteOutsideTheDB(t *testing.T) {
	t.Parallel() // it only adds tables to the clusters it shares
	for _, k := range kinds {
		t.Run(k.String(), func(t *testing.T) {
			t.Parallel()
			c := lateCluster(t, k)
			setup := openCluster(t, c)
			table := seamTable(t, c, setup, "causal_raw")
			id := newIdentity(c)
			raw, err := c.Open(c.Primary)
			require.NoError(t, err)
			t.Cleanup(func() { raw.Close() })
			db := openCluster(t, c, fastPrimary)
			causal := openCluster(t, c, replica.CausalReads(), fastPrimary)
			ins := "INSERT INTO " + table + " (k) VALUES (" + ph(c, 1) + ")"
			write := func(key string) {
				_, err := raw.Exec(ins, key)
				require.NoError(t, err)
			}
			for _, tt := range []struct {
				name   string
				db     *replica.DB
				ctx    func() context.Context
				record bool
			}{
				{"session, no RecordWrite", db, func() context.Context { return consistency.WithSession(context.Background()) }, false},
				{"session", db, func() context.Context { return consistency.WithSession(context.Background()) }, true},
				{"CausalReads", causal, context.Background, true},
			} {
				t.Run(tt.name, func(t *testing.T) {
					stale := 0
					for i := 0; i < 5; i++ {
						key := fmt.Sprintf("%s-%d", tt.name, i)
						ctx := tt.ctx()
						// The session has read on the replica before: it is
						// pinned there when the write happens.
						countKey(t, ctx, c, id, tt.db, table, key)
						write(key)
						if tt.record {
							require.NoError(t, tt.db.RecordWrite(ctx))
						}
						if n, _ := countKey(t, ctx, c, id, tt.db, table, key); n != 1 {
							stale++
						}
					}
					if tt.record {
						require.Zero(t, stale)
					} else {
						require.NotZero(t, stale, "no stale read without RecordWrite: the test could not fail")
					}
				})
			}
		})
	}
}
