package health

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/sqlreplica/sqlreplica/internal/dbvars"
	"github.com/sqlreplica/sqlreplica/internal/redact"
	"github.com/sqlreplica/sqlreplica/router"
)

// Severity ranks a finding.
type Severity uint8

const (
	// Warning: a setting that weakens durability or replication.
	Warning Severity = iota + 1
	// Critical: a setting that can lose or corrupt data, or replication
	// that is broken.
	Critical
)

// String returns "warning" or "critical".
func (s Severity) String() string {
	if s == Critical {
		return "critical"
	}
	return "warning"
}

// Finding is one risky setting or replication problem on one node.
type Finding struct {
	Node     string
	Setting  string
	Value    string
	Severity Severity
	Advice   string
}

// Auditable is what [Audit] inspects; *replica.DB is one.
type Auditable interface {
	Status() Snapshot
	Dialect() router.Dialect
	Pools() []*sql.DB // one per node, in the snapshot's order
}

// Audit reads each reachable node's replication-related settings and
// reports the risky ones, and every replication error a replica reports
// (replication errors are reported, never skipped). Nodes it cannot read are
// reported too.
//
// PostgreSQL: wal_level, synchronous_commit, hot_standby_feedback (on
// replicas), max_wal_senders, fsync, full_page_writes. MySQL and MariaDB:
// log_bin, binlog_format (not ROW), sync_binlog (≠ 1),
// innodb_flush_log_at_trx_commit (≠ 1), replicas not read_only, GTID mode
// off, slave_skip_errors / replica_skip_errors set; and semi-synchronous
// replication (see [SemiSyncStatus]): off on a primary that has replicas
// (MySQL: its plugin not installed), a primary that fell back to
// asynchronous replication at the last check (critical), a replica that
// does not acknowledge for a primary that waits for acknowledgements (its
// side off, or on but its receiving thread not restarted since).
//
// Galera nodes: binlog_format not ROW, innodb_autoinc_lock_mode ≠ 2,
// wsrep_sync_wait set globally, wsrep_gtid_mode off, an even cluster size
// (no majority after a 50/50 partition), and nodes that disagree on the
// cluster state UUID. Multi-primary sets ([Snapshot].MultiPrimary without
// Galera): a writable node that replicates from nobody, and
// auto_increment_increment / auto_increment_offset that let two nodes
// hand out the same id.
func Audit(ctx context.Context, db Auditable) ([]Finding, error) {
	snap := db.Status()
	pools := db.Pools()
	if len(pools) != len(snap.Nodes) {
		return nil, fmt.Errorf("health: %d pools for %d nodes", len(pools), len(snap.Nodes))
	}
	var out []Finding
	var autoinc []autoIncrement
	for i, n := range snap.Nodes {
		var settings map[string]string
		var err error
		switch db.Dialect() {
		case router.PostgreSQL:
			settings, err = dbvars.Read(ctx, pools[i], `SELECT name, setting FROM pg_settings WHERE name IN
				('wal_level', 'synchronous_commit', 'hot_standby_feedback', 'max_wal_senders', 'fsync', 'full_page_writes')`)
		case router.MySQL, router.MariaDB:
			settings, err = dbvars.Read(ctx, pools[i], `SHOW GLOBAL VARIABLES WHERE Variable_name IN
				('log_bin', 'binlog_format', 'sync_binlog', 'innodb_flush_log_at_trx_commit', 'read_only',
				 'super_read_only', 'gtid_mode', 'gtid_strict_mode', 'slave_skip_errors', 'replica_skip_errors',
				 'innodb_autoinc_lock_mode', 'wsrep_on', 'wsrep_sync_wait', 'wsrep_gtid_mode',
				 'auto_increment_increment', 'auto_increment_offset',
				 `+semiSyncVariables+`)`)
		default:
			return nil, fmt.Errorf("health: audit needs a known dialect")
		}
		if err != nil {
			out = append(out, Finding{Node: n.Name, Setting: "(unreadable)", Value: redact.Error(err).Error(), Severity: Warning,
				Advice: "the node could not be audited"})
			continue
		}
		out = append(out, auditNode(db.Dialect(), n, settings, snap.MultiPrimary)...)
		out = append(out, auditSemiSync(db.Dialect(), snap, i, settings)...)
		if n.Galera != nil {
			out = append(out, auditGalera(n, settings)...)
		} else if snap.MultiPrimary && n.Writable && !n.Replication.Configured {
			out = append(out, Finding{Node: n.Name, Setting: "replication", Value: "not configured", Severity: Critical,
				Advice: "a node of a multi-primary set must replicate from another: writes taken here reach no other node"})
		}
		if snap.MultiPrimary && n.Galera == nil && n.Writable && settings["auto_increment_increment"] != "" {
			autoinc = append(autoinc, autoIncrement{n.Name, settings["auto_increment_increment"], settings["auto_increment_offset"]})
		}
		if n.Replication.LastError != "" {
			out = append(out, Finding{Node: n.Name, Setting: "replication", Value: n.Replication.LastError, Severity: Critical,
				Advice: "replication has stopped on an error: fix its cause; do not skip the event, which leaves the replica silently different"})
		} else if n.Replication.Configured && (!n.Replication.Receiving || !n.Replication.Applying) {
			out = append(out, Finding{Node: n.Name, Setting: "replication", Value: n.Replication.State, Severity: Critical,
				Advice: "a replication thread is not running"})
		}
	}
	out = append(out, auditGaleraCluster(snap)...)
	out = append(out, auditAutoIncrement(autoinc)...)
	return out, nil
}

