package replica

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sqlreplica/sqlreplica/consistency"
	"github.com/sqlreplica/sqlreplica/health"
	"github.com/sqlreplica/sqlreplica/internal/fakedb"
	"github.com/sqlreplica/sqlreplica/router"
)

// The fake driver cannot report replication positions: these tests set the
// replicas' positions in the routing view and the primary's in the cache
// its position reads go through (primaryPos), so that no health check and
// no position read replaces them. A position "read" from that cache costs
// no statement, so every statement the fake servers count is one the
// routing sent.

const causalSystem = 7 // the fake cluster's system identifier

func lsn(n uint64) consistency.Token { return consistency.PostgresToken(causalSystem, 1, n) }

type causalFixture struct {
	db      *DB
	servers []*fakedb.Server
}

func newCausalFixture(t *testing.T, opts ...Option) *causalFixture {
	t.Helper()
	servers := []*fakedb.Server{fakedb.NewServer("primary"), fakedb.NewServer("replica1"), fakedb.NewServer("replica2")}
	pools := make([]*sql.DB, len(servers))
	for i, s := range servers {
		pools[i] = s.DB()
		t.Cleanup(func() { pools[i].Close() })
	}
	opts = append([]Option{CheckInterval(time.Hour), Dialect(router.PostgreSQL), CausalReads(),
		ReadYourWrites(consistency.Policy{Wait: -1})}, opts...)
	db, err := New(pools[0], pools[1:], opts...)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	// The one round of checks (the next is an hour away) must be over, so
	// that it replaces none of the views the tests publish.
	require.Eventually(t, func() bool {
		v := db.view.Load()
		return v != nil && v.snap == db.checker.Snapshot() && !v.snap.Nodes[0].CheckedAt.IsZero()
	}, 10*time.Second, time.Millisecond)
	return &causalFixture{db: db, servers: servers}
}

// replicasAt publishes a routing view where every node is healthy and the
// replicas have applied r1 and r2.
func (f *causalFixture) replicasAt(r1, r2 uint64) {
	st := func(name string, role health.Role, pos uint64) health.Status {
		return health.Status{Name: name, Role: role, Healthy: true, Reachable: true, Writable: role == health.Primary,
			Position: lsn(pos), Lag: health.Lag{Known: true}}
	}
	f.db.buildView(&health.Snapshot{Writer: 0, WriterKnown: true, Time: time.Now(), Nodes: []health.Status{
		st("primary", health.Primary, max(r1, r2)), st("replica1", health.Replica, r1), st("replica2", health.Replica, r2)}})
}

// primaryAt makes every read of the primary's position give p, without a
// statement; stale makes a fresh read needed (and fail on the fake).
func (f *causalFixture) primaryAt(p uint64, stale bool) {
	pp := &f.db.pp
	pp.mu.Lock()
	defer pp.mu.Unlock()
	pp.node, pp.pos, pp.at = f.db.primary, lsn(p), time.Now().Add(time.Hour)
	if stale {
		pp.at = time.Now().Add(-time.Hour)
	}
}

func (f *causalFixture) counts() []int64 {
	out := make([]int64, len(f.servers))
	for i, s := range f.servers {
		out[i] = s.Queries()
	}
	return out
}

// reads runs n reads with ctx and returns how many each server served.
func (f *causalFixture) reads(t *testing.T, ctx context.Context, n int) map[string]int {
	t.Helper()
	got := map[string]int{}
	for i := 0; i < n; i++ {
		var who string
		require.NoError(t, f.db.QueryRowContext(ctx, "SELECT name FROM users WHERE id = 1").Scan(&who))
		got[who]++
	}
	return got
}

func TestCausalReadsOption(t *testing.T) {
	for _, tt := range []struct {
		name     string
		opts     []Option
		replicas int
		wantErr  bool
		wantOn   bool
	}{
		{"no dialect yet: reads after a write go to the primary", []Option{CausalReads()}, 2, false, true},
		{"PostgreSQL", []Option{CausalReads(), Dialect(router.PostgreSQL)}, 2, false, true},
		{"MySQL", []Option{CausalReads(), Dialect(router.MySQL)}, 1, false, true},
		{"MariaDB", []Option{CausalReads(), Dialect(router.MariaDB)}, 1, false, true},
		{"no replicas: nothing to do", []Option{CausalReads(), Dialect(router.PostgreSQL)}, 0, false, false},
		{"without the option", []Option{Dialect(router.PostgreSQL)}, 2, false, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := fakedb.NewServer("primary").DB()
			t.Cleanup(func() { p.Close() })
			var rs []*sql.DB
			for i := 0; i < tt.replicas; i++ {
				r := fakedb.NewServer("replica").DB()
				t.Cleanup(func() { r.Close() })
				rs = append(rs, r)
			}
			db, err := New(p, rs, append(tt.opts, CheckInterval(time.Hour))...)
			if tt.wantErr {
				require.ErrorIs(t, err, ErrBadOption)
				require.ErrorContains(t, err, "CausalReads")
				return
			}
			require.NoError(t, err)
			t.Cleanup(func() { db.Close() })
			require.Equal(t, tt.wantOn, db.causal.on)
		})
	}
}

