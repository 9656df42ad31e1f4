package health

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sqlreplica/sqlreplica/internal/fakedb"
	"github.com/sqlreplica/sqlreplica/router"
)

func TestSemiSyncOf(t *testing.T) {
	mariaOff := map[string]string{"rpl_semi_sync_master_enabled": "OFF", "rpl_semi_sync_slave_enabled": "OFF",
		"rpl_semi_sync_master_timeout": "10000", "rpl_semi_sync_master_wait_point": "AFTER_COMMIT"}
	mariaOn := map[string]string{"rpl_semi_sync_master_enabled": "ON", "rpl_semi_sync_slave_enabled": "ON",
		"rpl_semi_sync_master_timeout": "200", "rpl_semi_sync_master_wait_point": "AFTER_SYNC"}
	statusOn := map[string]string{"rpl_semi_sync_master_status": "ON", "rpl_semi_sync_slave_status": "ON",
		"rpl_semi_sync_master_clients": "2", "rpl_semi_sync_master_yes_tx": "7", "rpl_semi_sync_master_no_tx": "3"}
	statusFellBack := map[string]string{"rpl_semi_sync_master_status": "OFF", "rpl_semi_sync_slave_status": "OFF",
		"rpl_semi_sync_master_clients": "0"}
	mysqlOn := map[string]string{"rpl_semi_sync_source_enabled": "ON", "rpl_semi_sync_source_timeout": "1500"}
	mysqlStatus := map[string]string{"rpl_semi_sync_source_status": "ON", "rpl_semi_sync_source_clients": "1",
		"rpl_semi_sync_source_no_tx": "4"}
	tests := []struct {
		name   string
		vars   map[string]string
		status map[string]string
		role   Role
		want   *SemiSyncStatus
	}{
		{"no semi-sync variables: nil", map[string]string{"version": "9.7.4"}, nil, Primary, nil},
		{"MariaDB off", mariaOff, nil, Primary, &SemiSyncStatus{Timeout: 10 * time.Second, WaitPoint: "AFTER_COMMIT"}},
		{"MariaDB primary on and active", mariaOn, statusOn, Primary, &SemiSyncStatus{Enabled: true, Active: true,
			SourceEnabled: true, ReplicaEnabled: true, Clients: 2, Timeout: 200 * time.Millisecond, WaitPoint: "AFTER_SYNC", AckedTx: 7, UnackedTx: 3}},
		{"MariaDB primary fell back", mariaOn, statusFellBack, Primary, &SemiSyncStatus{Enabled: true,
			SourceEnabled: true, ReplicaEnabled: true, Timeout: 200 * time.Millisecond, WaitPoint: "AFTER_SYNC"}},
		{"a replica reports its own side", mariaOn, statusOn, Replica, &SemiSyncStatus{Enabled: true, Active: true,
			SourceEnabled: true, ReplicaEnabled: true, Clients: 2, Timeout: 200 * time.Millisecond, WaitPoint: "AFTER_SYNC", AckedTx: 7, UnackedTx: 3}},
		{"a replica with only the source side on is not enabled", map[string]string{"rpl_semi_sync_master_enabled": "ON",
			"rpl_semi_sync_slave_enabled": "OFF"}, statusOn, Replica, &SemiSyncStatus{SourceEnabled: true, Clients: 2, AckedTx: 7, UnackedTx: 3}},
		{"a status ON with the switch off is not active", mariaOff, statusOn, Primary, &SemiSyncStatus{Timeout: 10 * time.Second,
			WaitPoint: "AFTER_COMMIT", Clients: 2, AckedTx: 7, UnackedTx: 3}},
		{"MySQL source names", mysqlOn, mysqlStatus, Primary, &SemiSyncStatus{Enabled: true, Active: true, SourceEnabled: true,
			Clients: 1, Timeout: 1500 * time.Millisecond, UnackedTx: 4}},
		{"MySQL replica plugin only", map[string]string{"rpl_semi_sync_replica_enabled": "1"},
			map[string]string{"rpl_semi_sync_replica_status": "1"}, Replica, &SemiSyncStatus{Enabled: true, Active: true, ReplicaEnabled: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, semiSyncOf(tt.vars, tt.status, tt.role))
		})
	}
}

