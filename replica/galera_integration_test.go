package replica_test

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sqlreplica/sqlreplica/consistency"
	"github.com/sqlreplica/sqlreplica/health"
	"github.com/sqlreplica/sqlreplica/internal/testcluster"
	"github.com/sqlreplica/sqlreplica/replica"
)

// TestGaleraSharedCluster runs the tests of the shared Galera cluster one
// after the other (desync and the quorum cut take a node out of rotation
// for a while), in parallel with the package's other tests.
func TestGaleraSharedCluster(t *testing.T) {
	t.Parallel() // the shared Galera cluster is only these tests'
	t.Run("Routing", testGaleraRouting)
	t.Run("StatusAndAudit", testGaleraStatusAndAudit)
	t.Run("Desync", testGaleraDesync)
	t.Run("NodeCutFromTheQuorumGetsNoTraffic", testGaleraNodeCutFromTheQuorumGetsNoTraffic)
}

// galeraTable creates a table for a test on a Galera cluster: k the key, w
// the server_id of the node that ran the insert.
func galeraTable(t *testing.T, db *replica.DB, prefix string) string {
	t.Helper()
	table := fmt.Sprintf("%s_%d", prefix, time.Now().UnixNano())
	_, err := db.Exec("CREATE TABLE " + table + " (k varchar(100) PRIMARY KEY, v int, w int)")
	require.NoError(t, err)
	return table
}

// testGaleraRouting opens a DB over a real 3-node Galera cluster with no
// Galera-specific option: it is detected, there is no split brain, every
// write goes to the one writer (node1, the node given as primary), and
// 1,000 session write → immediate read pairs read nothing stale, most of
// them on the other nodes.
func testGaleraRouting(t *testing.T) {
	c := clusters.Get(t, testcluster.Galera)
	db := openCluster(t, c, replica.CheckInterval(200*time.Millisecond))
	id := newIdentity(c)
	ctx := context.Background()

	snap := db.CheckNow(ctx)
	require.False(t, snap.SplitBrain)
	require.True(t, snap.MultiPrimary, "the Galera cluster was not recognised")
	require.True(t, snap.WriterKnown)
	require.Equal(t, 0, snap.Writer, "the writer is not the node given as primary")
	uuid := ""
	for _, n := range snap.Nodes {
		require.True(t, n.Healthy, "%s: %s", n.Name, n.LastError)
		require.NotNil(t, n.Galera, n.Name)
		require.True(t, n.Galera.Synced(), "%s: %+v", n.Name, *n.Galera)
		require.Equal(t, 3, n.Galera.ClusterSize, n.Name)
		require.NotEmpty(t, n.Galera.ClusterStateUUID)
		if uuid == "" {
			uuid = n.Galera.ClusterStateUUID
		}
		require.Equal(t, uuid, n.Galera.ClusterStateUUID)
	}

	table := galeraTable(t, db, "galera_routing")
	insert := "INSERT INTO " + table + " (k, v, w) VALUES (?, ?, @@server_id)"
	// The read names the node that served it even when it finds no row.
	read := "SELECT " + id.whoExpr() + ", (SELECT w FROM " + table + " WHERE k = ?)"

	// Without sessions, for comparison: reads may be stale on Galera.
	staleWithout := 0
	for i := 0; i < 200; i++ {
		key := fmt.Sprintf("plain-%d", i)
		_, err := db.ExecContext(ctx, insert, key, i)
		require.NoError(t, err)
		var who int
		var w sql.NullInt64
		require.NoError(t, db.QueryRowContext(ctx, read, key).Scan(&who, &w))
		if !w.Valid {
			staleWithout++
		}
	}

	const pairs = 1000
	var writeErrs, stale int
	writers := map[string]int{}
	readsOn := map[string]int{}
	start := time.Now()
	for i := 0; i < pairs; i++ {
		sctx := consistency.WithSession(ctx)
		key := fmt.Sprintf("session-%d", i)
		if _, err := db.ExecContext(sctx, insert, key, i); err != nil {
			writeErrs++
			t.Errorf("write %d: %v", i, err)
			continue
		}
		var who int
		var w sql.NullInt64
		err := db.QueryRowContext(sctx, read, key).Scan(&who, &w)
		switch {
		case err != nil:
			t.Fatalf("read %d: %v", i, err)
		case !w.Valid:
			stale++
			t.Errorf("stale read of %s in a session on %s", key, id.name(who))
		default:
			writers[id.name(int(w.Int64))]++
			readsOn[id.name(who)]++
		}
	}
	elapsed := time.Since(start)
	require.Zero(t, writeErrs)
	require.Zero(t, stale)
	require.Len(t, writers, 1, "writes went to more than one node: %v", writers)
	require.Equal(t, pairs, writers[c.Primary.Name], "writes not on the node given as primary: %v", writers)
	others := pairs - readsOn[c.Primary.Name]
	require.Greater(t, others, pairs/2, "most reads did not reach the other nodes: %v", readsOn)
	// A session's read goes to the node furthest ahead, so the reads need
	// not spread evenly (or at all) over the other nodes; none is on the
	// writer while another node can serve.
	t.Logf("galera: %d session write→read pairs in %v: %d write errors, %d stale reads, writes %v, reads %v (%.1f%% on the other nodes); without sessions %d of 200 reads were stale",
		pairs, elapsed.Round(time.Millisecond), writeErrs, stale, writers, readsOn, 100*float64(others)/pairs, staleWithout)

	// Lag is the apply backlog: known, never "unknown = fresh".
	snap = db.CheckNow(ctx)
	for i, n := range snap.Nodes {
		require.True(t, n.Lag.Known, "%s: lag unknown", n.Name)
		if i != snap.Writer {
			require.NotZero(t, n.Galera.LastCommitted, n.Name)
		}
	}
}

