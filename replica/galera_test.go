package replica_test

import (
	"context"
	"database/sql/driver"
	"sync/atomic"
	"testing"

	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/require"

	"github.com/sqlreplica/sqlreplica/consistency"
	"github.com/sqlreplica/sqlreplica/internal/fakedb"
	"github.com/sqlreplica/sqlreplica/replica"
	"github.com/sqlreplica/sqlreplica/router"
)

// fakeGaleraVars are what a synced node of a 3-node Galera cluster answers.
func fakeGaleraVars() map[string]string {
	return map[string]string{
		"version": "10.11.6-MariaDB", "read_only": "OFF",
		"wsrep_on": "ON", "wsrep_gtid_mode": "ON", "wsrep_gtid_domain_id": "0", "gtid_binlog_pos": "0-1-10",
		"wsrep_ready": "ON", "wsrep_connected": "ON", "wsrep_cluster_status": "Primary",
		"wsrep_local_state": "4", "wsrep_local_state_comment": "Synced", "wsrep_cluster_size": "3",
		"wsrep_cluster_state_uuid": "u1", "wsrep_last_committed": "10",
	}
}

func newFakeGalera(t *testing.T, opts ...replica.Option) *fakeCluster {
	t.Helper()
	opts = append([]replica.Option{replica.Dialect(router.MariaDB), replica.Hysteresis(1, 1)}, opts...)
	fc := newFake(t, 2, opts...)
	for _, s := range fc.servers() {
		s.SetVars(fakeGaleraVars())
	}
	fc.db.CheckNow(context.Background())
	return fc
}

func (fc *fakeCluster) servers() []*fakedb.Server {
	return append([]*fakedb.Server{fc.primary}, fc.replicas...)
}

// TestGaleraRoutesWritesToOneNodeAndReadsToTheOthers: on a Galera cluster
// (every node writable, one cluster UUID) writes go to the node given as
// primary and reads to the other nodes, or to every node with WriterReads;
// a desynced node gets no read.
func TestGaleraRoutesWritesToOneNodeAndReadsToTheOthers(t *testing.T) {
	ctx := context.Background()
	reads := func(fc *fakeCluster) map[string]int {
		seen := map[string]int{}
		for i := 0; i < 30; i++ {
			seen[who(t, fc.db, ctx, "SELECT 2")]++
		}
		return seen
	}
	t.Run("default", func(t *testing.T) {
		fc := newFakeGalera(t)
		s := fc.db.Status()
		require.False(t, s.SplitBrain)
		require.True(t, s.MultiPrimary)
		_, err := fc.db.ExecContext(ctx, "INSERT INTO t VALUES (1)")
		require.NoError(t, err, "a write was refused on a Galera cluster")
		require.Equal(t, "INSERT INTO t VALUES (1)", fc.primary.Last())
		seen := reads(fc)
		require.Zero(t, seen["primary"], "%v", seen)
		require.NotZero(t, seen["replica1"], "%v", seen)
		require.NotZero(t, seen["replica2"], "%v", seen)

		fc.replicas[0].SetVar("wsrep_local_state", "2")
		fc.replicas[0].SetVar("wsrep_local_state_comment", "Donor/Desynced")
		fc.db.CheckNow(ctx)
		seen = reads(fc)
		require.Equal(t, map[string]int{"replica2": 30}, seen)
	})
	t.Run("WriterReads", func(t *testing.T) {
		fc := newFakeGalera(t, replica.WriterReads(1))
		seen := reads(fc)
		require.Len(t, seen, 3, "%v", seen)
	})
	t.Run("ServeDesynced", func(t *testing.T) {
		fc := newFakeGalera(t, replica.ServeDesynced())
		fc.replicas[0].SetVar("wsrep_local_state", "2")
		fc.db.CheckNow(ctx)
		seen := reads(fc)
		require.NotZero(t, seen["replica1"], "%v", seen)
	})
	t.Run("a writer that leaves the quorum: the write is refused, safe to retry, and writes move", func(t *testing.T) {
		fc := newFakeGalera(t)
		fc.primary.FailWith(&mysqlError1047)
		_, err := fc.db.ExecContext(ctx, "INSERT INTO t VALUES (1)")
		require.ErrorIs(t, err, replica.ErrWriterNotServing)
		require.Equal(t, 1, fc.db.Status().Writer, "writes did not move at once")
	})
}

