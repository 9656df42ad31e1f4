package health_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sqlreplica/sqlreplica/health"
	"github.com/sqlreplica/sqlreplica/internal/fakedb"
	"github.com/sqlreplica/sqlreplica/router"
)

// galeraVars are what a synced node of a 3-node Galera cluster answers.
func galeraVars(uuid string) map[string]string {
	return map[string]string{
		"version": "10.11.6-MariaDB-0+deb12u1", "read_only": "OFF",
		"wsrep_on": "ON", "wsrep_gtid_mode": "ON", "wsrep_gtid_domain_id": "0",
		"gtid_binlog_pos": "0-1-10,2-2-3", "gtid_current_pos": "0-1-10",
		"wsrep_ready": "ON", "wsrep_connected": "ON", "wsrep_cluster_status": "Primary",
		"wsrep_local_state": "4", "wsrep_local_state_comment": "Synced", "wsrep_cluster_size": "3",
		"wsrep_cluster_state_uuid": uuid, "wsrep_flow_control_paused": "0",
		"wsrep_local_recv_queue": "0", "wsrep_last_committed": "10",
	}
}

// plainVars are what a writable MariaDB server outside Galera answers.
func plainVars() map[string]string {
	return map[string]string{"version": "10.11.6-MariaDB", "read_only": "OFF", "wsrep_on": "OFF", "gtid_current_pos": "0-1-10"}
}

func desynced(s *fakedb.Server) {
	s.SetVar("wsrep_local_state", "2")
	s.SetVar("wsrep_local_state_comment", "Donor/Desynced")
}

func synced(s *fakedb.Server) {
	s.SetVar("wsrep_local_state", "4")
	s.SetVar("wsrep_local_state_comment", "Synced")
}

func newMariaChecker(t *testing.T, f *fakeNodes, cfg health.Config) *health.Checker {
	t.Helper()
	cfg.Dialect = func() router.Dialect { return router.MariaDB }
	cfg.Fall, cfg.Rise = 1, 1
	c, err := health.NewChecker(f.nodes, cfg)
	require.NoError(t, err)
	return c
}

// TestGaleraWriterAndSplitBrain runs the writer choice and the split-brain
// rule over Galera clusters, mixed nodes and MultiPrimary sets, round after
// round: one stable writer that moves only when it stops serving, and a
// split brain only where writes could diverge.
func TestGaleraWriterAndSplitBrain(t *testing.T) {
	type round struct {
		change     func(s []*fakedb.Server)
		writer     int
		known      bool
		split      bool
		multi      bool
		healthy    []bool
		lastErrHas string // in node 0's LastError, if set
	}
	tests := []struct {
		name   string
		vars   []map[string]string
		cfg    health.Config
		rounds []round
	}{
		{"one Galera cluster is no split brain; the writer is the node given as primary",
			[]map[string]string{galeraVars("u1"), galeraVars("u1"), galeraVars("u1")}, health.Config{},
			[]round{{writer: 0, known: true, multi: true, healthy: []bool{true, true, true}}}},
		{"a desynced writer hands over to the next node, which keeps writes when it is back",
			[]map[string]string{galeraVars("u1"), galeraVars("u1"), galeraVars("u1")}, health.Config{},
			[]round{
				{writer: 0, known: true, multi: true, healthy: []bool{true, true, true}},
				{change: func(s []*fakedb.Server) { desynced(s[0]) }, writer: 1, known: true, multi: true,
					healthy: []bool{false, true, true}, lastErrHas: "Donor/Desynced"},
				{change: func(s []*fakedb.Server) { synced(s[0]) }, writer: 1, known: true, multi: true, healthy: []bool{true, true, true}},
				{change: func(s []*fakedb.Server) { desynced(s[1]) }, writer: 0, known: true, multi: true, healthy: []bool{true, false, true}},
			}},
		{"ServeDesynced keeps a desynced node serving reads, never writes",
			[]map[string]string{galeraVars("u1"), galeraVars("u1"), galeraVars("u1")}, health.Config{ServeDesynced: true},
			[]round{{change: func(s []*fakedb.Server) { desynced(s[0]) }, writer: 1, known: true, multi: true, healthy: []bool{true, true, true}}}},
		{"a node outside the quorum component is out and no writer candidate",
			[]map[string]string{galeraVars("u1"), galeraVars("u1"), galeraVars("u1")}, health.Config{},
			[]round{{change: func(s []*fakedb.Server) {
				s[0].SetVar("wsrep_cluster_status", "non-Primary")
				s[0].SetVar("wsrep_ready", "OFF")
			}, writer: 1, known: true, multi: true, healthy: []bool{false, true, true}, lastErrHas: "wsrep_ready"}}},
		{"two Galera clusters are a split brain",
			[]map[string]string{galeraVars("u1"), galeraVars("u2"), galeraVars("u2")}, health.Config{},
			[]round{{writer: 0, split: true, healthy: []bool{true, true, true}}}},
		{"a Galera node and another writable node are a split brain",
			[]map[string]string{galeraVars("u1"), galeraVars("u1"), plainVars()}, health.Config{},
			[]round{{writer: 0, split: true, healthy: []bool{true, true, true}}}},
		{"two writable plain nodes are a split brain without MultiPrimary",
			[]map[string]string{plainVars(), plainVars()}, health.Config{},
			[]round{{writer: 0, split: true, healthy: []bool{true, true}}}},
		{"MultiPrimary: one stable writer that moves when it is down, and not back",
			[]map[string]string{plainVars(), plainVars()}, health.Config{MultiPrimary: true},
			[]round{
				{writer: 0, known: true, multi: true, healthy: []bool{true, true}},
				{change: func(s []*fakedb.Server) { s[0].SetDown(true) }, writer: 1, known: true, multi: true, healthy: []bool{false, true}},
				{change: func(s []*fakedb.Server) { s[0].SetDown(false) }, writer: 1, known: true, multi: true, healthy: []bool{true, true}},
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeNodes(t, len(tt.vars))
			for i, v := range tt.vars {
				f.servers[i].SetVars(v)
			}
			c := newMariaChecker(t, f, tt.cfg)
			for r, want := range tt.rounds {
				if want.change != nil {
					want.change(f.servers)
				}
				s := c.Check(context.Background())
				require.Equal(t, want.split, s.SplitBrain, "round %d: split brain", r)
				require.Equal(t, want.multi, s.MultiPrimary, "round %d: multi-primary", r)
				require.Equal(t, want.known, s.WriterKnown, "round %d: writer known", r)
				require.Equal(t, want.writer, s.Writer, "round %d: writer", r)
				for i, h := range want.healthy {
					require.Equal(t, h, s.Nodes[i].Healthy, "round %d: node %d healthy (%s)", r, i, s.Nodes[i].LastError)
				}
				if want.lastErrHas != "" {
					require.Contains(t, s.Nodes[0].LastError, want.lastErrHas)
					require.True(t, s.Nodes[0].Reachable)
				}
			}
		})
	}
}

