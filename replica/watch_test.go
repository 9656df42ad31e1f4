package replica_test

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sqlreplica/sqlreplica/consistency"
	"github.com/sqlreplica/sqlreplica/internal/fakedb"
	"github.com/sqlreplica/sqlreplica/replica"
	"github.com/sqlreplica/sqlreplica/router"
)

// replayLSN makes fake server s answer PostgreSQL's replay position query
// with the position f returns ("" answers NULL: not in recovery), counting
// the queries and the most that ran at once.
type replayLSN struct {
	calls, running, most atomic.Int64
}

func (r *replayLSN) answer(s *fakedb.Server, f func(call int64) (string, error)) {
	s.Answer("SELECT pg_last_wal_replay_lsn()", func([]driver.NamedValue) (driver.Value, error) {
		n := r.running.Add(1)
		defer r.running.Add(-1)
		for m := r.most.Load(); n > m && !r.most.CompareAndSwap(m, n); m = r.most.Load() {
		}
		v, err := f(r.calls.Add(1))
		if v == "" || err != nil {
			return fakedb.Row{nil, nil}, err
		}
		return fakedb.Row{v, nil}, nil
	})
}

func lsnToken(lsn uint64) consistency.Token { return consistency.PostgresToken(7, 1, lsn) }

func lsnText(lsn uint64) string { return fmt.Sprintf("%X/%X", lsn>>32, uint32(lsn)) }

// TestWaitingReadsShareOnePositionRead: however many reads wait on a
// replica, it runs one position query at a time, at most one per poll
// interval, and every waiter whose token it reaches is woken by the same
// query.
func TestWaitingReadsShareOnePositionRead(t *testing.T) {
	const waiters = 64
	fc := newFake(t, 1, replica.Dialect(router.PostgreSQL), replica.CheckInterval(time.Hour))
	// The first read is held for as long as the waiters take to arrive:
	// it must not be given up as a stall meanwhile.
	replica.SetWatchStall(fc.db, time.Minute)
	var r replayLSN
	all := make(chan struct{})
	r.answer(fc.replicas[0], func(call int64) (string, error) {
		if call == 1 {
			<-all // the first read waits until every waiter waits
		}
		if call <= 5 {
			return lsnText(0x100), nil
		}
		return lsnText(0x200), nil
	})
	start := time.Now()
	var wg sync.WaitGroup
	var ok atomic.Int64
	for i := 0; i < waiters; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if replica.WaitOn(context.Background(), fc.db, 1, lsnToken(0x180), 10*time.Second) {
				ok.Add(1)
			}
		}()
	}
	require.Eventually(t, func() bool { return replica.Waiting(fc.db, 1) == waiters }, 5*time.Second, time.Millisecond)
	close(all)
	wg.Wait()
	took := time.Since(start)
	require.EqualValues(t, waiters, ok.Load(), "every waiter saw its token applied")
	require.EqualValues(t, 6, r.calls.Load(), "five reads below the token, one at it, for all 64 waiters")
	require.EqualValues(t, 1, r.most.Load(), "one position read at a time")
	require.LessOrEqual(t, r.calls.Load(), int64(took/replica.PollInterval)+1, "at most one read per poll interval")
	require.Zero(t, replica.Waiting(fc.db, 1))

	// A token the replica has already applied: one read, no wait for a poll
	// interval after the watcher was idle.
	before := r.calls.Load()
	require.True(t, replica.WaitOn(context.Background(), fc.db, 1, lsnToken(0x200), time.Second))
	require.LessOrEqual(t, r.calls.Load(), before+1, "a watcher still running answers from its last read")
}

// TestWaitingReadsAreBounded: a wait ends with "no" when its time is up,
// when its context ends, when the position cannot be read, when the node is
// not replaying, and when the DB closes; none leaves a waiter behind, and
// the reads stay one per poll interval while many wait for a position that
// never comes.
func TestWaitingReadsAreBounded(t *testing.T) {
	errDown := errors.New("connection refused")
	tests := []struct {
		name   string
		answer func(call int64) (string, error)
		ctx    func() (context.Context, context.CancelFunc)
		wait   time.Duration
	}{
		{"time is up", func(int64) (string, error) { return lsnText(0x100), nil }, nil, 50 * time.Millisecond},
		{"context ends", func(int64) (string, error) { return lsnText(0x100), nil },
			func() (context.Context, context.CancelFunc) {
				return context.WithTimeout(context.Background(), 30*time.Millisecond)
			}, time.Minute},
		{"position unreadable", func(int64) (string, error) { return "", errDown }, nil, time.Minute},
		{"not replaying", func(int64) (string, error) { return "", nil }, nil, time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fc := newFake(t, 1, replica.Dialect(router.PostgreSQL), replica.CheckInterval(time.Hour))
			var r replayLSN
			r.answer(fc.replicas[0], tt.answer)
			ctx, cancel := context.Background(), context.CancelFunc(func() {})
			if tt.ctx != nil {
				ctx, cancel = tt.ctx()
			}
			defer cancel()
			start := time.Now()
			var wg sync.WaitGroup
			for i := 0; i < 16; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					assert.False(t, replica.WaitOn(ctx, fc.db, 1, lsnToken(0x180), tt.wait))
				}()
			}
			wg.Wait()
			took := time.Since(start)
			require.Less(t, took, 10*time.Second)
			require.Zero(t, replica.Waiting(fc.db, 1))
			require.LessOrEqual(t, r.calls.Load(), int64(took/replica.PollInterval)+1)
			require.EqualValues(t, 1, r.most.Load())
		})
	}
	t.Run("the DB closes", func(t *testing.T) {
		fc := newFake(t, 1, replica.Dialect(router.PostgreSQL), replica.CheckInterval(time.Hour))
		var r replayLSN
		r.answer(fc.replicas[0], func(int64) (string, error) { return lsnText(0x100), nil })
		done := make(chan bool)
		go func() { done <- replica.WaitOn(context.Background(), fc.db, 1, lsnToken(0x180), time.Minute) }()
		require.Eventually(t, func() bool { return replica.Waiting(fc.db, 1) == 1 }, 5*time.Second, time.Millisecond)
		require.NoError(t, fc.db.Close()) // waits for the watcher
		select {
		case ok := <-done:
			require.False(t, ok)
		case <-time.After(5 * time.Second):
			t.Fatal("a wait outlived Close")
		}
		require.False(t, replica.WaitOn(context.Background(), fc.db, 1, lsnToken(0x180), time.Minute), "a wait after Close")
	})
}
