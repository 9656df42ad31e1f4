package replica_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sqlreplica/sqlreplica/consistency"
	"github.com/sqlreplica/sqlreplica/internal/testcluster"
	"github.com/sqlreplica/sqlreplica/replica"
)

// TestWaitingReadsSharePositionReadsOnPostgreSQL: 32 reads with a
// session's token and 2 WaitReplicated calls wait at once for the write on
// a standby whose replay is paused; the standby runs at most one position
// query per poll interval for all of them (counted by pg_stat_statements),
// every read ends on the primary with the write's row once its wait is up,
// and WaitReplicated reports the write not replicated. Once replay
// resumes, WaitReplicated for the write returns.
func TestWaitingReadsSharePositionReadsOnPostgreSQL(t *testing.T) {
	t.Parallel() // its cluster is its own: the test pauses replay
	c := testcluster.Start(t, testcluster.Postgres, testcluster.Options{Replicas: 1,
		PostgresConf: "shared_preload_libraries = 'pg_stat_statements'\npg_stat_statements.track = all"})
	ctx := context.Background()
	primary := openT(t, c.OpenAdmin, c.Primary)
	standby := openT(t, c.OpenAdmin, c.Replicas[0])
	for _, q := range []string{
		"CREATE EXTENSION pg_stat_statements",
		"CREATE TABLE watched (k int PRIMARY KEY, v int)",
		"INSERT INTO watched VALUES (1, 0)",
	} {
		_, err := primary.ExecContext(ctx, q)
		require.NoError(t, err, q)
	}
	db, err := replica.Open(c.DriverName(), c.DSN(c.Primary), []string{c.DSN(c.Replicas[0])})
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	require.Eventually(t, func() bool {
		var v int
		return standby.QueryRowContext(ctx, "SELECT v FROM watched WHERE k = 1").Scan(&v) == nil
	}, 10*time.Second, 10*time.Millisecond)

	_, err = standby.ExecContext(ctx, "SELECT pg_wal_replay_pause()")
	require.NoError(t, err)
	resumed := false
	resume := func() {
		if !resumed {
			resumed = true
			_, err := standby.ExecContext(ctx, "SELECT pg_wal_replay_resume()")
			require.NoError(t, err)
		}
	}
	t.Cleanup(resume)
	require.Eventually(t, func() bool {
		var state string
		return standby.QueryRowContext(ctx, "SELECT pg_get_wal_replay_pause_state()").Scan(&state) == nil && state == "paused"
	}, 10*time.Second, 10*time.Millisecond)

	sctx := consistency.WithSession(ctx)
	_, err = db.ExecContext(sctx, "UPDATE watched SET v = 1 WHERE k = 1")
	require.NoError(t, err)
	tok := consistency.SessionFrom(sctx).Token()
	require.False(t, tok.IsZero())
	_, err = standby.ExecContext(ctx, "SELECT pg_stat_statements_reset()")
	require.NoError(t, err)

	const wait = 300 * time.Millisecond
	start := time.Now()
	var wg sync.WaitGroup
	for i := 0; i < 32; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rctx := consistency.WithPolicy(consistency.WithToken(ctx, tok), consistency.Policy{Wait: wait})
			var v int
			assert.NoError(t, db.QueryRowContext(rctx, "SELECT v FROM watched WHERE k = 1").Scan(&v))
			assert.Equal(t, 1, v, "the read sees the write")
		}()
	}
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			wctx, cancel := context.WithTimeout(ctx, wait)
			defer cancel()
			err := db.WaitReplicated(wctx, tok, 1)
			assert.True(t, errors.Is(err, consistency.ErrNotReplicated), "WaitReplicated: %v", err)
		}()
	}
	wg.Wait()
	took := time.Since(start)
	var polls int64
	require.NoError(t, standby.QueryRowContext(ctx, `SELECT COALESCE(sum(calls), 0) FROM pg_stat_statements
		WHERE query LIKE '%pg_last_wal_replay_lsn%' AND query NOT LIKE '%pg_is_in_recovery%'`).Scan(&polls))
	t.Logf("34 waits in %v: %d position queries on the standby", took.Round(time.Millisecond), polls)
	require.Positive(t, polls)
	require.LessOrEqual(t, polls, int64(took/replica.PollInterval)+1, "at most one position query per poll interval")

	resume()
	rctx := consistency.WithPolicy(consistency.WithToken(ctx, tok), consistency.Policy{Wait: 5 * time.Second})
	require.NoError(t, db.WaitReplicated(rctx, tok, 1), "replay resumed: the standby applies the write")
}
