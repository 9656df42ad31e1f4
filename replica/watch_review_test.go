package replica_test

// A hostile review's attacks on the shared position watcher (watch.go):
// unit tests on the fake driver. Each failed on the watcher's first version
// and passes since its fix.

import (
	"context"
	"database/sql/driver"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sqlreplica/sqlreplica/consistency"
	"github.com/sqlreplica/sqlreplica/replica"
	"github.com/sqlreplica/sqlreplica/router"
)

// TestWatchOneSlowReadDoesNotFailOtherWaits: one read of a node's position
// that hangs (a pooled connection to a dead peer, a query stuck behind a
// lock, a server stall that ends) must not fail the waits of reads that
// arrive after it while the node, asked again, would answer at once. Every
// wait on the node rides on the watcher's one query: a read that stalls is
// given up after stallAfter and the next one starts, while the waiters wait
// on (the first version bounded the read by 5 s only, past the default 1 s
// wait, and failed every wait on the node meanwhile).
func TestWatchOneSlowReadDoesNotFailOtherWaits(t *testing.T) {
	fc := newFake(t, 1, replica.Dialect(router.PostgreSQL), replica.CheckInterval(time.Hour))
	release := make(chan struct{})
	t.Cleanup(func() { close(release) }) // runs before the DB closes
	var r replayLSN
	r.answer(fc.replicas[0], func(call int64) (string, error) {
		if call == 1 {
			<-release // this one connection hangs
		}
		return lsnText(0x200), nil // the node has applied the token
	})
	first := make(chan bool, 1)
	go func() {
		first <- replica.WaitOn(context.Background(), fc.db, 1, lsnToken(0x180), 100*time.Millisecond)
	}()
	require.Eventually(t, func() bool { return r.calls.Load() == 1 }, 5*time.Second, time.Millisecond)
	require.False(t, <-first, "the read whose query hangs gives up after its own wait")

	start := time.Now()
	ok := replica.WaitOn(context.Background(), fc.db, 1, lsnToken(0x180), 500*time.Millisecond)
	t.Logf("a later wait: %v after %v, %d position queries", ok, time.Since(start).Round(time.Millisecond), r.calls.Load())
	require.True(t, ok, "the node has applied the token; a fresh read of its position says so at once")
}

// TestWatchMariaDBOwnGTIDDoesNotCoverToken: a MariaDB replica with a
// transaction of its own in the token's domain (an errant write by a user
// that bypasses read_only, or a former primary put back as a replica)
// shows that GTID in @@gtid_current_pos with its own server id and a
// higher sequence number, while @@gtid_slave_pos, what it has applied from
// the primary, is behind the token. The watcher reads gtid_slave_pos, as
// MASTER_GTID_WAIT compares it (its first version read gtid_current_pos and
// said the replica had the token). (Real-server version:
// TestWatchMariaDBErrantGTIDIntegration.)
func TestWatchMariaDBOwnGTIDDoesNotCoverToken(t *testing.T) {
	fc := newFake(t, 1, replica.Dialect(router.MariaDB), replica.CheckInterval(time.Hour))
	answer := func(v string) func([]driver.NamedValue) (driver.Value, error) {
		return func([]driver.NamedValue) (driver.Value, error) { return v, nil }
	}
	fc.replicas[0].Answer("SELECT @@GLOBAL.gtid_current_pos", answer("0-2-1000"))
	fc.replicas[0].Answer("SELECT @@GLOBAL.gtid_slave_pos", answer("0-1-50"))
	fc.replicas[0].Answer("SELECT MASTER_GTID_WAIT", answer("-1"))
	need, err := consistency.MariaDBToken("0-1-100")
	require.NoError(t, err)
	require.False(t, replica.WaitOn(context.Background(), fc.db, 1, need, 100*time.Millisecond),
		"the replica applied the primary's domain 0 only up to 0-1-50")
}

// TestWatchCloseRacesFirstWaiters: Close while many first waiters start
// watchers on several nodes: no panic (wg.Add after Wait), no wait outlives
// Close by more than its bound, and no watcher goroutine is left.
func TestWatchCloseRacesFirstWaiters(t *testing.T) {
	for round := 0; round < 20; round++ {
		fc := newFake(t, 3, replica.Dialect(router.PostgreSQL), replica.CheckInterval(time.Hour))
		for _, s := range fc.replicas {
			var r replayLSN
			r.answer(s, func(int64) (string, error) { return lsnText(0x100), nil })
		}
		var wg sync.WaitGroup
		for i := 0; i < 32; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				start := time.Now()
				require.False(t, replica.WaitOn(context.Background(), fc.db, 1+i%3, lsnToken(0x180), 2*time.Second))
				require.Less(t, time.Since(start), 2*time.Second+time.Second)
			}()
		}
		time.Sleep(time.Duration(round) * 100 * time.Microsecond)
		require.NoError(t, fc.db.Close())
		wg.Wait()
		for i := 1; i <= 3; i++ {
			require.Zero(t, replica.Waiting(fc.db, i))
		}
		require.Zero(t, goroutinesRunning("replica.(*DB).watchLoop("), "a watcher goroutine outlived Close")
	}
}

// TestWatchForeignDialectTokenDoesNotFailOthers: a token of another dialect
// (WaitReplicated takes any token; a forged or stale cookie) waits on a
// watcher of its own dialect; the waits of the right dialect on that node
// are not affected (with one watcher per node, they returned "no" at once
// while the foreign one ran).
func TestWatchForeignDialectTokenDoesNotFailOthers(t *testing.T) {
	fc := newFake(t, 1, replica.Dialect(router.PostgreSQL), replica.CheckInterval(time.Hour))
	hang := make(chan struct{})
	t.Cleanup(func() { close(hang) })
	fc.replicas[0].Answer("SELECT @@GLOBAL.gtid_executed", func([]driver.NamedValue) (driver.Value, error) {
		<-hang // PostgreSQL would fail it; a slow failure shows the window
		return nil, driver.ErrBadConn
	})
	var r replayLSN
	r.answer(fc.replicas[0], func(call int64) (string, error) {
		if call < 3 {
			return lsnText(0x100), nil
		}
		return lsnText(0x200), nil
	})
	foreign, err := consistency.MySQLToken("3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5")
	require.NoError(t, err)
	go replica.WaitOn(context.Background(), fc.db, 1, foreign, 200*time.Millisecond)
	require.Eventually(t, func() bool { return replica.Waiting(fc.db, 1) == 1 }, 5*time.Second, time.Millisecond)
	require.True(t, replica.WaitOn(context.Background(), fc.db, 1, lsnToken(0x180), time.Second),
		"the replica reaches the token within the wait")
}
