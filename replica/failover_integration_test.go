package replica_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sqlreplica/sqlreplica/consistency"
	"github.com/sqlreplica/sqlreplica/health"
	"github.com/sqlreplica/sqlreplica/internal/testcluster"
	"github.com/sqlreplica/sqlreplica/replica"
)

// failoverPolicy describes the test cluster to the fail-over helper.
func failoverPolicy(t *testing.T, c *testcluster.Cluster, after time.Duration) replica.FailoverConfig {
	cfg := replica.FailoverConfig{After: after, ReplicationUser: "repl", ReplicationPassword: "repl"}
	if c.Kind == testcluster.Postgres {
		cfg.ReplicationUser, cfg.ReplicationPassword = "postgres", ""
	}
	for _, s := range c.Servers() {
		admin, err := c.OpenAdmin(s)
		require.NoError(t, err)
		t.Cleanup(func() { admin.Close() })
		cfg.Nodes = append(cfg.Nodes, health.FailoverNode{Admin: admin, Host: "127.0.0.1", Port: s.Port})
	}
	return cfg
}

// TestAutomaticFailover kills the primary of a cluster whose DB runs the
// opt-in fail-over helper: a replica is promoted, writes go to it, and the
// other replica replicates from it.
func TestAutomaticFailover(t *testing.T) {
	t.Parallel() // its clusters are its own
	for _, k := range kinds {
		t.Run(k.String(), func(t *testing.T) {
			t.Parallel() // each kind has its own servers
			c := testcluster.Start(t, k, testcluster.Options{Replicas: 2})
			var ev events
			db := openCluster(t, c, replica.FailoverPolicy(failoverPolicy(t, c, time.Second)), replica.OnEvent(ev.add))
			ctx := context.Background()
			table := fmt.Sprintf("fo_%d", time.Now().UnixNano())
			_, err := db.Exec("CREATE TABLE " + table + " (id int PRIMARY KEY)")
			require.NoError(t, err)
			_, err = db.Exec("INSERT INTO " + table + " VALUES (1)")
			require.NoError(t, err)
			waitReplicated(t, c, "SELECT count(*) FROM "+table, 1)
			require.Eventually(t, func() bool { return db.Status().Nodes[2].Replication.Configured }, 10*time.Second, 10*time.Millisecond)

			killed := time.Now()
			require.NoError(t, c.Primary.Kill())
			require.Eventually(t, func() bool {
				s := db.Status()
				return s.WriterKnown && s.Writer != 0
			}, 60*time.Second, 10*time.Millisecond, "no replica was promoted")
			promotedAfter := time.Since(killed)
			e, ok := ev.first(health.FailedOver, "")
			require.True(t, ok, "no FailedOver event")
			s := db.Status()
			newPrimary, other := s.Writer, 3-s.Writer // nodes 1 and 2 are the replicas
			t.Logf("%s: primary killed; %s promoted %v later (%s)", k, s.Nodes[newPrimary].Name, promotedAfter.Round(time.Millisecond), e.Detail)

			// Writes go to the new primary...
			var writeErr error
			if !assertEventually(t, func() bool {
				_, writeErr = db.Exec("INSERT INTO " + table + " VALUES (2)")
				return writeErr == nil
			}, 20*time.Second) {
				t.Fatalf("writes never succeeded on the new primary: %v\nstatus: %+v", writeErr, db.Status())
			}
			// ...and the remaining replica replicates from it.
			r, err := c.Open(c.Servers()[other])
			require.NoError(t, err)
			defer r.Close()
			if !assertEventually(t, func() bool {
				var n int
				return r.QueryRowContext(ctx, "SELECT count(*) FROM "+table+" WHERE id = 2").Scan(&n) == nil && n == 1
			}, 30*time.Second) {
				t.Fatalf("the remaining replica does not replicate from the new primary; its log:\n%s", c.Servers()[other].Log())
			}
			require.Eventually(t, func() bool {
				st := db.CheckNow(ctx).Nodes[other]
				return st.Healthy && st.Role == health.Replica && st.Lag.Known
			}, 20*time.Second, 20*time.Millisecond)
			t.Logf("%s: the remaining replica has the first write made on the new primary", k)
		})
	}
}

// TestFailoverRefusesWhenUnsafe checks the helper's refusals: no policy, a
// writable node, and a candidate behind another reachable replica.
func TestFailoverRefusesWhenUnsafe(t *testing.T) {
	// Not parallel: a refusal that failed (or a check of the primary timed out by load) would
	// promote a replica of the shared cluster.
	c := clusters.Get(t, testcluster.MariaDB)
	db := openCluster(t, c)
	_, err := db.Failover(context.Background())
	require.ErrorIs(t, err, replica.ErrNoFailover)

	db = openCluster(t, c, replica.FailoverPolicy(failoverPolicy(t, c, 0)))
	_, err = db.Failover(context.Background())
	require.ErrorIs(t, err, health.ErrFailoverRefused, "the primary is writable")

	// A snapshot where the first replica is behind the second in one
	// domain and ahead in another: neither covers the other.
	a, _ := consistencyToken("0-1-10,1-2-5")
	b, _ := consistencyToken("0-1-9,1-2-6")
	snap := health.Snapshot{Writer: 0, Nodes: []health.Status{
		{Name: "primary", Role: health.Primary},
		{Name: "replica1", Role: health.Replica, Reachable: true, Position: a},
		{Name: "replica2", Role: health.Replica, Reachable: true, Position: b},
	}}
	cfg := health.FailoverConfig{Nodes: make([]health.FailoverNode, 3)}
	for i := range cfg.Nodes {
		cfg.Nodes[i] = health.FailoverNode{Admin: db.Pools()[0], Host: "127.0.0.1", Port: 1}
	}
	_, err = health.Failover(context.Background(), snap, db.Dialect(), cfg)
	require.True(t, errors.Is(err, health.ErrFailoverRefused), "%v", err)
}

func consistencyToken(s string) (consistency.Token, error) { return consistency.MariaDBToken(s) }

// assertEventually is require.Eventually that lets the caller report.
func assertEventually(t *testing.T, cond func() bool, within time.Duration) bool {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return cond()
}