// TestGaleraStatusLagAndEvents checks the Galera state a check reports,
// lag as the apply backlog, the state-change event, and that a writer
// marked down moves writes at once, without waiting for a round.
func TestGaleraStatusLagAndEvents(t *testing.T) {
	f := newFakeNodes(t, 3)
	for _, s := range f.servers {
		s.SetVars(galeraVars("u1"))
	}
	f.servers[1].SetVar("wsrep_last_committed", "4")
	f.servers[1].SetVar("wsrep_local_recv_queue", "2")
	f.servers[1].SetVar("wsrep_flow_control_paused", "0.25")
	var log eventLog
	c := newMariaChecker(t, f, health.Config{OnEvent: log.add})
	s := c.Check(context.Background())
	g := s.Nodes[1].Galera
	require.NotNil(t, g)
	require.Equal(t, health.GaleraStatus{LocalState: 4, LocalStateComment: "Synced", ClusterStatus: "Primary", ClusterSize: 3,
		ClusterStateUUID: "u1", Ready: true, Connected: true, FlowControlPaused: 0.25, RecvQueue: 2, LastCommitted: 4}, *g)
	require.True(t, s.Nodes[1].Lag.Known)
	require.Equal(t, uint64(6), s.Nodes[1].Lag.Bytes, "backlog: 10 - 4 committed behind the writer")
	require.Equal(t, uint64(0), s.Nodes[2].Lag.Bytes)
	require.Equal(t, "0-1-10", s.Nodes[0].Position.GTID(), "the position keeps the Galera domain only")
	require.Contains(t, log.kinds(), health.GaleraStateChange)

	desynced(f.servers[2])
	c.Check(context.Background())
	var detail string
	for _, e := range log.events {
		if e.Kind == health.GaleraStateChange && e.Node == "node2" {
			detail = e.Detail
		}
	}
	require.Equal(t, "Synced, cluster Primary of 3 → Donor/Desynced, cluster Primary of 3", detail)

	c.MarkDown(0, errors.New("connection refused"))
	s = c.Snapshot()
	require.Equal(t, 1, s.Writer, "writes did not move when the writer was marked down")
	require.True(t, s.WriterKnown)
}
