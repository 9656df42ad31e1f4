package health

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/sqlreplica/sqlreplica/consistency"
	"github.com/sqlreplica/sqlreplica/internal/dberr"
	"github.com/sqlreplica/sqlreplica/internal/dbvars"
	"github.com/sqlreplica/sqlreplica/internal/redact"
	"github.com/sqlreplica/sqlreplica/router"
)

// probeResult is what one check of one node found.
type probeResult struct {
	err      error
	hard     bool // the connection itself failed: take the node out at once
	busy     bool // no connection was free in the node's saturated pool: health unknown
	latency  time.Duration
	at       time.Time
	role     Role // zero: the probe cannot tell (unknown dialect)
	writable bool
	position consistency.Token
	received consistency.Token
	repl     Replication
	semi     *SemiSyncStatus // MySQL, MariaDB: nil when the server has no semi-sync
	galera   *GaleraStatus   // nil: not a Galera node
}

// querier is the part of *sql.Conn the probes use.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// probe checks one node with the queries of its dialect, on one connection
// of db. With an unknown dialect it only pings. Its error is redacted (see
// package redact): it is stored, shown and logged.
//
// When the connection cannot be had before ctx ends because every
// connection of db is in use (a pool saturated by the application), the
// result is busy: it says nothing about the node, whose other connections
// are serving the application.
func probe(ctx context.Context, db *sql.DB, d router.Dialect) (r probeResult) {
	start := time.Now()
	defer func() {
		r.at = time.Now()
		r.latency = r.at.Sub(start)
		if r.err != nil {
			r.hard = !r.busy && dberr.Judge(ctx, r.err) == dberr.Down
			r.err = redact.Error(r.err)
		}
	}()
	conn, err := db.Conn(ctx)
	if err != nil {
		r.err = err
		r.busy = ctx.Err() != nil && saturated(db.Stats())
		return r
	}
	defer conn.Close()
	switch d {
	case router.PostgreSQL:
		r.err = probePostgres(ctx, conn, &r)
	case router.MySQL, router.MariaDB:
		r.err = probeMySQL(ctx, conn, &r)
	default:
		r.err = conn.PingContext(ctx)
	}
	return r
}

// saturated reports whether every connection a pool may open is in use and
// callers wait for one.
func saturated(s sql.DBStats) bool {
	return s.MaxOpenConnections > 0 && s.InUse >= s.MaxOpenConnections && s.WaitCount > 0
}

// pgProbe reads a PostgreSQL node's role and positions in one round trip,
// with functions an unprivileged role may call. The primary's timeline comes
// from its current WAL file's name (right after a promotion, before any
// checkpoint). A standby's comes from its WAL receiver, which only roles
// with pg_read_all_stats (pg_monitor) may see; for other roles it comes from
// the last restartpoint, which can stay on the old timeline for minutes
// after a fail-over: meanwhile the standby's lag is unknown (never fresh)
// and its position covers no token of the new timeline. Grant pg_monitor to
// the application's role to avoid that.
const pgProbe = `SELECT pg_is_in_recovery(),
	CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn()::text ELSE pg_current_wal_lsn()::text END,
	pg_last_wal_receive_lsn()::text,
	current_setting('default_transaction_read_only') = 'on',
	(SELECT system_identifier FROM pg_control_system())::text,
	CASE WHEN pg_is_in_recovery() THEN COALESCE((SELECT received_tli FROM pg_stat_wal_receiver),
	                                            (SELECT timeline_id FROM pg_control_checkpoint()))
	     ELSE ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int END,
	(SELECT status FROM pg_stat_wal_receiver),
	CASE WHEN pg_is_in_recovery() THEN pg_is_wal_replay_paused() ELSE false END`

func probePostgres(ctx context.Context, db querier, r *probeResult) error {
	var (
		inRecovery, readOnly, paused bool
		pos, recv, status, system    sql.NullString
		timeline                     sql.NullInt64
	)
	if err := db.QueryRowContext(ctx, pgProbe).Scan(&inRecovery, &pos, &recv, &readOnly, &system, &timeline, &status, &paused); err != nil {
		return err
	}
	sys, _ := strconv.ParseUint(system.String, 10, 64)
	tli := uint32(timeline.Int64)
	if pos.Valid {
		lsn, err := consistency.ParseLSN(pos.String)
		if err != nil {
			return err
		}
		r.position = consistency.PostgresToken(sys, tli, lsn)
	}
	if recv.Valid {
		if lsn, err := consistency.ParseLSN(recv.String); err == nil {
			r.received = consistency.PostgresToken(sys, tli, lsn)
		}
	}
	if !inRecovery {
		r.role, r.writable = Primary, !readOnly
		return nil
	}
	r.role = Replica
	r.repl = Replication{
		Configured: true,
		// The WAL receiver's status is hidden from roles without
		// pg_read_all_stats; a received position says it ran.
		Receiving: status.String == "streaming" || !status.Valid && recv.Valid,
		Applying:  !paused,
		State:     status.String,
	}
	if paused {
		r.repl.State = strings.TrimSpace(r.repl.State + " replay paused")
	}
	return nil
}

