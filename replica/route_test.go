package replica

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sqlreplica/sqlreplica/consistency"
	"github.com/sqlreplica/sqlreplica/internal/fakedb"
	"github.com/sqlreplica/sqlreplica/router"
)

// TestEveryEntryPointRoutesByTheOneDecision runs every entry point over
// every combination of hint, class, session, split brain, which node is the
// writer, and lag limit, on the fake driver, and checks where each statement
// ran (or that it was refused and ran nowhere).
func TestEveryEntryPointRoutesByTheOneDecision(t *testing.T) {
	servers := []*fakedb.Server{fakedb.NewServer("primary"), fakedb.NewServer("replica1"), fakedb.NewServer("replica2")}
	pools := make([]*sql.DB, len(servers))
	for i, s := range servers {
		pools[i] = s.DB()
		t.Cleanup(func() { pools[i].Close() })
	}
	db, err := New(pools[0], pools[1:], CheckInterval(time.Hour))
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	db.CheckNow(context.Background()) // the first round, so that no later one replaces the views below

	type entry struct {
		name string
		run  func(ctx context.Context, query string) (string, error) // the server that ran it
	}
	queryRow := func(q interface {
		QueryRowContext(context.Context, string, ...any) *sql.Row
	}, ctx context.Context, query string) (string, error) {
		var s string
		err := q.QueryRowContext(ctx, query).Scan(&s)
		return s, err
	}
	ranOn := func(f func() error) (string, error) {
		before := make([]int64, len(servers))
		for i, s := range servers {
			before[i] = s.Queries()
		}
		if err := f(); err != nil {
			return "", err
		}
		for i, s := range servers {
			if s.Queries() != before[i] {
				return s.Name(), nil
			}
		}
		return "", errors.New("ran nowhere")
	}
	entries := []entry{
		{"ExecContext", func(ctx context.Context, q string) (string, error) {
			return ranOn(func() error { _, err := db.ExecContext(ctx, q); return err })
		}},
		{"QueryContext", func(ctx context.Context, q string) (string, error) {
			rows, err := db.QueryContext(ctx, q)
			if err != nil {
				return "", err
			}
			defer rows.Close()
			var s string
			rows.Next()
			return s, rows.Scan(&s)
		}},
		{"QueryRowContext", func(ctx context.Context, q string) (string, error) { return queryRow(db, ctx, q) }},
		{"PrepareContext", func(ctx context.Context, q string) (string, error) {
			st, err := db.PrepareContext(ctx, q)
			if err != nil {
				return "", err
			}
			defer st.Close()
			var s string
			return s, st.QueryRowContext(ctx).Scan(&s)
		}},
		{"BeginTx", func(ctx context.Context, q string) (string, error) {
			ro := q == readQuery
			tx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: ro})
			if err != nil {
				return "", err
			}
			defer tx.Rollback()
			return tx.Node(), nil
		}},
		{"Conn", func(ctx context.Context, q string) (string, error) {
			c, err := db.Conn(ctx)
			if err != nil {
				return "", err
			}
			defer c.Close()
			return queryRow(c, ctx, q)
		}},
		{"SQLDB().ExecContext", func(ctx context.Context, q string) (string, error) {
			return ranOn(func() error { _, err := db.SQLDB().ExecContext(ctx, q); return err })
		}},
		{"SQLDB().QueryRowContext", func(ctx context.Context, q string) (string, error) { return queryRow(db.SQLDB(), ctx, q) }},
		{"SQLDB().PrepareContext", func(ctx context.Context, q string) (string, error) {
			st, err := db.SQLDB().PrepareContext(ctx, q)
			if err != nil {
				return "", err
			}
			defer st.Close()
			var s string
			return s, st.QueryRowContext(ctx).Scan(&s)
		}},
		{"SQLDB().BeginTx", func(ctx context.Context, q string) (string, error) {
			tx, err := db.SQLDB().BeginTx(ctx, &sql.TxOptions{ReadOnly: q == readQuery})
			if err != nil {
				return "", err
			}
			defer tx.Rollback()
			return queryRow(tx, ctx, readQuery)
		}},
	}
	hints := []struct {
		name string
		with func(context.Context) context.Context
		h    uint8
	}{
		{"no hint", func(c context.Context) context.Context { return c }, hintNone},
		{"WithPrimary", WithPrimary, hintPrimary},
		{"WithReplica", WithReplica, hintReplica},
	}
	n := 0
	for _, e := range entries {
		for _, h := range hints {
			for _, query := range []string{readQuery, writeQuery} {
				for _, session := range []string{"none", "after a write"} {
					for _, split := range []bool{false, true} {
						for _, writer := range []int{0, 2} {
							for _, lagLimited := range []bool{false, true} {
								name := fmt.Sprintf("%s/%s/%s/session=%s/split=%v/writer=%s/lagLimit=%v",
									e.name, h.name, query, session, split, servers[writer].Name(), lagLimited)
								ctx := h.with(context.Background())
								if session != "none" {
									ctx = consistency.WithSession(ctx, consistency.PrimaryAfterWrite(time.Minute))
									consistency.SessionFrom(ctx).Record(consistency.Token{})
								}
								if lagLimited {
									ctx = WithMaxLag(ctx, time.Millisecond)
								}
								// The checker may publish a view of its own while the
								// statement runs (its first round, started with the DB,
								// can come late on a loaded machine): run it again on
								// the fake view until that view held throughout.
								var got string
								var err error
								for attempt := 0; ; attempt++ {
									v := fakeView(db, writer, split, lagLimited)
									db.view.Store(v)
									got, err = e.run(ctx, query)
									if db.view.Load() == v || attempt == 5 {
										break
									}
								}

								isRead := query == readQuery
								if strings.HasSuffix(e.name, "BeginTx") && h.h == hintReplica {
									isRead = true
								}
								wantWriter := servers[writer].Name()
								switch {
								case !isRead && split:
									require.ErrorIs(t, err, ErrSplitBrain, name)
								case !isRead:
									require.NoError(t, err, name)
									require.Equal(t, wantWriter, got, name)
								case h.h == hintPrimary || lagLimited ||
									session != "none":
									require.NoError(t, err, name)
									require.Equal(t, wantWriter, got, name)
								default:
									require.NoError(t, err, name)
									require.NotEqual(t, wantWriter, got, "a read ran on the writer: %s", name)
									require.Contains(t, []string{"replica1", "replica2", "primary"}, got, name)
								}
								n++
							}
						}
					}
				}
			}
		}
	}
	t.Logf("%d combinations", n)
}

