package replica

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/sqlreplica/sqlreplica/consistency"
	"github.com/sqlreplica/sqlreplica/health"
	"github.com/sqlreplica/sqlreplica/internal/fakedb"
)

// recorder is a StepTracer and EventTracer that writes down every call as
// a line, and puts a value in the context its TraceRouteStart returns.
type recorder struct {
	mu     sync.Mutex
	lines  []string
	events []health.Event
	lost   []string // calls whose context lacked the start's value
}

type recKey struct{}

func (r *recorder) add(ctx context.Context, what string, s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if what != "start" && ctx.Value(recKey{}) == nil {
		r.lost = append(r.lost, what)
	}
	r.lines = append(r.lines, s)
}

func (r *recorder) TraceRouteStart(ctx context.Context, d TraceRouteStartData) context.Context {
	r.add(ctx, "start", fmt.Sprintf("start %s %s class=%s hint=%q session=%v token=%v causal=%v -> %s %s",
		d.Caller, d.Query, d.Class, d.Hint, d.Session, d.Token, d.Causal, d.Target, d.Reason))
	return context.WithValue(ctx, recKey{}, true)
}

func (r *recorder) TraceRouteEnd(ctx context.Context, d TraceRouteEndData) {
	r.add(ctx, "end", fmt.Sprintf("end node=%s err=%v tries=%d fallbacks=%d", d.Node, d.Err != nil, d.Tries, d.Fallbacks))
}

func (r *recorder) TraceTry(ctx context.Context, d TraceTryData) {
	r.add(ctx, "try", fmt.Sprintf("try %s primary=%v err=%v fault=%v", d.Node, d.Primary, d.Err != nil, d.Fault))
}

func (r *recorder) TraceWait(ctx context.Context, d TraceWaitData) {
	r.add(ctx, "wait", fmt.Sprintf("wait %s", d.Node))
}

func (r *recorder) TraceFallback(ctx context.Context, d TraceFallbackData) {
	r.add(ctx, "fallback", fmt.Sprintf("fallback %s from=%s", d.Cause, d.Node))
}

