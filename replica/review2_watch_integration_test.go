package replica_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sqlreplica/sqlreplica/consistency"
	"github.com/sqlreplica/sqlreplica/internal/testcluster"
	"github.com/sqlreplica/sqlreplica/replica"
)

// TestHostileWatchWriterOwnDomainIntegration: on a real MariaDB
// master-master pair (the harness's ring), master 2 writes (its domain 2),
// master 1 applies it and writes too; master 1's gtid_binlog_pos (a
// session's token) then holds domain 2. readPrimary's fail-over path waits
// on master 2 for that token by its gtid_slave_pos. Found nothing in the
// steady state: master 2's gtid_slave_pos holds its own domain once the
// echo of its transactions came back from master 1 (observed
// "1-1-1,2-2-1"), and the wait succeeds. The race where the echo never
// comes is TestHostileWatchWriterOwnDomain (fake).
func TestHostileWatchWriterOwnDomainIntegration(t *testing.T) {
	t.Parallel()
	c := testcluster.Start(t, testcluster.MasterMaster, testcluster.Options{})
	ctx := context.Background()
	m1 := openT(t, c.OpenAdmin, c.Primary)
	m2 := openT(t, c.OpenAdmin, c.Replicas[0])
	_, err := m2.ExecContext(ctx, "CREATE TABLE own_domain (k INT PRIMARY KEY)")
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		_, err := m1.ExecContext(ctx, "INSERT INTO own_domain VALUES (1)")
		return err == nil
	}, 10*time.Second, 10*time.Millisecond)
	var pos string
	require.NoError(t, m1.QueryRowContext(ctx, "SELECT @@GLOBAL.gtid_binlog_pos").Scan(&pos))
	tok, err := consistency.MariaDBToken(pos)
	require.NoError(t, err)
	var slave, current, binlog string
	require.Eventually(t, func() bool {
		var n int
		return m2.QueryRowContext(ctx, "SELECT COUNT(*) FROM own_domain").Scan(&n) == nil && n == 1
	}, 10*time.Second, 10*time.Millisecond)
	require.NoError(t, m2.QueryRowContext(ctx, "SELECT @@GLOBAL.gtid_slave_pos, @@GLOBAL.gtid_current_pos, @@GLOBAL.gtid_binlog_pos").Scan(&slave, &current, &binlog))
	db := openCluster(t, c, replica.MultiPrimary(), replica.CheckInterval(time.Hour))
	ok := replica.WaitOn(ctx, db, 1, tok, 500*time.Millisecond)
	t.Logf("token %s; master 2: gtid_slave_pos %s, gtid_current_pos %s, gtid_binlog_pos %s; wait on master 2: %v", tok, slave, current, binlog, ok)
	require.True(t, ok, "master 2 has every transaction of the token")
}
