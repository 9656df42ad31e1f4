package health

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/sqlreplica/sqlreplica/internal/dbvars"
	"github.com/sqlreplica/sqlreplica/router"
)

// semiSyncVariables are the semi-sync settings the MySQL probe's SHOW GLOBAL
// VARIABLES reads, under MariaDB's (and MySQL's older plugin's) names and
// MySQL 8.0.26+'s. A name the server does not know is simply not returned.
const semiSyncVariables = `'rpl_semi_sync_master_enabled', 'rpl_semi_sync_source_enabled',
		 'rpl_semi_sync_slave_enabled', 'rpl_semi_sync_replica_enabled',
		 'rpl_semi_sync_master_timeout', 'rpl_semi_sync_source_timeout',
		 'rpl_semi_sync_master_wait_point', 'rpl_semi_sync_source_wait_point'`

// semiSyncStatusQuery reads the semi-sync status variables. It needs no
// privilege; the probe runs it only on a node with a side enabled, so that a
// check of a node without semi-sync costs no extra round trip.
const semiSyncStatusQuery = `SHOW GLOBAL STATUS WHERE Variable_name IN
	('Rpl_semi_sync_master_status', 'Rpl_semi_sync_source_status',
	 'Rpl_semi_sync_slave_status', 'Rpl_semi_sync_replica_status',
	 'Rpl_semi_sync_master_clients', 'Rpl_semi_sync_source_clients',
	 'Rpl_semi_sync_master_yes_tx', 'Rpl_semi_sync_source_yes_tx',
	 'Rpl_semi_sync_master_no_tx', 'Rpl_semi_sync_source_no_tx')`

// semiSync returns a MySQL or MariaDB node's semi-sync state from the
// variables the probe read, reading the status variables when a side is
// enabled; nil when the server has no semi-sync.
func semiSync(ctx context.Context, db querier, vars map[string]string, role Role) (*SemiSyncStatus, error) {
	s := semiSyncOf(vars, nil, role)
	if s == nil || !s.SourceEnabled && !s.ReplicaEnabled {
		return s, nil
	}
	status, err := dbvars.Read(ctx, db, semiSyncStatusQuery)
	if err != nil {
		return nil, err
	}
	return semiSyncOf(vars, status, role), nil
}

// semiSyncOf builds a node's semi-sync state from its variables and status
// variables (nil when not read), both by lower-case name; nil when the
// variables show no semi-sync at all.
func semiSyncOf(vars, status map[string]string, role Role) *SemiSyncStatus {
	get := func(m map[string]string, names ...string) (string, bool) {
		for _, n := range names {
			if v, ok := m[n]; ok {
				return v, true
			}
		}
		return "", false
	}
	on := func(m map[string]string, names ...string) bool {
		v, _ := get(m, names...)
		return strings.EqualFold(v, "ON") || v == "1"
	}
	num := func(m map[string]string, names ...string) uint64 {
		v, _ := get(m, names...)
		n, _ := strconv.ParseUint(v, 10, 64)
		return n
	}
	_, source := get(vars, "rpl_semi_sync_master_enabled", "rpl_semi_sync_source_enabled")
	_, replica := get(vars, "rpl_semi_sync_slave_enabled", "rpl_semi_sync_replica_enabled")
	if !source && !replica {
		return nil
	}
	s := &SemiSyncStatus{
		SourceEnabled:  on(vars, "rpl_semi_sync_master_enabled", "rpl_semi_sync_source_enabled"),
		ReplicaEnabled: on(vars, "rpl_semi_sync_slave_enabled", "rpl_semi_sync_replica_enabled"),
		Timeout:        time.Duration(num(vars, "rpl_semi_sync_master_timeout", "rpl_semi_sync_source_timeout")) * time.Millisecond,
		Clients:        int(num(status, "rpl_semi_sync_master_clients", "rpl_semi_sync_source_clients")),
		AckedTx:        num(status, "rpl_semi_sync_master_yes_tx", "rpl_semi_sync_source_yes_tx"),
		UnackedTx:      num(status, "rpl_semi_sync_master_no_tx", "rpl_semi_sync_source_no_tx"),
	}
	s.WaitPoint, _ = get(vars, "rpl_semi_sync_master_wait_point", "rpl_semi_sync_source_wait_point")
	if role == Primary {
		s.Enabled = s.SourceEnabled
		s.Active = s.Enabled && on(status, "rpl_semi_sync_master_status", "rpl_semi_sync_source_status")
	} else {
		s.Enabled = s.ReplicaEnabled
		s.Active = s.Enabled && on(status, "rpl_semi_sync_slave_status", "rpl_semi_sync_replica_status")
	}
	return s
}

// fellBack reports whether a node in role, whose semi-sync state is s, is a
// primary that fell back to asynchronous replication.
func fellBack(s *SemiSyncStatus, role Role) bool {
	return role == Primary && s != nil && s.Enabled && !s.Active
}