// TestCausalReadCostsNoStatementWhenTheReplicasHaveTheWrites: once the
// replicas' known positions cover the DB's writes, each read is one
// statement on a replica, and reads spread over every replica (no pinning).
func TestCausalReadCostsNoStatementWhenTheReplicasHaveTheWrites(t *testing.T) {
	f := newCausalFixture(t)
	f.replicasAt(100, 100)
	f.primaryAt(80, false)
	_, err := f.db.ExecContext(context.Background(), "UPDATE users SET name = 'x' WHERE id = 1")
	require.NoError(t, err)
	require.Equal(t, lsn(80), *f.db.causal.pos.Load(), "the write's position is the DB's")

	before := f.counts()
	got := f.reads(t, context.Background(), 200)
	after := f.counts()
	require.Equal(t, before[0], after[0], "no statement on the primary")
	require.Equal(t, int64(200), after[1]-before[1]+after[2]-before[2], "one statement per read")
	require.Equal(t, map[string]int{"replica1": 100, "replica2": 100}, got, "reads spread over the replicas")
}

func TestCausalReadGoesOnlyWhereTheWritesAre(t *testing.T) {
	f := newCausalFixture(t)
	f.primaryAt(80, false)
	f.db.causal.merge(lsn(80))
	ctx := context.Background()

	f.replicasAt(100, 50)
	require.Equal(t, map[string]int{"replica1": 50}, f.reads(t, ctx, 50))
	f.replicasAt(50, 80)
	require.Equal(t, map[string]int{"replica2": 50}, f.reads(t, ctx, 50))
	f.replicasAt(79, 50)
	require.Equal(t, map[string]int{"primary": 10}, f.reads(t, ctx, 10), "no wait (Wait < 0): the primary")

	// A transaction routed as a read too.
	tx, err := f.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	require.NoError(t, err)
	require.Equal(t, "primary", tx.Node())
	require.NoError(t, tx.Rollback())
	f.replicasAt(79, 81)
	tx, err = f.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	require.NoError(t, err)
	require.Equal(t, "replica2", tx.Node())
	require.NoError(t, tx.Rollback())

	// With a ReplicaOnly policy, no replica: refused.
	f.replicasAt(79, 50)
	ro := consistency.WithPolicy(ctx, consistency.Policy{Wait: -1, ReplicaOnly: true})
	var who string
	require.ErrorIs(t, f.db.QueryRowContext(ro, "SELECT 1").Scan(&who), consistency.ErrNotReplicated)
}

// TestCausalReadHonoursTheContextsTokenAndSessionToo: a read needs both the
// DB's writes and what its context carries.
func TestCausalReadHonoursTheContextsTokenAndSessionToo(t *testing.T) {
	f := newCausalFixture(t)
	f.primaryAt(200, false)
	f.db.causal.merge(lsn(80))
	f.replicasAt(85, 95)
	require.Equal(t, map[string]int{"replica2": 20}, f.reads(t, consistency.WithToken(context.Background(), lsn(90)), 20))
	f.replicasAt(75, 85)
	require.Equal(t, map[string]int{"replica2": 20}, f.reads(t, consistency.WithToken(context.Background(), lsn(70)), 20))

	s := consistency.WithSession(context.Background())
	consistency.SessionFrom(s).Record(lsn(90))
	f.replicasAt(95, 85)
	require.Equal(t, map[string]int{"replica1": 20}, f.reads(t, s, 20))
}

