package replica_test

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sqlreplica/sqlreplica/health"
	"github.com/sqlreplica/sqlreplica/internal/testcluster"
	"github.com/sqlreplica/sqlreplica/replica"
)

// semiSyncNames are a server's semi-sync statements and names: MariaDB's
// built-in ones, or those of MySQL's semisync_source/semisync_replica
// plugins.
type semiSyncNames struct {
	source, replica, timeout string // variables
	status                   string // the source's status variable
	stopIO, startIO          string
}

func semiSyncNamesOf(k testcluster.Kind) semiSyncNames {
	if k == testcluster.MySQL {
		return semiSyncNames{"rpl_semi_sync_source_enabled", "rpl_semi_sync_replica_enabled", "rpl_semi_sync_source_timeout",
			"Rpl_semi_sync_source_status", "STOP REPLICA IO_THREAD", "START REPLICA IO_THREAD"}
	}
	return semiSyncNames{"rpl_semi_sync_master_enabled", "rpl_semi_sync_slave_enabled", "rpl_semi_sync_master_timeout",
		"Rpl_semi_sync_master_status", "STOP SLAVE IO_THREAD", "START SLAVE IO_THREAD"}
}

// installSemiSync installs MySQL's semi-sync plugins, or skips the test
// loudly when they cannot be installed. MariaDB has them built in.
func installSemiSync(t *testing.T, k testcluster.Kind, primary, replica *sql.DB) {
	t.Helper()
	if k != testcluster.MySQL {
		return
	}
	ctx := context.Background()
	install := func(db *sql.DB, stmts ...string) {
		for _, q := range stmts {
			if _, err := db.ExecContext(ctx, q); err != nil && !strings.Contains(err.Error(), "already exists") {
				t.Skipf("\n*** SKIPPING: cannot install MySQL's semi-sync plugin (%s): %v", q, err)
			}
		}
	}
	install(primary, "INSTALL PLUGIN rpl_semi_sync_source SONAME 'semisync_source.so'")
	install(replica, "SET GLOBAL super_read_only = OFF", "INSTALL PLUGIN rpl_semi_sync_replica SONAME 'semisync_replica.so'",
		"SET GLOBAL super_read_only = ON")
}