// semiSyncEvents compares a node's semi-sync state at its previous
// successful check (prev, in role prevRole) and this one (cur, in role).
// alerted says whether a fallback was reported and not cleared yet; it
// returns its new value and the events to emit.
func semiSyncEvents(node string, alerted bool, prev *SemiSyncStatus, prevRole Role, cur *SemiSyncStatus, role Role, now time.Time) (bool, []Event) {
	ev := func(k EventKind, detail string) Event {
		return Event{Kind: k, Node: node, Time: now, Role: role, Detail: detail}
	}
	down := fellBack(cur, role)
	switch {
	case down && !alerted:
		return true, []Event{ev(SemiSyncFallback, fmt.Sprintf(
			"asynchronous replication: %d semi-sync replicas connected, timeout %v", cur.Clients, cur.Timeout))}
	case !down && alerted:
		detail := fmt.Sprintf("semi-synchronous again: %d semi-sync replicas connected", cur.Clients)
		switch {
		case role != Primary:
			detail = "no longer the primary"
		case cur == nil || !cur.Enabled:
			detail = "semi-synchronous replication switched off"
		}
		return false, []Event{ev(SemiSyncResumed, detail)}
	case !down && role == Primary && prevRole == Primary && cur != nil && cur.Active &&
		prev != nil && prev.Active && cur.UnackedTx > prev.UnackedTx:
		// A fallback shorter than the check interval.
		return false, []Event{
			ev(SemiSyncFallback, fmt.Sprintf("%d commits ran asynchronously between two checks", cur.UnackedTx-prev.UnackedTx)),
			ev(SemiSyncResumed, fmt.Sprintf("semi-synchronous again: %d semi-sync replicas connected", cur.Clients)),
		}
	}
	return alerted, nil
}

// auditSemiSync reports node i's semi-sync risks from its settings, read
// now, and the snapshot's last check of its status.
func auditSemiSync(d router.Dialect, snap Snapshot, i int, settings map[string]string) []Finding {
	if d != router.MySQL && d != router.MariaDB {
		return nil // a MySQL and MariaDB feature: PostgreSQL has synchronous_commit, audited apart
	}
	n := snap.Nodes[i]
	cur := semiSyncOf(settings, nil, n.Role)
	name := func(names ...string) string { // the name the server knows, else the dialect's
		for _, k := range names {
			if _, ok := settings[k]; ok {
				return k
			}
		}
		if d == router.MySQL {
			return strings.ReplaceAll(strings.ReplaceAll(names[0], "master", "source"), "slave", "replica")
		}
		return names[0]
	}
	var out []Finding
	add := func(setting, value string, sev Severity, advice string) {
		out = append(out, Finding{Node: n.Name, Setting: setting, Value: value, Severity: sev, Advice: advice})
	}
	switch {
	case n.Role == Primary:
		hasReplicas := false
		for j, o := range snap.Nodes {
			hasReplicas = hasReplicas || j != i && o.Replication.Configured
		}
		switch {
		case !hasReplicas:
		case cur == nil:
			add(name("rpl_semi_sync_master_enabled"), "(plugin not installed)", Warning,
				"a commit the primary acknowledged can be lost in a fail-over: install the semi-sync plugins and enable semi-synchronous replication")
		case !cur.SourceEnabled:
			add(name("rpl_semi_sync_master_enabled"), "OFF", Warning,
				"a commit the primary acknowledged can be lost in a fail-over: enable semi-synchronous replication on the primary and its replicas")
		case fellBack(n.SemiSync, n.Role):
			add(statusName(d, "Rpl_semi_sync_master_status"), "OFF", Critical,
				fmt.Sprintf("the primary fell back to asynchronous replication (%d semi-sync replicas connected): commits it acknowledges may be on no replica until a replica acknowledges again", n.SemiSync.Clients))
		}
	case n.Role == Replica && n.Replication.Configured:
		w := snap.Writer
		if w < 0 || w >= len(snap.Nodes) || w == i || snap.Nodes[w].SemiSync == nil || !snap.Nodes[w].SemiSync.SourceEnabled {
			break
		}
		switch {
		case cur == nil || !cur.ReplicaEnabled:
			add(name("rpl_semi_sync_slave_enabled", "rpl_semi_sync_replica_enabled"), "OFF", Warning,
				"the primary waits for semi-sync acknowledgements, which this replica never sends: enable its side and restart its receiving thread")
		case n.SemiSync != nil && n.SemiSync.ReplicaEnabled && !n.SemiSync.Active && n.Replication.Receiving:
			add(statusName(d, "Rpl_semi_sync_slave_status"), "OFF", Warning,
				"semi-sync is enabled but the receiving thread does not acknowledge: restart it (STOP and START the IO thread)")
		}
	}
	return out
}

// statusName is a MariaDB semi-sync status variable's name in dialect d.
func statusName(d router.Dialect, mariadb string) string {
	if d == router.MySQL {
		return strings.ReplaceAll(strings.ReplaceAll(mariadb, "master", "source"), "slave", "replica")
	}
	return mariadb
}
