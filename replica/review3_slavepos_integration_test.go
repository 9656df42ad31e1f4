package replica_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sqlreplica/sqlreplica/internal/testcluster"
	"github.com/sqlreplica/sqlreplica/replica"
)

// TestReview3FormerPrimaryRejoinedPositionIntegration: a planned
// switch-over on MariaDB. The replica is promoted (replication stopped,
// read_only off) and the old primary, which has every transaction, is made
// read-only and put back as a replica of it the documented way for a former
// primary (MASTER_USE_GTID=current_pos: its gtid_slave_pos is empty, as it
// never replicated). No write follows. The old primary is caught up: the
// health check must say so (lag known, 0 transactions behind) and its
// position must cover the new primary's. Reading its position from
// gtid_slave_pos alone (empty) makes it "lag unknown" and never cover a
// token until the new primary writes again.
//
// With a gtid_domain_id per server (as master-master set-ups and many
// fail-over tools use), it lasts for ever: the new primary's next write is
// in its own domain, the old primary's writes stay in domain 1 of every
// token and lag, and its gtid_slave_pos never gets domain 1 (those
// transactions are its own, never sent back).
func TestReview3FormerPrimaryRejoinedPositionIntegration(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		domains bool
	}{{"one domain", false}, {"a domain per server, after a write", true}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel() // each cluster is its own: the test swaps the roles
			testFormerPrimaryRejoined(t, tc.domains)
		})
	}
}

func testFormerPrimaryRejoined(t *testing.T, domains bool) {
	c := testcluster.Start(t, testcluster.MariaDB, testcluster.Options{Replicas: 1})
	ctx := context.Background()
	padmin := openT(t, c.OpenAdmin, c.Primary)
	radmin := openT(t, c.OpenAdmin, c.Replicas[0])

	if domains {
		// gtid_domain_id is copied into a session when it connects: new
		// pools after the change.
		_, err := padmin.ExecContext(ctx, "SET GLOBAL gtid_domain_id = 1")
		require.NoError(t, err)
		_, err = radmin.ExecContext(ctx, "SET GLOBAL gtid_domain_id = 2")
		require.NoError(t, err)
		padmin, radmin = openT(t, c.OpenAdmin, c.Primary), openT(t, c.OpenAdmin, c.Replicas[0])
	}
	_, err := padmin.ExecContext(ctx, "CREATE TABLE slavepos_switch (k INT PRIMARY KEY)")
	require.NoError(t, err)
	_, err = padmin.ExecContext(ctx, "INSERT INTO slavepos_switch VALUES (1)")
	require.NoError(t, err)
	var ppos string
	require.NoError(t, padmin.QueryRowContext(ctx, "SELECT @@GLOBAL.gtid_binlog_pos").Scan(&ppos))
	require.Eventually(t, func() bool {
		var ok int
		return radmin.QueryRowContext(ctx, "SELECT MASTER_GTID_WAIT(?, 0.1)", ppos).Scan(&ok) == nil && ok == 0
	}, 10*time.Second, 10*time.Millisecond)

	// Switch over: the old primary stops taking writes, the replica is
	// promoted, the old primary follows it.
	for _, q := range []string{"SET GLOBAL read_only = 1"} {
		_, err = padmin.ExecContext(ctx, q)
		require.NoError(t, err)
	}
	for _, q := range []string{"STOP SLAVE", "RESET SLAVE ALL", "SET GLOBAL read_only = 0"} {
		_, err = radmin.ExecContext(ctx, q)
		require.NoError(t, err, q)
	}
	_, err = padmin.ExecContext(ctx, fmt.Sprintf("CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=%d, MASTER_USER='repl', "+
		"MASTER_PASSWORD='repl', MASTER_USE_GTID=current_pos, MASTER_CONNECT_RETRY=1", c.Replicas[0].Port))
	require.NoError(t, err)
	_, err = padmin.ExecContext(ctx, "START SLAVE")
	require.NoError(t, err)

	db := openCluster(t, c, replica.CheckInterval(time.Hour))
	require.Eventually(t, func() bool {
		db.CheckNow(ctx)
		r := nodeStatus(db, "primary").Replication
		return r.Receiving && r.Applying
	}, 10*time.Second, 20*time.Millisecond, "the old primary replicates from the new")

	if domains {
		// The new primary writes; the old one applies it.
		_, err = radmin.ExecContext(ctx, "INSERT INTO slavepos_switch VALUES (2)")
		require.NoError(t, err)
		var last string
		require.NoError(t, radmin.QueryRowContext(ctx, "SELECT @@GLOBAL.gtid_binlog_pos").Scan(&last))
		papp := openT(t, c.Open, c.Primary)
		require.Eventually(t, func() bool {
			var n int
			return papp.QueryRowContext(ctx, "SELECT COUNT(*) FROM slavepos_switch WHERE k = 2").Scan(&n) == nil && n == 1
		}, 10*time.Second, 10*time.Millisecond, "the old primary applies the new one's write")
	}
	var slave, current, binlog, newBinlog string
	require.NoError(t, padmin.QueryRowContext(ctx, "SELECT @@GLOBAL.gtid_slave_pos, @@GLOBAL.gtid_current_pos, @@GLOBAL.gtid_binlog_pos").Scan(&slave, &current, &binlog))
	require.NoError(t, radmin.QueryRowContext(ctx, "SELECT @@GLOBAL.gtid_binlog_pos").Scan(&newBinlog))
	t.Logf("old primary (now replica): gtid_slave_pos %q, gtid_current_pos %q, gtid_binlog_pos %q; new primary gtid_binlog_pos %q",
		slave, current, binlog, newBinlog)

	snap := db.CheckNow(ctx)
	require.True(t, snap.WriterKnown)
	w := snap.Nodes[snap.Writer]
	require.Equal(t, "replica1", w.Name, "the promoted node is the writer")
	old := nodeStatus(db, "primary")
	t.Logf("writer position %q; old primary position %q, lag %+v", w.Position, old.Position, old.Lag)
	require.True(t, old.Lag.Known, "a caught-up former primary, re-pointed with current_pos, reports lag unknown (position %q)", old.Position)
	require.Zero(t, old.Lag.Bytes, "a caught-up former primary reports transactions behind")
	require.True(t, old.Position.Covers(w.Position), "the old primary's position %q does not cover the writer's %q: it never serves a token", old.Position, w.Position)
}