// auditNode flags one node's risky settings; multi is set when several
// writable nodes are expected (Galera, MultiPrimary).
func auditNode(d router.Dialect, n Status, s map[string]string, multi bool) []Finding {
	var out []Finding
	add := func(setting string, sev Severity, advice string) {
		out = append(out, Finding{Node: n.Name, Setting: setting, Value: s[setting], Severity: sev, Advice: advice})
	}
	is := func(k string, vals ...string) bool {
		v, ok := s[k]
		if !ok {
			return false
		}
		for _, x := range vals {
			if strings.EqualFold(v, x) {
				return true
			}
		}
		return false
	}
	if d == router.PostgreSQL {
		if is("wal_level", "minimal") {
			add("wal_level", Critical, "replicas need wal_level = replica or logical")
		}
		if is("synchronous_commit", "off") {
			add("synchronous_commit", Warning, "commits acknowledged before they reach disk can be lost on a crash")
		}
		if is("fsync", "off") {
			add("fsync", Critical, "a crash can corrupt the database; never run production with fsync off")
		}
		if is("full_page_writes", "off") {
			add("full_page_writes", Critical, "a crash can leave torn pages")
		}
		if is("max_wal_senders", "0") && n.Role == Primary {
			add("max_wal_senders", Critical, "no replica can connect")
		}
		if is("hot_standby_feedback", "off") && n.Role == Replica {
			add("hot_standby_feedback", Warning, "long reads on this replica may be cancelled by conflicts with recovery")
		}
		return out
	}
	if is("log_bin", "OFF", "0") {
		add("log_bin", Critical, "without a binary log nothing can replicate from this node, and a promoted replica cannot serve the others")
	}
	if _, ok := s["binlog_format"]; ok && !is("binlog_format", "ROW") && n.Galera == nil { // Galera: see auditGalera
		add("binlog_format", Warning, "statement-based replication can diverge; use ROW")
	}
	if _, ok := s["sync_binlog"]; ok && !is("sync_binlog", "1") {
		add("sync_binlog", Warning, "a crash can lose binary log events that were committed")
	}
	if _, ok := s["innodb_flush_log_at_trx_commit"]; ok && !is("innodb_flush_log_at_trx_commit", "1") {
		add("innodb_flush_log_at_trx_commit", Warning, "a crash can lose committed transactions")
	}
	if n.Replication.Configured && n.Writable && !multi {
		add("read_only", Critical, "a replica that accepts writes diverges from its source; set read_only (and super_read_only on MySQL)")
	}
	if _, ok := s["gtid_mode"]; ok && !is("gtid_mode", "ON") {
		add("gtid_mode", Warning, "without GTIDs, fail-over and read-your-writes tokens cannot work")
	}
	if d == router.MariaDB && is("gtid_strict_mode", "OFF", "0") {
		add("gtid_strict_mode", Warning, "without strict mode, errant transactions go unnoticed")
	}
	for _, k := range []string{"slave_skip_errors", "replica_skip_errors"} {
		if v, ok := s[k]; ok && v != "" && !strings.EqualFold(v, "OFF") {
			add(k, Critical, "skipped replication errors leave the replica silently different from its source")
		}
	}
	return out
}
