package replica_test

import (
	"context"
	"database/sql"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sqlreplica/sqlreplica/consistency"
	"github.com/sqlreplica/sqlreplica/internal/testcluster"
	"github.com/sqlreplica/sqlreplica/replica"
)

func openT(t *testing.T, open func(*testcluster.Server) (*sql.DB, error), s *testcluster.Server) *sql.DB {
	t.Helper()
	db, err := open(s)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return db
}

// TestWatchMariaDBErrantGTIDIntegration: a MariaDB replica (gtid_strict_mode
// on, as the harness runs it) gets one transaction of its own in domain 0
// with a high sequence number (an admin bypassing read_only; the same as a
// former primary put back with unreplicated writes). Its gtid_current_pos
// then shows that GTID, its gtid_slave_pos does not move, and the primary's
// next write stops its replication (out-of-order GTID). WaitReplicated for
// that write must report it not replicated, as MASTER_GTID_WAIT (which
// compares gtid_slave_pos) did: the watcher reads gtid_slave_pos (its first
// version compared gtid_current_pos by sequence number and said the replica
// had it). Nor may a read with the token run there on the strength of the
// health check's position for it once replication has stopped (it read
// gtid_current_pos too).
func TestWatchMariaDBErrantGTIDIntegration(t *testing.T) {
	t.Parallel() // its cluster is its own: the test breaks its replication
	c := testcluster.Start(t, testcluster.MariaDB, testcluster.Options{Replicas: 1})
	ctx := context.Background()
	padmin := openT(t, c.OpenAdmin, c.Primary)
	radmin := openT(t, c.OpenAdmin, c.Replicas[0])
	rapp := openT(t, c.Open, c.Replicas[0])

	_, err := padmin.ExecContext(ctx, "CREATE TABLE watch_errant (k INT PRIMARY KEY)")
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		var n int
		return rapp.QueryRowContext(ctx, "SELECT COUNT(*) FROM watch_errant").Scan(&n) == nil
	}, 10*time.Second, 10*time.Millisecond)

	conn, err := radmin.Conn(ctx)
	require.NoError(t, err)
	_, err = conn.ExecContext(ctx, "SET SESSION gtid_seq_no = 1000000")
	require.NoError(t, err)
	_, err = conn.ExecContext(ctx, "CREATE TABLE watch_errant_local (k INT)")
	require.NoError(t, err)
	require.NoError(t, conn.Close())

	_, err = padmin.ExecContext(ctx, "INSERT INTO watch_errant VALUES (1)")
	require.NoError(t, err)
	var pos string
	require.NoError(t, padmin.QueryRowContext(ctx, "SELECT @@GLOBAL.gtid_binlog_pos").Scan(&pos))
	tok, err := consistency.MariaDBToken(pos)
	require.NoError(t, err)

	db := openCluster(t, c, replica.CheckInterval(time.Hour))
	wctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	werr := db.WaitReplicated(wctx, tok, 1)

	var current, slave string
	var rows int
	require.NoError(t, radmin.QueryRowContext(ctx, "SELECT @@GLOBAL.gtid_current_pos, @@GLOBAL.gtid_slave_pos").Scan(&current, &slave))
	require.NoError(t, rapp.QueryRowContext(ctx, "SELECT COUNT(*) FROM watch_errant WHERE k = 1").Scan(&rows))
	t.Logf("token %s; replica gtid_current_pos %s, gtid_slave_pos %s, has the row: %v; WaitReplicated: %v", tok, current, slave, rows == 1, werr)
	if rows == 0 {
		require.ErrorIs(t, werr, consistency.ErrNotReplicated, "the replica lacks the write, yet WaitReplicated says it has it")
	}

	// Nor does a read with the token go to the replica on the strength of
	// its checked position, once its replication has stopped on the
	// primary's write: the check then reads gtid_slave_pos too.
	require.Eventually(t, func() bool {
		s := db.CheckNow(ctx)
		return s.Nodes[1].Replication.Configured && !s.Nodes[1].Replication.Applying
	}, 10*time.Second, 20*time.Millisecond, "the replica's replication never stopped on the out-of-order GTID")
	for i := 0; i < 10; i++ {
		var n int
		rctx := consistency.WithPolicy(consistency.WithToken(ctx, tok), consistency.Policy{Wait: 50 * time.Millisecond})
		require.NoError(t, db.QueryRowContext(rctx, "SELECT COUNT(*) FROM watch_errant WHERE k = 1").Scan(&n))
		require.Equal(t, 1, n, "a read with the token saw no row: it ran on the replica that lacks the write")
	}
}