// TestReview3ReadOnlyMasterOfPairPositionIntegration: an active-passive
// master-master pair (a domain per server, as the harness makes it):
// master2 took writes, then was made read-only (the passive side; role
// Replica) while master1 takes the writes. master2 has everything: the
// health check must see it caught up and its position must cover
// master1's. Its own writes (domain 2) are in its binary log; whether they
// are in its gtid_slave_pos depends on them coming back round the ring.
func TestReview3ReadOnlyMasterOfPairPositionIntegration(t *testing.T) {
	t.Parallel() // its cluster is its own: the test makes master2 read-only
	c := testcluster.Start(t, testcluster.MasterMaster, testcluster.Options{})
	ctx := context.Background()
	m1 := openT(t, c.OpenAdmin, c.Primary)
	m2 := openT(t, c.OpenAdmin, c.Replicas[0])
	_, err := m2.ExecContext(ctx, "CREATE TABLE slavepos_pair (k INT PRIMARY KEY)")
	require.NoError(t, err)
	_, err = m2.ExecContext(ctx, "INSERT INTO slavepos_pair VALUES (2)")
	require.NoError(t, err)
	_, err = m2.ExecContext(ctx, "SET GLOBAL read_only = 1")
	require.NoError(t, err)
	var m2pos string
	require.NoError(t, m2.QueryRowContext(ctx, "SELECT @@GLOBAL.gtid_binlog_pos").Scan(&m2pos))
	require.Eventually(t, func() bool {
		var ok int
		return m1.QueryRowContext(ctx, "SELECT MASTER_GTID_WAIT(?, 0.1)", m2pos).Scan(&ok) == nil && ok == 0
	}, 10*time.Second, 10*time.Millisecond)
	_, err = m1.ExecContext(ctx, "INSERT INTO slavepos_pair VALUES (1)")
	require.NoError(t, err)
	m2app := openT(t, c.Open, c.Replicas[0])
	require.Eventually(t, func() bool {
		var n int
		return m2app.QueryRowContext(ctx, "SELECT COUNT(*) FROM slavepos_pair WHERE k = 1").Scan(&n) == nil && n == 1
	}, 10*time.Second, 10*time.Millisecond, "master2 applies master1's write")
	time.Sleep(200 * time.Millisecond) // time for master2's own events to come round, if they do

	var slave, current, binlog string
	require.NoError(t, m2.QueryRowContext(ctx, "SELECT @@GLOBAL.gtid_slave_pos, @@GLOBAL.gtid_current_pos, @@GLOBAL.gtid_binlog_pos").Scan(&slave, &current, &binlog))
	t.Logf("master2 (read-only): gtid_slave_pos %q, gtid_current_pos %q, gtid_binlog_pos %q", slave, current, binlog)

	db := openCluster(t, c, replica.CheckInterval(time.Hour))
	snap := db.CheckNow(ctx)
	require.True(t, snap.WriterKnown)
	w := snap.Nodes[snap.Writer]
	m2st := nodeStatus(db, "replica1")
	t.Logf("writer %s position %q; master2 role %v position %q, lag %+v", w.Name, w.Position, m2st.Role, m2st.Position, m2st.Lag)
	require.True(t, m2st.Lag.Known, "caught-up read-only master2: lag unknown")
	require.Zero(t, m2st.Lag.Bytes, "caught-up read-only master2 reported behind")
	require.True(t, m2st.Position.Covers(w.Position), "master2's position %q does not cover the writer's %q", m2st.Position, w.Position)
}