// testGaleraStatusAndAudit checks the Galera state each node reports, the
// event a DB sends when it first sees a Galera node, and that the audit of
// a well-configured 3-node cluster flags none of the Galera settings.
func testGaleraStatusAndAudit(t *testing.T) {
	c := clusters.Get(t, testcluster.Galera)
	events := make(chan health.Event, 64)
	db := openCluster(t, c, replica.CheckInterval(200*time.Millisecond), replica.OnEvent(func(e health.Event) {
		select {
		case events <- e:
		default:
		}
	}))
	ctx := context.Background()
	db.CheckNow(ctx)
	seen := map[string]bool{}
	deadline := time.After(5 * time.Second)
	for len(seen) < 3 {
		select {
		case e := <-events:
			if e.Kind == health.GaleraStateChange {
				require.Contains(t, e.Detail, "Synced, cluster Primary of 3")
				seen[e.Node] = true
			}
		case <-deadline:
			t.Fatalf("Galera state events only for %v", seen)
		}
	}
	findings, err := health.Audit(ctx, db)
	require.NoError(t, err)
	for _, f := range findings {
		switch f.Setting {
		case "innodb_autoinc_lock_mode", "wsrep_sync_wait", "wsrep_cluster_state_uuid", "wsrep_cluster_size", "wsrep_gtid_mode", "read_only", "replication":
			t.Errorf("unexpected finding: %+v", f)
		}
	}

	// wsrep_sync_wait set globally is flagged.
	admin, err := c.OpenAdmin(c.Replicas[0])
	require.NoError(t, err)
	defer admin.Close()
	_, err = admin.ExecContext(ctx, "SET GLOBAL wsrep_sync_wait = 1")
	require.NoError(t, err)
	t.Cleanup(func() { _, _ = admin.ExecContext(context.Background(), "SET GLOBAL wsrep_sync_wait = 0") })
	findings, err = health.Audit(ctx, db)
	require.NoError(t, err)
	found := false
	for _, f := range findings {
		if f.Setting == "wsrep_sync_wait" && f.Node == "replica1" {
			found = true
		}
	}
	require.True(t, found, "wsrep_sync_wait set globally not flagged: %+v", findings)
}

