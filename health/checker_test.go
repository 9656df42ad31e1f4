package health_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sqlreplica/sqlreplica/health"
	"github.com/sqlreplica/sqlreplica/internal/fakedb"
)

type fakeNodes struct {
	servers []*fakedb.Server
	nodes   []health.Node
}

func newFakeNodes(t *testing.T, n int) *fakeNodes {
	f := &fakeNodes{}
	for i := 0; i < n; i++ {
		s := fakedb.NewServer("node" + string(rune('0'+i)))
		db := s.DB()
		t.Cleanup(func() { db.Close() })
		f.servers = append(f.servers, s)
		f.nodes = append(f.nodes, health.Node{Name: s.Name(), DB: db, Primary: i == 0})
	}
	return f
}

type eventLog struct {
	mu     sync.Mutex
	events []health.Event
}

func (l *eventLog) add(e health.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, e)
}

func (l *eventLog) kinds() []health.EventKind {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []health.EventKind
	for _, e := range l.events {
		out = append(out, e.Kind)
	}
	return out
}

func TestNewCheckerRejectsBadInput(t *testing.T) {
	_, err := health.NewChecker(nil, health.Config{})
	require.ErrorIs(t, err, health.ErrNoNodes)
	f := newFakeNodes(t, 2)
	db := f.nodes[0].DB
	tests := []struct {
		name  string
		nodes []health.Node
		cfg   health.Config
		ok    bool
	}{
		{"zero config means defaults", f.nodes, health.Config{}, true},
		{"positive values", f.nodes, health.Config{Interval: 1, Timeout: 1, Fall: 1, Rise: 1, LagAlert: 1}, true},
		{"nil pool", []health.Node{{Name: "x"}}, health.Config{}, false},
		{"empty name", []health.Node{{DB: db}}, health.Config{}, false},
		{"duplicate name", []health.Node{{Name: "x", DB: db}, {Name: "x", DB: db}}, health.Config{}, false},
		{"negative Interval", f.nodes, health.Config{Interval: -1}, false},
		{"negative Timeout", f.nodes, health.Config{Timeout: -time.Second}, false},
		{"negative Fall", f.nodes, health.Config{Fall: -1}, false},
		{"negative Rise", f.nodes, health.Config{Rise: -2}, false},
		{"negative LagAlert", f.nodes, health.Config{LagAlert: -1}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := health.NewChecker(tt.nodes, tt.cfg)
			if tt.ok {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, health.ErrBadConfig)
		})
	}
}

// TestANodeNeverUpIsReportedAtOnce: a node whose first check fails, even
// softly, leaves rotation with a NodeDown event at once (issue 7, item 14).
func TestANodeNeverUpIsReportedAtOnce(t *testing.T) {
	f := newFakeNodes(t, 2)
	var log eventLog
	c, err := health.NewChecker(f.nodes, health.Config{Fall: 3, OnEvent: log.add})
	require.NoError(t, err)
	f.servers[1].FailWith(errors.New("too slow"))
	s := c.Check(context.Background())
	require.False(t, s.Nodes[1].Healthy)
	require.Equal(t, []health.EventKind{health.NodeDown}, log.kinds())
	require.Equal(t, "node1", log.events[0].Node)
	require.Contains(t, log.events[0].Detail, "too slow")
}

