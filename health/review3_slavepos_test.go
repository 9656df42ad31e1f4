package health_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sqlreplica/sqlreplica/health"
)

// TestReview3MariaDBReplicaPositionFromSlavePos checks the position the
// health check gives a read-only MariaDB node whose replication runs
// against the writer's: a caught-up replica shows lag known and 0 behind,
// and covers the writer's position. The cases are what a former primary
// put back as a replica with MASTER_USE_GTID=current_pos shows (observed
// on MariaDB 10.11, see TestReview3FormerPrimaryRejoinedPositionIntegration):
// its gtid_slave_pos is empty, or lacks its own domain for good. They
// failed when the check took every replica's position from gtid_slave_pos;
// it now does so only once replication has stopped (the errant write's
// case: TestWatchMariaDBErrantGTIDIntegration, on real servers).
func TestReview3MariaDBReplicaPositionFromSlavePos(t *testing.T) {
	maria := func(readOnly, slave, current, binlog string) map[string]string {
		return map[string]string{"version": "10.11.6-MariaDB", "read_only": readOnly, "wsrep_on": "OFF",
			"gtid_slave_pos": slave, "gtid_current_pos": current, "gtid_binlog_pos": binlog}
	}
	tests := []struct {
		name            string
		writer, replica map[string]string
	}{
		{"former primary re-pointed, nothing written since: gtid_slave_pos empty",
			maria("OFF", "0-1-2", "0-1-2", "0-1-2"), maria("ON", "", "0-1-2", "0-1-2")},
		{"former primary re-pointed, a domain per server: its own domain is never in gtid_slave_pos",
			maria("OFF", "1-1-2", "1-1-2,2-2-1", "1-1-2,2-2-1"), maria("ON", "2-2-1", "1-1-2,2-2-1", "1-1-2,2-2-1")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeNodes(t, 2)
			f.servers[0].SetVars(tt.writer)
			f.servers[1].SetVars(tt.replica)
			c := newMariaChecker(t, f, health.Config{})
			s := c.Check(context.Background())
			require.True(t, s.WriterKnown)
			require.Equal(t, 0, s.Writer)
			w, r := s.Nodes[0], s.Nodes[1]
			require.Equal(t, health.Replica, r.Role)
			require.True(t, r.Lag.Known, "caught-up replica: lag unknown (position %q, writer %q)", r.Position, w.Position)
			require.Zero(t, r.Lag.Bytes, "caught-up replica: %d transactions behind (position %q, writer %q)", r.Lag.Bytes, r.Position, w.Position)
			require.True(t, r.Position.Covers(w.Position), "caught-up replica %q does not cover writer %q", r.Position, w.Position)
		})
	}
}