// TestGaleraSessionReadWaitsAndResetsSyncWait: a session's read after its
// write waits on a Galera node with WSREP_SYNC_WAIT_UPTO_GTID and a causal
// read, and sets wsrep_sync_wait back to 0 on that connection each time.
func TestGaleraSessionReadWaitsAndResetsSyncWait(t *testing.T) {
	fc := newFakeGalera(t)
	var waits, on, off atomic.Int64
	for _, s := range fc.replicas {
		s.Answer("select wsrep_sync_wait_upto_gtid", func([]driver.NamedValue) (driver.Value, error) { waits.Add(1); return int64(1), nil })
		s.Answer("set session wsrep_sync_wait = 1", func([]driver.NamedValue) (driver.Value, error) { on.Add(1); return nil, nil })
		s.Answer("set session wsrep_sync_wait = 0", func([]driver.NamedValue) (driver.Value, error) { off.Add(1); return nil, nil })
		s.Answer("select 1", func([]driver.NamedValue) (driver.Value, error) { return int64(1), nil })
	}
	ctx := consistency.WithSession(context.Background())
	for i := 0; i < 10; i++ {
		_, err := fc.db.ExecContext(ctx, "INSERT INTO t VALUES (1)")
		require.NoError(t, err)
		require.NotEqual(t, "primary", who(t, fc.db, ctx, "SELECT 2"), "the session's read did not reach another node")
	}
	require.Equal(t, int64(10), waits.Load(), "a Galera node's position was taken as proof: no wait")
	require.Equal(t, on.Load(), off.Load(), "wsrep_sync_wait left set on a pooled connection")

	// A node whose wait fails is not read: the writer serves.
	for _, s := range fc.replicas {
		s.Answer("select wsrep_sync_wait_upto_gtid", func([]driver.NamedValue) (driver.Value, error) { return nil, &mysqlError1205 })
	}
	_, err := fc.db.ExecContext(ctx, "INSERT INTO t VALUES (2)")
	require.NoError(t, err)
	require.Equal(t, "primary", who(t, fc.db, ctx, "SELECT 2"))
}

func TestMultiPrimaryOptions(t *testing.T) {
	p := fakedb.NewServer("p").DB()
	t.Cleanup(func() { p.Close() })
	for _, w := range []int{0, -1, router.MaxWeight + 1} {
		_, err := replica.New(p, nil, replica.WriterReads(w))
		require.ErrorIs(t, err, replica.ErrBadOption, "WriterReads(%d)", w)
	}
	db, err := replica.New(p, nil, replica.WriterReads(router.MaxWeight), replica.MultiPrimary(), replica.ServeDesynced())
	require.NoError(t, err)
	require.NoError(t, db.Close())
}

// TestMultiPrimaryPairIsNoSplitBrain: two writable MariaDB servers are a
// split brain unless MultiPrimary says so; with it, writes go to the first
// and reads to the second.
func TestMultiPrimaryPairIsNoSplitBrain(t *testing.T) {
	ctx := context.Background()
	vars := map[string]string{"version": "10.11.6-MariaDB", "read_only": "OFF", "gtid_current_pos": "1-1-5,2-2-3", "gtid_binlog_pos": "1-1-5,2-2-3"}
	for _, multi := range []bool{false, true} {
		var opts []replica.Option
		if multi {
			opts = append(opts, replica.MultiPrimary())
		}
		fc := newFake(t, 1, append(opts, replica.Dialect(router.MariaDB))...)
		fc.primary.SetVars(vars)
		fc.replicas[0].SetVars(vars)
		s := fc.db.CheckNow(ctx)
		_, err := fc.db.ExecContext(ctx, "INSERT INTO t VALUES (1)")
		if !multi {
			require.True(t, s.SplitBrain)
			require.ErrorIs(t, err, replica.ErrSplitBrain)
			continue
		}
		require.False(t, s.SplitBrain)
		require.NoError(t, err)
		require.Equal(t, "replica1", who(t, fc.db, ctx, "SELECT 2"))
		fc.primary.SetDown(true)
		s = fc.db.CheckNow(ctx)
		require.Equal(t, 1, s.Writer)
		_, err = fc.db.ExecContext(ctx, "INSERT INTO t VALUES (2)")
		require.NoError(t, err)
		require.Equal(t, "INSERT INTO t VALUES (2)", fc.replicas[0].Last())
	}
}

var (
	mysqlError1047 = mysql.MySQLError{Number: 1047, Message: "WSREP has not yet prepared node for application use"}
	mysqlError1205 = mysql.MySQLError{Number: 1205, Message: "Lock wait timeout exceeded; try restarting transaction"}
)