// testGaleraDesync desyncs a reading node: it leaves rotation (no read
// reaches it, an event says so) and comes back once Synced.
func testGaleraDesync(t *testing.T) {
	c := clusters.Get(t, testcluster.Galera)
	db := openCluster(t, c, replica.CheckInterval(100*time.Millisecond), replica.Hysteresis(1, 1))
	id := newIdentity(c)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	target := c.Replicas[1]
	require.NoError(t, c.Desync(ctx, target, true))
	t.Cleanup(func() { _ = c.Desync(context.Background(), target, false) })
	snap := db.CheckNow(ctx)
	st := snap.Nodes[2]
	require.False(t, st.Healthy, "a desynced node stays in rotation")
	require.True(t, st.Reachable)
	require.Contains(t, st.LastError, "Desynced")
	require.Equal(t, 2, st.Galera.LocalState)
	require.Equal(t, 0, snap.Writer)
	for i := 0; i < 50; i++ {
		require.NotEqual(t, target.Name, id.who(t, ctx, db, ""), "a read reached the desynced node")
	}

	require.NoError(t, c.Desync(ctx, target, false))
	requireServesAgain(t, ctx, db, id, 2, "once Synced again")
}

// requireServesAgain waits until node i is back in rotation and a read
// reaches it.
func requireServesAgain(t *testing.T, ctx context.Context, db *replica.DB, id *identity, i int, when string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !db.CheckNow(ctx).Nodes[i].Healthy {
		require.True(t, time.Now().Before(deadline), "the node did not come back "+when)
		time.Sleep(50 * time.Millisecond)
	}
	name := db.Status().Nodes[i].Name
	back := false
	for j := 0; j < 50 && !back; j++ {
		back = id.who(t, ctx, db, "") == id.c.Servers()[i].Name
	}
	require.True(t, back, "no read reached %s %s", name, when)
}

// testGaleraNodeCutFromTheQuorumGetsNoTraffic cuts a reading node off the
// cluster (gmcast.isolate: it is alone in a non-Primary component, the
// other two keep the quorum): it leaves rotation, no read reaches it and
// writes stay on the writer; once let back in and Synced, it serves again.
func testGaleraNodeCutFromTheQuorumGetsNoTraffic(t *testing.T) {
	c := clusters.Get(t, testcluster.Galera)
	db := openCluster(t, c, replica.CheckInterval(100*time.Millisecond), replica.Hysteresis(1, 1))
	id := newIdentity(c)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	table := galeraTable(t, db, "quorum")
	target := c.Replicas[1]
	require.NoError(t, c.Isolate(ctx, target, true))
	t.Cleanup(func() { _ = c.Isolate(context.Background(), target, false) })
	snap := db.CheckNow(ctx)
	st := snap.Nodes[2]
	require.False(t, st.Healthy, "a node outside the quorum stays in rotation")
	require.NotNil(t, st.Galera)
	require.NotEqual(t, "Primary", st.Galera.ClusterStatus)
	require.Equal(t, 0, snap.Writer)
	require.False(t, snap.SplitBrain)
	for i := 0; i < 50; i++ {
		require.NotEqual(t, target.Name, id.who(t, ctx, db, ""), "a read reached the node outside the quorum")
		sctx := consistency.WithSession(ctx)
		_, err := db.ExecContext(sctx, "INSERT INTO "+table+" (k) VALUES (?)", fmt.Sprint("cut-", i))
		require.NoError(t, err, "a write failed while a reading node was cut off")
		require.NotEqual(t, target.Name, id.who(t, sctx, db, "FROM "+table+" WHERE k = '"+fmt.Sprint("cut-", i)+"'"), "a session read reached the node outside the quorum")
	}

	require.NoError(t, c.Isolate(ctx, target, false))
	requireServesAgain(t, ctx, db, id, 2, "once back in the quorum")
}