// TestWatchPostgresOtherTimelineIntegration: after a fail-over, a standby
// left following the old primary (not yet re-pointed; the old primary still
// takes writes: split brain, or simply not fenced yet) replays timeline 1
// past the LSN of a write made on the new primary's timeline 2. It does not
// have that write, so WaitReplicated for it must fail. The watcher reads
// the timeline the standby's WAL receiver streams with its replay LSN, and
// waitFor refuses a node the last check found on another origin. (Before,
// every wait compared the replay LSN only, and WaitReplicated counted the
// standby; readConsistent's own filter kept reads safe.)
func TestWatchPostgresOtherTimelineIntegration(t *testing.T) {
	t.Parallel() // its cluster is its own: the test promotes a standby
	c := testcluster.Start(t, testcluster.Postgres, testcluster.Options{Replicas: 2})
	ctx := context.Background()
	old := openT(t, c.OpenAdmin, c.Primary)
	promoted := openT(t, c.OpenAdmin, c.Replicas[0])
	left := openT(t, c.OpenAdmin, c.Replicas[1])

	_, err := old.ExecContext(ctx, "CREATE TABLE watch_tli (k int PRIMARY KEY, pad text)")
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		var n int
		return promoted.QueryRowContext(ctx, "SELECT count(*) FROM watch_tli").Scan(&n) == nil &&
			left.QueryRowContext(ctx, "SELECT count(*) FROM watch_tli").Scan(&n) == nil
	}, 10*time.Second, 10*time.Millisecond)

	var ok bool
	require.NoError(t, promoted.QueryRowContext(ctx, "SELECT pg_promote(true, 60)").Scan(&ok))
	require.True(t, ok)
	_, err = promoted.ExecContext(ctx, "INSERT INTO watch_tli VALUES (1, 'on timeline 2')")
	require.NoError(t, err)
	var lsnText, system string
	var tli int64
	require.NoError(t, promoted.QueryRowContext(ctx, `SELECT pg_current_wal_insert_lsn()::text,
		('x' || substr(pg_walfile_name(pg_current_wal_insert_lsn()), 1, 8))::bit(32)::int,
		(SELECT system_identifier FROM pg_control_system())::text`).Scan(&lsnText, &tli, &system))
	lsn, err := consistency.ParseLSN(lsnText)
	require.NoError(t, err)
	var sys uint64
	_, err = fmt.Sscan(system, &sys)
	require.NoError(t, err)
	tok := consistency.PostgresToken(sys, uint32(tli), lsn)

	// The old primary goes on (its WAL passes the token's LSN on timeline 1)
	// and the standby left behind replays it.
	_, err = old.ExecContext(ctx, "INSERT INTO watch_tli SELECT g, repeat('x', 200) FROM generate_series(100, 20000) g")
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		var s sql.NullString
		if left.QueryRowContext(ctx, "SELECT pg_last_wal_replay_lsn()::text").Scan(&s) != nil || !s.Valid {
			return false
		}
		l, err := consistency.ParseLSN(s.String)
		return err == nil && l > lsn
	}, 10*time.Second, 10*time.Millisecond)

	dsn := c.DSN(c.Replicas[1])
	db, err := replica.Open(c.DriverName(), c.DSN(c.Replicas[0]), []string{dsn}, replica.CheckInterval(time.Hour))
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	wctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	werr := db.WaitReplicated(wctx, tok, 1)
	var n int
	require.NoError(t, left.QueryRowContext(ctx, "SELECT count(*) FROM watch_tli WHERE k = 1").Scan(&n))
	t.Logf("token %s; the standby left on timeline 1 has the row: %v; WaitReplicated: %v", tok, n == 1, werr)
	require.Zero(t, n)
	require.ErrorIs(t, werr, consistency.ErrNotReplicated, "a standby on timeline 1 does not have a write of timeline 2")
}