// TestCausalReadDoesNotWaitForAWriteWithOpenRows: while a write's rows are
// open, a read runs at once (on the primary); once they are closed, reads
// see the write and go back to the replicas.
func TestCausalReadDoesNotWaitForAWriteWithOpenRows(t *testing.T) {
	f := newCausalFixture(t)
	f.replicasAt(100, 100)
	f.primaryAt(90, false)
	ctx := context.Background()
	rows, err := f.db.QueryContext(ctx, "INSERT INTO users (name) VALUES ('x') RETURNING id")
	require.NoError(t, err)
	t.Cleanup(func() { rows.Close() })

	// Same goroutine: a read that waited for the rows would never return.
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	require.Equal(t, map[string]int{"primary": 3}, f.reads(t, rctx, 3))
	require.NoError(t, rctx.Err())

	require.NoError(t, rows.Close())
	require.Eventually(t, func() bool { return f.db.causal.open.Load() == 0 }, 5*time.Second, time.Millisecond)
	require.Equal(t, map[string]int{"replica1": 1, "replica2": 1}, f.reads(t, ctx, 2))
	require.Equal(t, lsn(90), *f.db.causal.pos.Load())
	require.Zero(t, f.db.causal.unread.Load())

	// A write that failed before anything was sent leaves nothing open.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, err = f.db.QueryContext(cctx, "INSERT INTO users (name) VALUES ('x') RETURNING id")
	require.ErrorIs(t, err, context.Canceled)
	require.Zero(t, f.db.causal.open.Load())
}

// TestCausalReadAfterAWriteOfUnknownOutcome: a write that failed in a way
// that may have applied it makes the next read read the primary's position
// first; while that cannot be read, reads run on the primary.
func TestCausalReadAfterAWriteOfUnknownOutcome(t *testing.T) {
	f := newCausalFixture(t)
	f.replicasAt(100, 100)
	f.primaryAt(0, true) // a fresh read is needed, and fails on the fake
	cctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := f.db.ExecContext(cctx, "UPDATE users SET name = 'x' WHERE id = 1")
	require.ErrorIs(t, err, context.Canceled)
	require.NotZero(t, f.db.causal.unread.Load())

	require.Equal(t, map[string]int{"primary": 2}, f.reads(t, context.Background(), 2))
	f.primaryAt(95, false)
	require.Equal(t, map[string]int{"replica1": 1, "replica2": 1}, f.reads(t, context.Background(), 2))
	require.Zero(t, f.db.causal.unread.Load())
	require.Equal(t, lsn(95), *f.db.causal.pos.Load())
}

// TestCausalPositionAfterAFailOver: a DB-wide position the new writer lacks
// (another timeline) is replaced by the writer's own, so that reads do not
// all stay on the primary.
func TestCausalPositionAfterAFailOver(t *testing.T) {
	f := newCausalFixture(t)
	f.db.causal.merge(consistency.PostgresToken(causalSystem, 1, 500)) // timeline 1
	f.replicasAt(100, 100)                                             // timeline 1 too, behind
	pp := &f.db.pp
	pp.mu.Lock()
	pp.node, pp.pos, pp.at = f.db.primary, consistency.PostgresToken(causalSystem, 2, 90), time.Now().Add(time.Hour)
	pp.mu.Unlock()
	require.Equal(t, map[string]int{"primary": 1}, f.reads(t, context.Background(), 1))
	require.Equal(t, consistency.PostgresToken(causalSystem, 2, 90), *f.db.causal.pos.Load())
}

func TestCausalMergeIsMonotonicUnderConcurrency(t *testing.T) {
	var c causalState
	done := make(chan struct{})
	for g := 0; g < 8; g++ {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := uint64(1); i <= 1000; i++ {
				c.merge(lsn(i*8 + uint64(g)))
			}
		}()
	}
	var last uint64
	for running := 8; running > 0; {
		select {
		case <-done:
			running--
		default:
			if p := c.pos.Load(); p != nil {
				l, _, _ := p.LSN()
				require.GreaterOrEqual(t, l, last)
				last = l
			}
		}
	}
	l, _, _ := c.pos.Load().LSN()
	require.Equal(t, uint64(1000*8+7), l)
}