// TestASaturatedPoolIsBusyNotDown holds every connection of a node's pool:
// its checks are busy rounds that change nothing, until a check pool of its
// own is given (issue 7, item 9).
func TestASaturatedPoolIsBusyNotDown(t *testing.T) {
	f := newFakeNodes(t, 2)
	var log eventLog
	c, err := health.NewChecker(f.nodes, health.Config{Fall: 1, Timeout: 50 * time.Millisecond, OnEvent: log.add})
	require.NoError(t, err)
	ctx := context.Background()
	require.True(t, c.Check(ctx).Nodes[1].Healthy)
	pool := f.nodes[1].DB
	pool.SetMaxOpenConns(1)
	conn, err := pool.Conn(ctx)
	require.NoError(t, err)
	defer conn.Close()
	for range 3 {
		s := c.Check(ctx)
		require.True(t, s.Nodes[1].Healthy, "a busy pool took the node out: %s", s.Nodes[1].LastError)
		require.True(t, s.Nodes[1].Busy)
		require.True(t, s.Nodes[1].Reachable)
	}
	require.Empty(t, log.kinds())
	// While the pool is busy, a round says nothing, even about a node that
	// is down: only its own connections' failures (MarkDown) take it out.
	f.servers[1].SetDown(true)
	require.True(t, c.Check(ctx).Nodes[1].Busy)

	// With a check pool of its own, the node is checked for real.
	check := f.servers[1].DB()
	t.Cleanup(func() { check.Close() })
	nodes := append([]health.Node(nil), f.nodes...)
	nodes[1].Check = check
	c, err = health.NewChecker(nodes, health.Config{Fall: 1, Timeout: 50 * time.Millisecond})
	require.NoError(t, err)
	s := c.Check(ctx)
	require.False(t, s.Nodes[1].Healthy)
	require.False(t, s.Nodes[1].Busy)
	f.servers[1].SetDown(false)
	require.True(t, c.Check(ctx).Nodes[1].Reachable)
}

func TestCheckerStartsOptimisticAndFollowsChecks(t *testing.T) {
	f := newFakeNodes(t, 3)
	var log eventLog
	c, err := health.NewChecker(f.nodes, health.Config{Fall: 2, Rise: 2, OnEvent: log.add})
	require.NoError(t, err)
	s := c.Snapshot()
	require.Equal(t, 0, s.Writer)
	require.True(t, s.Nodes[1].Healthy, "healthy until a check says otherwise")
	require.Equal(t, health.Replica, s.Nodes[1].Role)

	ctx := context.Background()
	s = c.Check(ctx)
	require.True(t, s.Nodes[2].Healthy && s.Nodes[2].Reachable)
	require.False(t, s.Nodes[2].CheckedAt.IsZero())

	// A refused connection takes a node out at once, whatever Fall says.
	f.servers[2].SetDown(true)
	s = c.Check(ctx)
	require.False(t, s.Nodes[2].Healthy)
	require.False(t, s.Nodes[2].Reachable)
	require.NotEmpty(t, s.Nodes[2].LastError)

	// Rise good checks bring it back.
	f.servers[2].SetDown(false)
	s = c.Check(ctx)
	require.False(t, s.Nodes[2].Healthy, "one good check is not enough")
	require.True(t, s.Nodes[2].Reachable)
	s = c.Check(ctx)
	require.True(t, s.Nodes[2].Healthy)
	require.Equal(t, []health.EventKind{health.NodeDown, health.NodeUp}, log.kinds())
}

func TestSoftFailuresNeedFall(t *testing.T) {
	f := newFakeNodes(t, 2)
	c, err := health.NewChecker(f.nodes, health.Config{Fall: 2, Rise: 1})
	require.NoError(t, err)
	ctx := context.Background()
	require.True(t, c.Check(ctx).Nodes[1].Healthy)
	f.servers[1].FailWith(errors.New("too slow"))
	require.True(t, c.Check(ctx).Nodes[1].Healthy, "one soft failure is not enough")
	require.False(t, c.Check(ctx).Nodes[1].Healthy)
	f.servers[1].FailWith(nil)
	require.True(t, c.Check(ctx).Nodes[1].Healthy)
}