// TestSemiSyncOnRealServers turns semi-synchronous replication on, makes
// the primary fall back to asynchronous replication and brings it back, and
// checks that Status, events and Audit follow each step.
func TestSemiSyncOnRealServers(t *testing.T) {
	t.Parallel() // its clusters are its own
	for _, k := range []testcluster.Kind{testcluster.MariaDB, testcluster.MySQL} {
		t.Run(k.String(), func(t *testing.T) {
			t.Parallel()
			c := testcluster.Start(t, k, testcluster.Options{Replicas: 1}) // private: global settings change
			ctx := context.Background()
			pa, err := c.OpenAdmin(c.Primary)
			require.NoError(t, err)
			t.Cleanup(func() { pa.Close() })
			ra, err := c.OpenAdmin(c.Replicas[0])
			require.NoError(t, err)
			t.Cleanup(func() { ra.Close() })
			installSemiSync(t, k, pa, ra)
			names := semiSyncNamesOf(k)
			exec := func(db *sql.DB, q string) {
				t.Helper()
				_, err := db.ExecContext(ctx, q)
				require.NoError(t, err, q)
			}

			var ev events
			db := openCluster(t, c, replica.OnEvent(ev.add), replica.CheckInterval(50*time.Millisecond))
			p, r := c.Primary.Name, c.Replicas[0].Name
			semi := func(node string) health.SemiSyncStatus {
				if s := nodeStatus(db, node).SemiSync; s != nil {
					return *s
				}
				return health.SemiSyncStatus{}
			}
			semiFindings := func() []health.Finding {
				t.Helper()
				all, err := health.Audit(ctx, db)
				require.NoError(t, err)
				var out []health.Finding
				for _, f := range all {
					if strings.Contains(strings.ToLower(f.Setting), "semi_sync") {
						out = append(out, f)
					}
				}
				return out
			}
			table := fmt.Sprintf("semisync_%d", time.Now().UnixNano())
			_, err = db.ExecContext(ctx, "CREATE TABLE "+table+" (id int PRIMARY KEY)")
			require.NoError(t, err)

			// Off: both nodes report semi-sync, switched off.
			require.Eventually(t, func() bool {
				return nodeStatus(db, p).SemiSync != nil && nodeStatus(db, r).SemiSync != nil && nodeStatus(db, r).Replication.Configured
			}, 10*time.Second, 10*time.Millisecond, "no semi-sync state reported")
			require.Equal(t, health.SemiSyncStatus{Timeout: 10 * time.Second, WaitPoint: semi(p).WaitPoint}, semi(p))
			require.False(t, semi(r).Enabled)
			f := semiFindings()
			require.Len(t, f, 1, "%+v", f)
			require.Equal(t, p, f[0].Node)
			require.Equal(t, names.source, f[0].Setting)
			require.Equal(t, health.Warning, f[0].Severity)

			// On: the primary runs semi-synchronously with one client.
			exec(pa, "SET GLOBAL "+names.source+" = ON")
			exec(pa, "SET GLOBAL "+names.timeout+" = 200")
			exec(ra, "SET GLOBAL "+names.replica+" = ON")
			exec(ra, names.stopIO)
			exec(ra, names.startIO)
			require.Eventually(t, func() bool {
				sp, sr := semi(p), semi(r)
				return sp.Enabled && sp.Active && sp.Clients == 1 && sr.Enabled && sr.Active
			}, 10*time.Second, 10*time.Millisecond, "semi-sync not reported on and active: %+v / %+v", semi(p), semi(r))
			require.Equal(t, 200*time.Millisecond, semi(p).Timeout)
			acked := semi(p).AckedTx
			_, err = db.ExecContext(ctx, "INSERT INTO "+table+" VALUES (1)")
			require.NoError(t, err)
			require.Eventually(t, func() bool { return semi(p).AckedTx > acked }, 10*time.Second, 10*time.Millisecond)
			require.Empty(t, semiFindings())
			_, fell := ev.first(health.SemiSyncFallback, "")
			require.False(t, fell, "a fallback event while semi-sync ran")

			// Fallback: the replica stops acknowledging; a write waits for
			// the timeout, then the primary goes asynchronous.
			exec(ra, names.stopIO)
			start := time.Now()
			_, err = db.ExecContext(ctx, "INSERT INTO "+table+" VALUES (2)")
			require.NoError(t, err)
			waited := time.Since(start)
			require.Eventually(t, func() bool { sp := semi(p); return sp.Enabled && !sp.Active }, 10*time.Second, 10*time.Millisecond,
				"the fallback is not reported: %+v", semi(p))
			require.Eventually(t, func() bool { _, ok := ev.first(health.SemiSyncFallback, p); return ok }, 10*time.Second, 10*time.Millisecond)
			e, _ := ev.first(health.SemiSyncFallback, p)
			require.Equal(t, health.Primary, e.Role)
			require.NotZero(t, semi(p).UnackedTx)
			f = semiFindings()
			require.Len(t, f, 1, "%+v", f)
			require.Equal(t, p, f[0].Node)
			require.Equal(t, names.status, f[0].Setting)
			require.Equal(t, health.Critical, f[0].Severity)
			t.Logf("%s: a write without acknowledgement took %v (timeout 200ms); fallback event: %s", k, waited.Round(time.Millisecond), e.Detail)

			// Back: the replica reconnects and catches up; the primary runs
			// semi-synchronously again without another write.
			exec(ra, names.startIO)
			require.Eventually(t, func() bool { return semi(r).Active }, 10*time.Second, 10*time.Millisecond)
			require.Eventually(t, func() bool { return semi(p).Active }, 10*time.Second, 10*time.Millisecond,
				"the primary is not reported semi-synchronous again: %+v", semi(p))
			require.Eventually(t, func() bool { _, ok := ev.first(health.SemiSyncResumed, p); return ok }, 10*time.Second, 10*time.Millisecond)
			e, _ = ev.first(health.SemiSyncResumed, p)
			require.Contains(t, e.Detail, "semi-synchronous again")
			require.Empty(t, semiFindings())

			// The Status a caller gets is its own copy.
			st := db.Status()
			for _, n := range st.Nodes {
				n.SemiSync.Active = false
			}
			require.True(t, semi(p).Active, "changing a Status changed the DB's snapshot")
		})
	}
}