func TestRecordWrite(t *testing.T) {
	t.Run("CausalReads", func(t *testing.T) {
		f := newCausalFixture(t)
		f.primaryAt(120, false)
		require.NoError(t, f.db.RecordWrite(context.Background()))
		require.Equal(t, lsn(120), *f.db.causal.pos.Load())
		f.replicasAt(100, 130)
		require.Equal(t, map[string]int{"replica2": 10}, f.reads(t, context.Background(), 10))
	})
	t.Run("session", func(t *testing.T) {
		f := newCausalFixture(t)
		f.primaryAt(120, false)
		ctx := consistency.WithSession(context.Background())
		require.NoError(t, f.db.RecordWrite(ctx))
		require.Equal(t, lsn(120), consistency.SessionFrom(ctx).Token())
	})
	t.Run("neither: nothing to do, no statement", func(t *testing.T) {
		p := fakedb.NewServer("primary")
		pool := p.DB()
		t.Cleanup(func() { pool.Close() })
		db, err := New(pool, nil, CheckInterval(time.Hour), Dialect(router.PostgreSQL))
		require.NoError(t, err)
		t.Cleanup(func() { db.Close() })
		db.CheckNow(context.Background())
		before := p.Queries()
		require.NoError(t, db.RecordWrite(context.Background()))
		require.Equal(t, before, p.Queries())
	})
	t.Run("the position cannot be read: error, and reads are conservative", func(t *testing.T) {
		f := newCausalFixture(t)
		f.replicasAt(100, 100)
		f.primaryAt(0, true)
		ctx := consistency.WithSession(context.Background())
		err := f.db.RecordWrite(ctx)
		require.Error(t, err)
		require.ErrorContains(t, err, "replica: reading the primary's position")
		require.True(t, consistency.SessionFrom(ctx).Unsure() || consistency.SessionFrom(ctx).NeedNow(ctx, time.Now()).Unsure)
		require.Equal(t, map[string]int{"primary": 2}, f.reads(t, context.Background(), 2))
	})
	t.Run("bounded by ctx", func(t *testing.T) {
		f := newCausalFixture(t)
		f.primaryAt(0, true)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		require.ErrorIs(t, f.db.RecordWrite(ctx), context.Canceled)
	})
	t.Run("closed", func(t *testing.T) {
		f := newCausalFixture(t)
		require.NoError(t, f.db.Close())
		require.ErrorIs(t, f.db.RecordWrite(context.Background()), ErrClosed)
	})
}

// TestCausalReadAllocatesNoMoreThanAPlainRead: the routing of a read whose
// needs the replicas cover allocates what a read without CausalReads does.
func TestCausalReadAllocatesNoMoreThanAPlainRead(t *testing.T) {
	if raceOn {
		t.Skip("allocations differ under the race detector")
	}
	const q = "SELECT u.id FROM users AS u WHERE u.id = $1"
	noop := func(context.Context, *node, querier) error { return nil }
	ctx := context.Background()
	allocs := func(db *DB) float64 {
		return testing.AllocsPerRun(500, func() {
			if err := db.route(ctx, q, db.classOf(callStatement, q), captureLater, noop); err != nil {
				t.Fatal(err)
			}
		})
	}
	f := newCausalFixture(t)
	f.db.causal.merge(lsn(80))
	f.replicasAt(100, 100)
	plain := newCausalFixture(t)
	plain.db.causal.on = false
	plain.replicasAt(100, 100)
	require.LessOrEqual(t, allocs(f.db), allocs(plain.db))
	require.Zero(t, allocs(f.db))
}

// TestCausalReadWithoutAKnownDialectRunsOnThePrimary: positions cannot be
// read before the dialect is known, so a read after a write runs on the
// primary rather than risk a stale replica; before any write, reads still go
// to the replicas.
func TestCausalReadWithoutAKnownDialectRunsOnThePrimary(t *testing.T) {
	servers := []*fakedb.Server{fakedb.NewServer("primary"), fakedb.NewServer("replica1"), fakedb.NewServer("replica2")}
	pools := make([]*sql.DB, len(servers))
	for i, s := range servers {
		pools[i] = s.DB()
		t.Cleanup(func() { pools[i].Close() })
	}
	db, err := New(pools[0], pools[1:], CausalReads(), CheckInterval(time.Hour))
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	db.CheckNow(context.Background())
	require.Zero(t, db.Dialect())
	ctx := context.Background()
	var who string
	require.NoError(t, db.QueryRowContext(ctx, "SELECT name FROM users").Scan(&who))
	require.NotEqual(t, "primary", who, "no write yet")
	for _, face := range []string{"DB", "SQLDB"} {
		if face == "DB" {
			_, err = db.ExecContext(ctx, "UPDATE users SET name = 'x'")
		} else {
			_, err = db.SQLDB().ExecContext(ctx, "UPDATE users SET name = 'x'")
		}
		require.NoError(t, err)
		for i := 0; i < 4; i++ {
			require.NoError(t, db.QueryRowContext(ctx, "SELECT name FROM users").Scan(&who))
			require.Equal(t, "primary", who, "%s: a read after a write, with no way to know the replicas have it", face)
			require.NoError(t, db.SQLDB().QueryRowContext(ctx, "SELECT name FROM users").Scan(&who))
			require.Equal(t, "primary", who, "%s: the routing *sql.DB's read after a write", face)
		}
	}
}