func TestMarkDownIsImmediateAndTriggersACheck(t *testing.T) {
	f := newFakeNodes(t, 2)
	var snaps sync.Map
	c, err := health.NewChecker(f.nodes, health.Config{Interval: time.Hour, Rise: 1,
		OnSnapshot: func(s *health.Snapshot) { snaps.Store(s, true) }})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	// Let the first round run.
	require.Eventually(t, func() bool { return !c.Snapshot().Nodes[1].CheckedAt.IsZero() }, 5*time.Second, time.Millisecond)

	c.MarkDown(1, errors.New("connection reset"))
	// At once, before any check: and the triggered check (Rise 1) brings it
	// back, long before the hour-long interval.
	require.Eventually(t, func() bool { return c.Snapshot().Nodes[1].Healthy }, 5*time.Second, time.Millisecond)
	down := false
	snaps.Range(func(k, _ any) bool {
		if s := k.(*health.Snapshot); !s.Nodes[1].Healthy && s.Nodes[1].LastError == "connection reset" {
			down = true
		}
		return true
	})
	require.True(t, down, "no snapshot showed the node down")
	c.MarkDown(-1, nil) // out of range: ignored
	c.MarkDown(9, nil)
}

func TestRunStopsWithItsContext(t *testing.T) {
	f := newFakeNodes(t, 1)
	c, err := health.NewChecker(f.nodes, health.Config{Interval: time.Millisecond})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.Run(ctx); close(done) }()
	time.Sleep(20 * time.Millisecond)
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
}

func TestSnapshotNeverBlocks(t *testing.T) {
	f := newFakeNodes(t, 2)
	c, err := health.NewChecker(f.nodes, health.Config{})
	require.NoError(t, err)
	allocs := testing.AllocsPerRun(100, func() { _ = c.Snapshot() })
	require.Zero(t, allocs)
}

type staticSource health.Snapshot

func (s staticSource) Status() health.Snapshot { return health.Snapshot(s) }

func TestHandler(t *testing.T) {
	ok := staticSource{Writer: 0, WriterKnown: true, Time: time.Now(), Nodes: []health.Status{
		{Name: "primary", Role: health.Primary, Healthy: true, Reachable: true, Writable: true, Lag: health.Lag{Known: true},
			SemiSync: &health.SemiSyncStatus{Enabled: true, Active: true, Clients: 1, UnackedTx: 2}},
		{Name: "replica0", Role: health.Replica, Healthy: true, Reachable: true, Lag: health.Lag{Time: 1500 * time.Millisecond, Bytes: 42, Known: true},
			Replication: health.Replication{Configured: true, Receiving: true, Applying: true, State: "streaming"}},
	}}
	tests := []struct {
		name string
		src  staticSource
		code int
	}{
		{"writable primary known", ok, http.StatusOK},
		{"no writable primary", func() staticSource { s := ok; s.WriterKnown = false; return s }(), http.StatusServiceUnavailable},
		{"split brain", func() staticSource { s := ok; s.SplitBrain = true; return s }(), http.StatusServiceUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(health.Handler(tt.src))
			defer srv.Close()
			resp, err := http.Get(srv.URL)
			require.NoError(t, err)
			defer resp.Body.Close()
			require.Equal(t, tt.code, resp.StatusCode)
			var body map[string]any
			require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
			nodes := body["nodes"].([]any)
			require.Len(t, nodes, 2)
			r := nodes[1].(map[string]any)
			require.Equal(t, 1.5, r["lag_seconds"])
			require.Equal(t, "streaming", r["replication"].(map[string]any)["state"])
			require.Equal(t, map[string]any{"enabled": true, "active": true, "clients": 1.0, "unacked_tx": 2.0},
				nodes[0].(map[string]any)["semi_sync"])
			require.NotContains(t, r, "semi_sync")
			head, err := http.Head(srv.URL)
			require.NoError(t, err)
			head.Body.Close()
			require.Equal(t, tt.code, head.StatusCode)
		})
	}
}

func TestEnumStrings(t *testing.T) {
	require.Equal(t, "primary", health.Primary.String())
	require.Equal(t, "unknown", health.Role(0).String())
	require.Equal(t, "split brain", health.SplitBrain.String())
	require.Equal(t, "unknown", health.EventKind(0).String())
	require.Equal(t, "critical", health.Critical.String())
}

var _ = sql.ErrNoRows
