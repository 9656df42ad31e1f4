package replica_test

import (
	"context"
	"database/sql"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sqlreplica/sqlreplica/consistency"
	"github.com/sqlreplica/sqlreplica/health"
	"github.com/sqlreplica/sqlreplica/internal/testcluster"
	"github.com/sqlreplica/sqlreplica/replica"
)

// TestMasterMasterPair runs a DB with MultiPrimary over a real MariaDB
// master-master pair: writes go to one server only and session reads to the
// other with nothing stale; the writer is SIGKILLed: writes move to the
// other (the time is logged), a session token taken before still routes
// its read to a node that has the write, and the broken replication is
// reported in Status and by health.Audit.
func TestMasterMasterPair(t *testing.T) {
	t.Parallel() // its cluster is its own
	c := testcluster.Start(t, testcluster.MasterMaster, testcluster.Options{})
	db := openCluster(t, c, replica.MultiPrimary(), replica.CheckInterval(100*time.Millisecond), replica.CheckTimeout(500*time.Millisecond))
	id := newIdentity(c)
	ctx := context.Background()
	snap := db.CheckNow(ctx)
	require.False(t, snap.SplitBrain)
	require.True(t, snap.MultiPrimary)
	require.Equal(t, 0, snap.Writer)
	findings, err := health.Audit(ctx, db)
	require.NoError(t, err)
	for _, f := range findings {
		require.NotContains(t, []string{"auto_increment_increment", "replication", "read_only"}, f.Setting, "%+v", f)
	}

	table := fmt.Sprintf("mm_%d", time.Now().UnixNano())
	_, err = db.ExecContext(ctx, "CREATE TABLE "+table+" (k varchar(100) PRIMARY KEY, w int)")
	require.NoError(t, err)
	insert := "INSERT INTO " + table + " (k, w) VALUES (?, @@server_id)"
	read := "SELECT " + id.whoExpr() + ", (SELECT w FROM " + table + " WHERE k = ?)"
	const pairs = 300
	writers, readsOn := map[string]int{}, map[string]int{}
	var last consistency.Token
	lastKey := ""
	for i := 0; i < pairs; i++ {
		sctx := consistency.WithSession(ctx)
		key := fmt.Sprintf("k%d", i)
		_, err := db.ExecContext(sctx, insert, key)
		require.NoError(t, err)
		var who int
		var w sql.NullInt64
		require.NoError(t, db.QueryRowContext(sctx, read, key).Scan(&who, &w))
		require.True(t, w.Valid, "stale read of %s on %s", key, id.name(who))
		writers[id.name(int(w.Int64))]++
		readsOn[id.name(who)]++
		last = consistency.SessionFrom(sctx).Token()
		lastKey = key
	}
	require.Equal(t, map[string]int{c.Primary.Name: pairs}, writers)
	require.Greater(t, readsOn[c.Replicas[0].Name], pairs/2, "%v", readsOn)

	killed := time.Now()
	require.NoError(t, c.Primary.Kill())
	var moved time.Duration
	for i := 0; ; i++ {
		_, err := db.ExecContext(ctx, insert, fmt.Sprintf("after-%d", i))
		if err == nil {
			moved = time.Since(killed)
			break
		}
		require.Less(t, time.Since(killed), 10*time.Second, "writes did not move: %v", err)
		time.Sleep(5 * time.Millisecond)
	}
	require.Equal(t, 1, db.Status().Writer)
	// The last session's token still routes: its read finds its write.
	require.False(t, last.IsZero())
	sctx := consistency.WithToken(ctx, last)
	var who int
	var w sql.NullInt64
	require.NoError(t, db.QueryRowContext(sctx, read, lastKey).Scan(&who, &w))
	require.True(t, w.Valid, "the session's write is not seen after the fail-over")

	// Broken replication is reported: the survivor's IO thread cannot reach
	// its source.
	deadline := time.Now().Add(15 * time.Second)
	for {
		st := db.CheckNow(ctx).Nodes[1]
		if st.Replication.Configured && !st.Replication.Receiving {
			break
		}
		require.True(t, time.Now().Before(deadline), "broken replication not reported: %+v", st.Replication)
		time.Sleep(100 * time.Millisecond)
	}
	findings, err = health.Audit(ctx, db)
	require.NoError(t, err)
	found := false
	for _, f := range findings {
		if f.Setting == "replication" && f.Node == "replica1" {
			found = true
		}
	}
	require.True(t, found, "audit does not flag the broken replication: %+v", findings)
	t.Logf("master-master: %d session pairs, 0 stale, writes %v, reads %v; writer SIGKILLed: writes moved after %v",
		pairs, writers, readsOn, moved.Round(time.Millisecond))
}