// probeMySQL reads a MySQL or MariaDB node's role, position and replication
// state. Its first query works on both, so that it is right before the
// dialect has been told apart.
func probeMySQL(ctx context.Context, db querier, r *probeResult) error {
	vars, err := dbvars.Read(ctx, db, `SHOW GLOBAL VARIABLES WHERE Variable_name IN
		('version', 'read_only', 'super_read_only', 'gtid_executed', 'gtid_current_pos', 'gtid_slave_pos', `+dbvars.GaleraVars+`,
		 `+semiSyncVariables+`)`)
	if err != nil {
		return err
	}
	on := func(k string) bool { return dbvars.On(vars, k) }
	mariadb := strings.Contains(strings.ToLower(vars["version"]), "mariadb")
	if list, galera := dbvars.GaleraGTID(vars); galera {
		if r.galera, err = probeGalera(ctx, db); err != nil {
			return err
		}
		r.position, err = consistency.MariaDBToken(list)
	} else if mariadb {
		r.position, err = consistency.MariaDBToken(vars["gtid_current_pos"])
	} else {
		r.position, err = consistency.MySQLToken(vars["gtid_executed"])
	}
	if err != nil {
		return err
	}
	r.writable = !on("read_only") && !on("super_read_only")
	r.role = Replica
	if r.writable {
		r.role = Primary
	}
	if r.semi, err = semiSync(ctx, db, vars, r.role); err != nil {
		return err
	}
	st, err := replicaStatus(ctx, db)
	if err != nil {
		return err
	}
	if st == nil {
		return nil
	}
	get := func(names ...string) string {
		for _, n := range names {
			if v, ok := st[n]; ok {
				return v
			}
		}
		return ""
	}
	io := get("replica_io_running", "slave_io_running")
	sqlt := get("replica_sql_running", "slave_sql_running")
	if slave, ok := vars["gtid_slave_pos"]; ok && mariadb && r.galera == nil && r.role == Replica && sqlt != "Yes" {
		// A MariaDB replica whose replication has stopped (an error, or
		// STOP SLAVE) applies nothing more: its position is what it
		// applied from its primary. gtid_current_pos would count a
		// transaction of its own with a higher sequence number in the
		// primary's domain (an errant write past read_only, which stops
		// replication at the primary's next write in strict mode) as
		// having the primary's writes. While replication runs,
		// gtid_current_pos stays: gtid_slave_pos lacks a former primary's
		// own transactions, which its new primary has.
		if r.position, err = consistency.MariaDBToken(slave); err != nil {
			return err
		}
	}
	var errs []string
	for _, e := range []string{get("last_io_error"), get("last_sql_error")} {
		if e != "" {
			errs = append(errs, e)
		}
	}
	r.repl = Replication{
		Configured: true,
		Receiving:  io == "Yes",
		Applying:   sqlt == "Yes",
		State:      io + "/" + sqlt,
		LastError:  strings.Join(errs, "; "),
		Source:     fmt.Sprintf("%s:%s", get("source_host", "master_host"), get("source_port", "master_port")),
	}
	if mariadb {
		r.received, _ = consistency.MariaDBToken(get("gtid_io_pos"))
	} else {
		r.received, _ = consistency.MySQLToken(get("retrieved_gtid_set"))
	}
	return nil
}

// galeraStatusQuery reads a Galera node's state. SHOW STATUS works on a
// node outside the quorum component, where other statements are refused.
const galeraStatusQuery = `SHOW GLOBAL STATUS WHERE Variable_name IN
	('wsrep_ready', 'wsrep_connected', 'wsrep_cluster_status', 'wsrep_local_state',
	 'wsrep_local_state_comment', 'wsrep_cluster_size', 'wsrep_cluster_state_uuid',
	 'wsrep_flow_control_paused', 'wsrep_local_recv_queue', 'wsrep_last_committed')`

// probeGalera reads a Galera node's wsrep status.
func probeGalera(ctx context.Context, db querier) (*GaleraStatus, error) {
	st, err := dbvars.Read(ctx, db, galeraStatusQuery)
	if err != nil {
		return nil, err
	}
	num := func(k string) int64 {
		n, _ := strconv.ParseInt(strings.TrimSpace(st[k]), 10, 64)
		return n
	}
	fc, _ := strconv.ParseFloat(strings.TrimSpace(st["wsrep_flow_control_paused"]), 64)
	return &GaleraStatus{
		LocalState:        int(num("wsrep_local_state")),
		LocalStateComment: st["wsrep_local_state_comment"],
		ClusterStatus:     st["wsrep_cluster_status"],
		ClusterSize:       int(num("wsrep_cluster_size")),
		ClusterStateUUID:  st["wsrep_cluster_state_uuid"],
		Ready:             dbvars.On(st, "wsrep_ready"),
		Connected:         dbvars.On(st, "wsrep_connected"),
		FlowControlPaused: fc,
		RecvQueue:         num("wsrep_local_recv_queue"),
		LastCommitted:     num("wsrep_last_committed"),
	}, nil
}

// replicaStatus returns SHOW REPLICA STATUS's first row by lower-case column
// name, or nil when the node replicates from no source.
func replicaStatus(ctx context.Context, db querier) (map[string]string, error) {
	rows, err := db.QueryContext(ctx, "SHOW REPLICA STATUS")
	if err != nil {
		return nil, err
	}
	return scanReplicaStatus(rows)
}

// scanReplicaStatus reads SHOW REPLICA STATUS's first row and closes rows.
func scanReplicaStatus(rows *sql.Rows) (map[string]string, error) {
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	if !rows.Next() {
		return nil, rows.Err()
	}
	vals := make([]sql.NullString, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		return nil, err
	}
	m := make(map[string]string, len(cols))
	for i, c := range cols {
		m[strings.ToLower(c)] = vals[i].String
	}
	return m, rows.Err()
}