// TestSemiSyncEventsFollowThePrimary feeds a checker a sequence of checks
// and checks the events each one causes.
func TestSemiSyncEventsFollowThePrimary(t *testing.T) {
	on := func(active bool, clients int, unacked uint64) *SemiSyncStatus {
		return &SemiSyncStatus{Enabled: true, Active: active, SourceEnabled: true, Clients: clients, Timeout: 200 * time.Millisecond, UnackedTx: unacked}
	}
	off := &SemiSyncStatus{}
	type step struct {
		name   string
		role   Role
		semi   *SemiSyncStatus
		failed bool // the check fails
		want   []EventKind
		detail string // in the last event
	}
	steps := []step{
		{"semi-sync off", Primary, off, false, nil, ""},
		{"switched on", Primary, on(true, 1, 0), false, nil, ""},
		{"fell back", Primary, on(false, 0, 1), false, []EventKind{SemiSyncFallback}, "0 semi-sync replicas connected, timeout 200ms"},
		{"still fallen back: no repeat", Primary, on(false, 0, 5), false, nil, ""},
		{"a failed check changes nothing", Primary, nil, true, nil, ""},
		{"back", Primary, on(true, 1, 5), false, []EventKind{SemiSyncResumed}, "semi-synchronous again: 1 semi-sync replicas connected"},
		{"unacknowledged commits between two active checks", Primary, on(true, 1, 8), false,
			[]EventKind{SemiSyncFallback, SemiSyncResumed}, "semi-synchronous again"},
		{"counters reset by a restart: nothing", Primary, on(true, 1, 0), false, nil, ""},
		{"fell back again", Primary, on(false, 0, 1), false, []EventKind{SemiSyncFallback}, ""},
		{"switched off while fallen back", Primary, off, false, []EventKind{SemiSyncResumed}, "switched off"},
		{"on and fallen back", Primary, on(false, 0, 2), false, []EventKind{SemiSyncFallback}, ""},
		{"demoted while fallen back", Replica, on(false, 0, 2), false, []EventKind{RoleChange, SemiSyncResumed}, "no longer the primary"},
		{"a replica not acknowledging is no fallback", Replica, on(false, 0, 9), false, nil, ""},
		{"promoted: unacked grew across roles, no event", Primary, on(true, 1, 20), false, []EventKind{RoleChange}, ""},
		{"no semi-sync at all (nil)", Primary, nil, false, nil, ""},
	}
	c, err := NewChecker([]Node{{Name: "n", DB: fakedb.NewServer("n").DB(), Primary: true}}, Config{Fall: 5})
	require.NoError(t, err)
	for _, s := range steps {
		r := probeResult{role: s.role, writable: s.role == Primary, semi: s.semi, at: time.Now()}
		if s.failed {
			r = probeResult{err: errFake, at: time.Now()}
		}
		c.mu.Lock()
		snap, events := c.applyLocked([]probeResult{r})
		c.publishLocked(snap)
		c.mu.Unlock()
		var kinds []EventKind
		for _, e := range events {
			if e.Kind != NodeUp && e.Kind != NodeDown {
				kinds = append(kinds, e.Kind)
			}
		}
		require.Equal(t, s.want, kinds, s.name)
		if s.detail != "" {
			require.Contains(t, events[len(events)-1].Detail, s.detail, s.name)
			require.Equal(t, "n", events[len(events)-1].Node, s.name)
		}
		if !s.failed {
			require.Equal(t, s.semi, snap.Nodes[0].SemiSync, s.name)
		}
	}
}

var errFake = fakeErr("fake: check failed")

type fakeErr string

func (e fakeErr) Error() string { return string(e) }

func TestSemiSyncFallbackFoundAtTheFirstCheckIsReported(t *testing.T) {
	c, err := NewChecker([]Node{{Name: "n", DB: fakedb.NewServer("n").DB(), Primary: true}}, Config{})
	require.NoError(t, err)
	c.mu.Lock()
	_, events := c.applyLocked([]probeResult{{role: Primary, writable: true, at: time.Now(),
		semi: &SemiSyncStatus{Enabled: true, SourceEnabled: true}}})
	c.mu.Unlock()
	require.Len(t, events, 1)
	require.Equal(t, SemiSyncFallback, events[0].Kind)
	require.Equal(t, "semi-sync fallback", events[0].Kind.String())
	require.Equal(t, "semi-sync resumed", SemiSyncResumed.String())
}