const (
	readQuery  = "SELECT name FROM t"
	writeQuery = "UPDATE t SET a = 1 RETURNING name"
)

// fakeView is a routing view with node writer as the writer, split brain or
// not, and every replica either fresh or lagging past any limit.
func fakeView(db *DB, writer int, split, lagging bool) *view {
	snap := *db.checker.Snapshot()
	v := &view{snap: &snap, writer: db.all[writer], split: split}
	for _, n := range db.all {
		if n == v.writer {
			continue
		}
		v.readers = append(v.readers, router.Candidate{Name: n.name, Weight: 1, LagKnown: true,
			Lag: map[bool]time.Duration{false: 0, true: time.Hour}[lagging], InFlight: &n.inFlight})
		v.rnodes = append(v.rnodes, n)
	}
	return v
}

// TestSerializableReadOnlyTransactions: PostgreSQL's hot standby cannot run
// a read-only SERIALIZABLE transaction, so it runs on the primary there;
// MySQL and MariaDB replicas can.
func TestSerializableReadOnlyTransactions(t *testing.T) {
	for _, tt := range []struct {
		d    router.Dialect
		want string
	}{{router.PostgreSQL, "primary"}, {router.MariaDB, "replica1"}, {router.MySQL, "replica1"}} {
		t.Run(tt.d.String(), func(t *testing.T) {
			servers := []*fakedb.Server{fakedb.NewServer("primary"), fakedb.NewServer("replica1")}
			p, r := servers[0].DB(), servers[1].DB()
			t.Cleanup(func() { p.Close(); r.Close() })
			db, err := New(p, []*sql.DB{r}, CheckInterval(time.Hour))
			require.NoError(t, err)
			t.Cleanup(func() { db.Close() })
			db.CheckNow(context.Background())
			require.NoError(t, db.setDialect(tt.d))
			db.view.Store(fakeView(db, 0, false, false))
			tx, err := db.BeginTx(context.Background(), &sql.TxOptions{ReadOnly: true, Isolation: sql.LevelSerializable})
			require.NoError(t, err)
			require.Equal(t, tt.want, tx.Node())
			_, err = tx.Exec("UPDATE t SET a = 1")
			require.ErrorIs(t, err, ErrWriteOnReplica, "a read-only transaction refuses writes wherever it runs")
			require.NoError(t, tx.Rollback())
		})
	}
}
