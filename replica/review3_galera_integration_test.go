package replica_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sqlreplica/sqlreplica/consistency"
	"github.com/sqlreplica/sqlreplica/internal/testcluster"
	"github.com/sqlreplica/sqlreplica/replica"
)

// TestReview3Galera attacks the Galera promises on a private 3-node
// cluster, in an order that leaves the destructive step (a second Primary
// component) for last.
func TestReview3Galera(t *testing.T) {
	t.Parallel() // its cluster is its own
	c := testcluster.Start(t, testcluster.Galera, testcluster.Options{Replicas: 2})
	db := openCluster(t, c, replica.CheckInterval(100*time.Millisecond), replica.Hysteresis(1, 1))
	id := newIdentity(c)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	table := galeraTable(t, db, "review3")
	insert := "INSERT INTO " + table + " (k, v, w) VALUES (?, ?, @@server_id)"

	// Session reads whose context ends at any moment of the wait
	// (WSREP_SYNC_WAIT_UPTO_GTID, SET wsrep_sync_wait = 1, the causal
	// SELECT 1, the reset) never leave wsrep_sync_wait set on a pooled
	// connection.
	t.Run("SyncWaitNeverLeftSetWhenTheReadIsCanceled", func(t *testing.T) {
		for i := 0; i < 300; i++ {
			sctx := consistency.WithSession(ctx)
			_, err := db.ExecContext(sctx, insert, fmt.Sprint("c-", i), i)
			require.NoError(t, err)
			rctx, rcancel := context.WithTimeout(sctx, time.Duration(rand.IntN(4000))*time.Microsecond)
			var v int
			_ = db.QueryRowContext(rctx, "SELECT v FROM "+table+" WHERE k = ?", fmt.Sprint("c-", i)).Scan(&v)
			rcancel()
		}
		for i := 0; i < 300; i++ {
			var w, who int
			require.NoError(t, db.QueryRowContext(ctx, "SELECT @@session.wsrep_sync_wait, "+id.whoExpr()).Scan(&w, &who))
			require.Zero(t, w, "a pooled connection of %s kept wsrep_sync_wait set", id.name(who))
		}
	})

	// A node bootstrapped on its own while the other two keep the quorum
	// (pc.bootstrap after gmcast.isolate) is a second Primary component of
	// the same cluster state UUID: two clusters taking writes apart, a split
	// brain (Snapshot.SplitBrain's doc: "two Galera clusters ... are").
	// It must not stay in rotation as a reader of the writer's cluster:
	// it never receives the writer's writes.
	t.Run("SecondPrimaryComponentIsSplitBrain", func(t *testing.T) {
		target := c.Replicas[1]
		require.NoError(t, c.Isolate(ctx, target, true))
		require.NoError(t, c.Bootstrap(ctx, target))
		snap := db.CheckNow(ctx)
		for _, n := range snap.Nodes {
			t.Logf("%s healthy=%v writable=%v galera=%+v", n.Name, n.Healthy, n.Writable, *n.Galera)
		}
		require.True(t, snap.SplitBrain, "a second Primary component of the same cluster is not a split brain")
		_, err := db.ExecContext(ctx, insert, "after-split", 1)
		require.ErrorIs(t, err, replica.ErrSplitBrain)
		for i := 0; i < 50; i++ {
			require.NotEqual(t, target.Name, id.who(t, ctx, db, ""), "a read reached the component that never sees the writer's writes")
		}
	})
}