func (r *recorder) TraceEvent(e health.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

func (r *recorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.lines
	r.lines = nil
	return out
}

// TestTracerSeesEveryStep runs statements along every routing path the
// fake driver can take them (served at once, a replica down, every replica
// down, a replica refusing a read as a write or saying only the primary can
// run it, a hint, a refusal, DB.SQLDB's statements, BeginTx) and checks the
// tracer's calls: one start with the decision, each try with its fault,
// each fallback with its cause, one end with the node that served, all in
// the context the start returned.
func TestTracerSeesEveryStep(t *testing.T) {
	servers := []*fakedb.Server{fakedb.NewServer("primary"), fakedb.NewServer("replica1"), fakedb.NewServer("replica2")}
	pools := make([]*sql.DB, len(servers))
	for i, s := range servers {
		pools[i] = s.DB()
		t.Cleanup(func() { pools[i].Close() })
	}
	rec := &recorder{}
	db, err := New(pools[0], pools[1:], CheckInterval(time.Hour), Hysteresis(1, 1), WithTracer(rec))
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	db.CheckNow(context.Background())
	ctx := context.Background()
	const read, write = "SELECT id FROM users", "UPDATE users SET a = 1"
	reset := func() {
		for _, s := range servers {
			s.SetDown(false)
			s.FailQueriesWith(nil)
		}
		db.CheckNow(ctx) // a replica a failure took out comes back
	}
	exec := func(ctx context.Context, q string) error { _, err := db.ExecContext(ctx, q); return err }
	tests := []struct {
		name  string
		setup func()
		run   func() error
		want  []string // with replicaN standing for either replica
	}{
		{"a read served by a replica", nil, func() error { return exec(ctx, read) }, []string{
			"start statement " + read + ` class=read hint="" session=false token=false causal=false -> replica read`,
			"try replicaN primary=false err=false fault=false",
			"end node=replicaN err=false tries=1 fallbacks=0"}},
		{"a write", nil, func() error { return exec(ctx, write) }, []string{
			"start statement " + write + ` class=write hint="" session=false token=false causal=false -> primary write`,
			"try primary primary=true err=false fault=false",
			"end node=primary err=false tries=1 fallbacks=0"}},
		{"a read WithPrimary", nil, func() error { return exec(WithPrimary(ctx), read) }, []string{
			"start statement " + read + ` class=read hint="primary" session=false token=false causal=false -> primary hint_primary`,
			"try primary primary=true err=false fault=false",
			"end node=primary err=false tries=1 fallbacks=0"}},
		{"a read WithReplica with a session", nil, func() error {
			return exec(consistency.WithSession(WithReplica(ctx)), read)
		}, []string{
			"start statement " + read + ` class=read hint="replica" session=true token=false causal=false -> replica read`,
			"try replicaN primary=false err=false fault=false",
			"end node=replicaN err=false tries=1 fallbacks=0"}},
		{"one replica down", func() { servers[1].SetDown(true) }, func() error {
			// Two reads: the round robin starts one of them on the dead one.
			exec(ctx, read)
			return exec(ctx, read)
		}, nil},
		{"every replica down", func() { servers[1].SetDown(true); servers[2].SetDown(true) }, func() error { return exec(ctx, read) }, []string{
			"start statement " + read + ` class=read hint="" session=false token=false causal=false -> replica read`,
			"try replicaN primary=false err=true fault=true",
			"fallback node_failed from=replicaN",
			"try replicaN primary=false err=true fault=true",
			"fallback node_failed from=replicaN",
			"fallback no_replica from=",
			"try primary primary=true err=false fault=false",
			"end node=primary err=false tries=3 fallbacks=3"}},
		{"a replica refuses the read as a write", func() {
			servers[1].FailQueriesWith(&pgconn.PgError{Code: "25006"})
			servers[2].FailQueriesWith(&pgconn.PgError{Code: "25006"})
		}, func() error { return exec(ctx, read) }, []string{
			"start statement " + read + ` class=read hint="" session=false token=false causal=false -> replica read`,
			"try replicaN primary=false err=true fault=false",
			"fallback refused_as_write from=replicaN",
			"try primary primary=true err=false fault=false",
			"end node=primary err=false tries=2 fallbacks=1"}},
		{"a read only the primary can run", func() {
			servers[1].FailQueriesWith(&pgconn.PgError{Code: "55000"})
			servers[2].FailQueriesWith(&pgconn.PgError{Code: "55000"})
		}, func() error { return exec(ctx, read) }, []string{
			"start statement " + read + ` class=read hint="" session=false token=false causal=false -> replica read`,
			"try replicaN primary=false err=true fault=false",
			"fallback primary_only from=replicaN",
			"try primary primary=true err=false fault=false",
			"end node=primary err=false tries=2 fallbacks=1"}},
		{"the statement's own error", func() { servers[0].FailQueriesWith(errors.New("duplicate key")) }, func() error {
			if err := exec(ctx, write); err == nil {
				return errors.New("no error")
			}
			return nil
		}, []string{
			"start statement " + write + ` class=write hint="" session=false token=false causal=false -> primary write`,
			"try primary primary=true err=true fault=false",
			"end node=primary err=true tries=1 fallbacks=0"}},
		{"a statement of DB.SQLDB", nil, func() error {
			rows, err := db.SQLDB().QueryContext(ctx, read)
			if err != nil {
				return err
			}
			return rows.Close()
		}, []string{
			"start statement " + read + ` class=read hint="" session=false token=false causal=false -> replica read`,
			"try replicaN primary=false err=false fault=false",
			"end node=replicaN err=false tries=1 fallbacks=0"}},
		{"a read-write transaction", nil, func() error {
			tx, err := db.BeginTx(ctx, nil)
			if err != nil {
				return err
			}
			return tx.Rollback()
		}, []string{
			"start begin  class=write hint=\"\" session=false token=false causal=false -> primary read_write_tx",
			"try primary primary=true err=false fault=false",
			"end node=primary err=false tries=1 fallbacks=0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reset()
			t.Cleanup(reset)
			if tt.setup != nil {
				tt.setup()
			}
			rec.take()
			require.NoError(t, tt.run())
			got := rec.take()
			for i, l := range got {
				got[i] = strings.NewReplacer("replica1", "replicaN", "replica2", "replicaN").Replace(l)
			}
			if tt.want == nil {
				require.Contains(t, got, "fallback node_failed from=replicaN")
				require.Contains(t, got, "try replicaN primary=false err=true fault=true")
				require.NotContains(t, got, "try primary primary=true err=false fault=false")
				return
			}
			require.Equal(t, tt.want, got)
		})
	}
	rec.mu.Lock()
	require.Empty(t, rec.lost, "calls without the context TraceRouteStart returned")
	rec.mu.Unlock()

	t.Run("a refused write", func(t *testing.T) {
		db.buildView(&health.Snapshot{Writer: 0, WriterKnown: true, SplitBrain: true, Nodes: db.checker.Snapshot().Nodes})
		t.Cleanup(func() { db.buildView(db.checker.Snapshot()) })
		rec.take()
		require.ErrorIs(t, exec(ctx, write), ErrSplitBrain)
		require.Equal(t, []string{
			"start statement " + write + ` class=write hint="" session=false token=false causal=false -> refused split_brain`,
			"end node= err=true tries=0 fallbacks=0"}, rec.take())
	})
}

// TestTracedStatementRunsInTheTracersContext: the driver's statement gets
// the context TraceRouteStart returned (a span started there is the parent
// of the driver's).
func TestTracedStatementRunsInTheTracersContext(t *testing.T) {
	f := newCausalFixture(t, WithTracer(&recorder{}))
	f.replicasAt(100, 100)
	for _, q := range []string{"SELECT 1", "UPDATE t SET a = 1"} {
		seen := false
		err := f.db.route(context.Background(), q, f.db.classOf(callStatement, q), captureNow, func(ctx context.Context, _ *node, _ querier) error {
			seen = ctx.Value(recKey{}) != nil
			return nil
		})
		require.NoError(t, err)
		require.True(t, seen, q)
	}
}

// TestTracerSeesStaleReadsAvoidedAndWaits: a read whose replicas lack the
// DB's writes (CausalReads) is traced as moved off a replica that lacks
// them (once), with the bounded wait on the most advanced replica and the
// fallback to the primary.
func TestTracerSeesStaleReadsAvoidedAndWaits(t *testing.T) {
	rec := &recorder{}
	f := newCausalFixture(t, WithTracer(rec), ReadYourWrites(consistency.Policy{Wait: 20 * time.Millisecond}))
	f.replicasAt(50, 60)
	f.primaryAt(100, false)
	f.db.causal.merge(lsn(80))
	rec.take()
	_, err := f.db.ExecContext(context.Background(), "SELECT 1")
	require.NoError(t, err)
	require.Equal(t, []string{
		`start statement SELECT 1 class=read hint="" session=false token=false causal=true -> replica read`,
		"fallback lacks_token from=replicaN",
		"wait replica2",
		"fallback not_replicated from=",
		"try primary primary=true err=false fault=false",
		"end node=primary err=false tries=1 fallbacks=2",
	}, func() []string {
		got := rec.take()
		got[1] = strings.NewReplacer("replica1", "replicaN", "replica2", "replicaN").Replace(got[1])
		return got
	}())
}

// TestTracerGetsNodeEvents: health events reach an EventTracer and the
// OnEvent function both.
func TestTracerGetsNodeEvents(t *testing.T) {
	servers := []*fakedb.Server{fakedb.NewServer("primary"), fakedb.NewServer("replica1")}
	pools := make([]*sql.DB, len(servers))
	for i, s := range servers {
		pools[i] = s.DB()
		t.Cleanup(func() { pools[i].Close() })
	}
	rec := &recorder{}
	var mu sync.Mutex
	var onEvent []health.EventKind
	db, err := New(pools[0], pools[1:], CheckInterval(time.Hour), Hysteresis(1, 1), WithTracer(rec),
		OnEvent(func(e health.Event) { mu.Lock(); onEvent = append(onEvent, e.Kind); mu.Unlock() }))
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	db.CheckNow(context.Background())
	servers[1].SetDown(true)
	db.CheckNow(context.Background())
	rec.mu.Lock()
	defer rec.mu.Unlock()
	mu.Lock()
	defer mu.Unlock()
	require.NotEmpty(t, rec.events)
	var kinds []health.EventKind
	for _, e := range rec.events {
		kinds = append(kinds, e.Kind)
	}
	require.Contains(t, kinds, health.NodeDown)
	require.Equal(t, onEvent, kinds)
}

// TestWithTracerNil: a nil tracer is a bad option.
func TestWithTracerNil(t *testing.T) {
	p := fakedb.NewServer("primary").DB()
	t.Cleanup(func() { p.Close() })
	_, err := New(p, nil, WithTracer(nil))
	require.ErrorIs(t, err, ErrBadOption)
}