func TestAuditSemiSync(t *testing.T) {
	primary := func(ss *SemiSyncStatus) Status { return Status{Name: "p", Role: Primary, Writable: true, SemiSync: ss} }
	rep := func(ss *SemiSyncStatus, receiving bool) Status {
		return Status{Name: "r", Role: Replica, SemiSync: ss, Replication: Replication{Configured: true, Receiving: receiving, Applying: true}}
	}
	srcOn := &SemiSyncStatus{Enabled: true, Active: true, SourceEnabled: true, Clients: 1}
	fell := &SemiSyncStatus{Enabled: true, SourceEnabled: true}
	repOn := &SemiSyncStatus{Enabled: true, Active: true, ReplicaEnabled: true}
	repIdle := &SemiSyncStatus{Enabled: true, ReplicaEnabled: true}
	mOff := map[string]string{"rpl_semi_sync_master_enabled": "OFF", "rpl_semi_sync_slave_enabled": "OFF"}
	mSrc := map[string]string{"rpl_semi_sync_master_enabled": "ON", "rpl_semi_sync_slave_enabled": "OFF"}
	mRep := map[string]string{"rpl_semi_sync_master_enabled": "OFF", "rpl_semi_sync_slave_enabled": "ON"}
	tests := []struct {
		name     string
		d        router.Dialect
		nodes    []Status
		i        int
		settings map[string]string
		want     string // "setting value severity", "" for none
	}{
		{"primary off with a replica", router.MariaDB, []Status{primary(nil), rep(nil, true)}, 0, mOff, "rpl_semi_sync_master_enabled OFF warning"},
		{"primary off alone: nothing", router.MariaDB, []Status{primary(nil)}, 0, mOff, ""},
		{"MySQL primary without the plugin", router.MySQL, []Status{primary(nil), rep(nil, true)}, 0, map[string]string{},
			"rpl_semi_sync_source_enabled (plugin not installed) warning"},
		{"primary on and active", router.MariaDB, []Status{primary(srcOn), rep(repOn, true)}, 0, mSrc, ""},
		{"primary fell back", router.MariaDB, []Status{primary(fell), rep(repOn, true)}, 0, mSrc, "Rpl_semi_sync_master_status OFF critical"},
		{"MySQL primary fell back", router.MySQL, []Status{primary(fell), rep(repOn, true)}, 0,
			map[string]string{"rpl_semi_sync_source_enabled": "ON"}, "Rpl_semi_sync_source_status OFF critical"},
		{"replica side off under a semi-sync primary", router.MariaDB, []Status{primary(srcOn), rep(nil, true)}, 1, mOff,
			"rpl_semi_sync_slave_enabled OFF warning"},
		{"replica side off under an async primary: nothing", router.MariaDB, []Status{primary(&SemiSyncStatus{}), rep(nil, true)}, 1, mOff, ""},
		{"replica on, not restarted", router.MariaDB, []Status{primary(srcOn), rep(repIdle, true)}, 1, mRep,
			"Rpl_semi_sync_slave_status OFF warning"},
		{"replica on, IO thread stopped: only the thread finding elsewhere", router.MariaDB, []Status{primary(srcOn), rep(repIdle, false)}, 1, mRep, ""},
		{"replica on and acknowledging", router.MariaDB, []Status{primary(srcOn), rep(repOn, true)}, 1, mRep, ""},
		{"PostgreSQL: a MySQL and MariaDB feature, nothing", router.PostgreSQL, []Status{primary(nil), rep(nil, true)}, 0, map[string]string{}, ""},
		{"unknown dialect: nothing", 0, []Status{primary(nil), rep(nil, true)}, 0, map[string]string{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := auditSemiSync(tt.d, Snapshot{Nodes: tt.nodes, Writer: 0, WriterKnown: true}, tt.i, tt.settings)
			if tt.want == "" {
				require.Empty(t, got)
				return
			}
			require.Len(t, got, 1, "%+v", got)
			f := got[0]
			require.Equal(t, tt.want, strings.Join([]string{f.Setting, f.Value, f.Severity.String()}, " "))
			require.Equal(t, tt.nodes[tt.i].Name, f.Node)
			require.NotEmpty(t, f.Advice)
		})
	}
}