// TestGaleraWriterKilled SIGKILLs the writer of a private Galera cluster
// under concurrent session writes and reads: writes move to another node
// (the time is logged), no acknowledged write is lost, no read fails.
func TestGaleraWriterKilled(t *testing.T) {
	t.Parallel() // its cluster is its own
	c := testcluster.Start(t, testcluster.Galera, testcluster.Options{Replicas: 2})
	// Until Galera's view change drops the killed node (evs.suspect_timeout,
	// 5 s by default), the other nodes cannot prove a session's write
	// visible (a causal read waits for the group): session reads wait up to
	// 8 s rather than fail.
	db := openCluster(t, c, replica.CheckInterval(100*time.Millisecond), replica.CheckTimeout(500*time.Millisecond),
		replica.ReadYourWrites(consistency.Policy{Wait: 8 * time.Second}))
	id := newIdentity(c)
	ctx := context.Background()
	require.Equal(t, 0, db.CheckNow(ctx).Writer)
	table := galeraTable(t, db, "galera_kill")
	insert := "INSERT INTO " + table + " (k, v, w) VALUES (?, ?, @@server_id)"

	var (
		mu        sync.Mutex
		acked     []string
		writeErrs int
		readErrs  []error
		firstNew  time.Time // first write acknowledged by another node after the kill
	)
	var killedAt time.Time
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := 0; g < 3; g++ {
		wg.Add(2)
		go func() { // writer
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				sctx := consistency.WithSession(ctx)
				key := fmt.Sprintf("g%d-%d", g, i)
				_, err := db.ExecContext(sctx, insert, key, i)
				mu.Lock()
				if err != nil {
					writeErrs++
					mu.Unlock()
					time.Sleep(5 * time.Millisecond)
					continue
				}
				acked = append(acked, key)
				mu.Unlock()
				var w sql.NullInt64
				var who int
				err = db.QueryRowContext(sctx, "SELECT "+id.whoExpr()+", (SELECT w FROM "+table+" WHERE k = ?)", key).Scan(&who, &w)
				mu.Lock()
				switch {
				case err != nil:
					readErrs = append(readErrs, err)
				case !w.Valid:
					readErrs = append(readErrs, fmt.Errorf("stale read of %s on %s", key, id.name(who)))
				case !killedAt.IsZero() && firstNew.IsZero() && id.name(int(w.Int64)) != c.Primary.Name:
					firstNew = time.Now()
				}
				mu.Unlock()
			}
		}()
		go func() { // reader
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				var n int
				if err := db.QueryRowContext(ctx, "SELECT count(*) FROM "+table).Scan(&n); err != nil {
					mu.Lock()
					readErrs = append(readErrs, err)
					mu.Unlock()
				}
			}
		}()
	}
	time.Sleep(time.Second)
	mu.Lock()
	killedAt = time.Now()
	mu.Unlock()
	require.NoError(t, c.Primary.Kill())
	var routed time.Duration // until the DB sends writes elsewhere
	deadline := time.Now().Add(20 * time.Second)
	for {
		if routed == 0 && db.Status().Writer != 0 {
			routed = time.Since(killedAt)
		}
		mu.Lock()
		moved := !firstNew.IsZero()
		mu.Unlock()
		if moved || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(time.Second)
	close(stop)
	wg.Wait()

	mu.Lock()
	defer mu.Unlock()
	require.False(t, firstNew.IsZero(), "writes did not move off the killed node")
	require.Empty(t, readErrs, "reads failed")
	snap := db.CheckNow(ctx)
	require.NotEqual(t, 0, snap.Writer)
	require.False(t, snap.SplitBrain)
	// Every acknowledged write is on the surviving nodes.
	for _, r := range c.Replicas {
		p, err := c.Open(r)
		require.NoError(t, err)
		rows, err := p.Query("SELECT k FROM " + table)
		require.NoError(t, err)
		have := map[string]bool{}
		for rows.Next() {
			var k string
			require.NoError(t, rows.Scan(&k))
			have[k] = true
		}
		require.NoError(t, rows.Err())
		rows.Close()
		p.Close()
		for _, k := range acked {
			require.True(t, have[k], "%s lost the acknowledged write %s", r.Name, k)
		}
	}
	t.Logf("galera writer SIGKILLed: the DB routed writes to %s after %v, the first write there was acknowledged after %v (Galera's own view change); %d writes acknowledged, %d failed (not retried), 0 lost; 0 read errors",
		snap.Nodes[snap.Writer].Name, routed.Round(time.Millisecond), firstNew.Sub(killedAt).Round(time.Millisecond), len(acked), writeErrs)
}
