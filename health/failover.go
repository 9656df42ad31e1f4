package health

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sqlreplica/sqlreplica/consistency"
	"github.com/sqlreplica/sqlreplica/internal/redact"
	"github.com/sqlreplica/sqlreplica/router"
)

// ErrFailoverRefused is wrapped by the error of a fail-over that was not
// attempted because it was not safe: no replica is reachable, the most
// advanced replica cannot be told (GTID sets that do not compare), or a node
// is writable already.
var ErrFailoverRefused = errors.New("health: fail-over refused")

// FailoverNode is how the fail-over helper reaches one node: with a pool
// that may promote and re-point (PostgreSQL superuser; MySQL/MariaDB SUPER
// or the REPLICATION_SLAVE_ADMIN and SYSTEM_VARIABLES_ADMIN privileges), and
// the address other servers replicate from it at.
type FailoverNode struct {
	Name  string
	Admin *sql.DB
	Host  string
	Port  int
}

// FailoverConfig says how to promote and re-point.
type FailoverConfig struct {
	// Nodes lists every node, in the snapshot's order.
	Nodes []FailoverNode
	// ReplicationUser and ReplicationPassword are what the replicas log in
	// to the new primary with. They are quoted, never pasted, into SQL. The
	// password may be at most 96 characters on MariaDB (MASTER_PASSWORD) and
	// 32 on MySQL (SOURCE_PASSWORD): a longer one is refused before anything
	// is changed.
	ReplicationUser     string
	ReplicationPassword string
	// CatchUp bounds the wait for the candidate to apply what it received
	// before it is promoted (default 30s).
	CatchUp time.Duration
}

// FailoverResult says what a fail-over did.
type FailoverResult struct {
	// Promoted names the node promoted.
	Promoted string
	// Repointed names the replicas now replicating from it.
	Repointed []string
	// Failed maps the replicas that could not be re-pointed to why.
	Failed map[string]error
}

// Failover promotes the most advanced reachable replica of snap by
// replication position (never by lag in seconds) and points every other
// reachable replica at it. It refuses, wrapping [ErrFailoverRefused], when
// a node is writable already, when no replica is reachable, or when the
// candidate is behind another reachable replica in any respect.
//
// Failover does not fence the old primary: if it comes back writable, the
// checks report a split brain and writes are refused until it is made
// read-only. Exactly one process may run fail-overs for a cluster: two at
// once could promote two replicas. Nothing here elects a leader among
// processes.
func Failover(ctx context.Context, snap Snapshot, d router.Dialect, cfg FailoverConfig) (FailoverResult, error) {
	var res FailoverResult
	if len(cfg.Nodes) != len(snap.Nodes) {
		return res, fmt.Errorf("health: fail-over has %d nodes for %d in the snapshot", len(cfg.Nodes), len(snap.Nodes))
	}
	for i, n := range snap.Nodes {
		if n.Reachable && n.Writable {
			return res, fmt.Errorf("%w: %s is writable already", ErrFailoverRefused, n.Name)
		}
		if cfg.Nodes[i].Admin == nil {
			return res, fmt.Errorf("health: fail-over node %s has no pool", n.Name)
		}
	}
	cand := -1
	var replicas []int
	for i, n := range snap.Nodes {
		if n.Reachable && n.Role == Replica {
			replicas = append(replicas, i)
		}
	}
	if len(replicas) == 0 {
		return res, fmt.Errorf("%w: no replica is reachable", ErrFailoverRefused)
	}
	for _, i := range replicas {
		ok := true
		for _, j := range replicas {
			if !advance(snap.Nodes[i]).Covers(advance(snap.Nodes[j])) {
				ok = false
				break
			}
		}
		if ok {
			cand = i
			break
		}
	}
	if cand < 0 {
		return res, fmt.Errorf("%w: no replica has everything every other reachable replica has", ErrFailoverRefused)
	}
	target := cfg.Nodes[cand]
	if target.Host == "" || target.Port <= 0 || target.Port > 65535 || strings.ContainsRune(target.Host, 0) {
		return res, fmt.Errorf("health: fail-over node %s has no usable address", target.Name)
	}
	if err := checkPassword(d, cfg.ReplicationPassword); err != nil {
		return res, err
	}
	if cfg.CatchUp <= 0 {
		cfg.CatchUp = 30 * time.Second
	}
	if err := promote(ctx, d, target.Admin, cfg.CatchUp); err != nil {
		return res, fmt.Errorf("health: promote %s: %w", target.Name, redact.Error(err))
	}
	res.Promoted = target.Name
	for _, i := range replicas {
		if i == cand {
			continue
		}
		n := cfg.Nodes[i]
		if err := repoint(ctx, d, n, target, cfg); err != nil {
			if res.Failed == nil {
				res.Failed = map[string]error{}
			}
			res.Failed[n.Name] = redact.Error(err)
			continue
		}
		res.Repointed = append(res.Repointed, n.Name)
	}
	return res, nil
}

// advance is everything a replica has: what it received and what it
// applied.
func advance(s Status) consistency.Token {
	if s.Received.SameOrigin(s.Position) {
		return s.Position.Merge(s.Received)
	}
	return s.Position
}

func promote(ctx context.Context, d router.Dialect, db *sql.DB, catchUp time.Duration) error {
	switch d {
	case router.PostgreSQL:
		// pg_promote replays everything received first.
		var ok bool
		if err := db.QueryRowContext(ctx, "SELECT pg_promote(true, $1)", int(catchUp.Seconds())).Scan(&ok); err != nil {
			return err
		}
		if !ok {
			return errors.New("pg_promote did not finish in time")
		}
		return nil
	case router.MariaDB, router.MySQL:
		conn, err := db.Conn(ctx)
		if err != nil {
			return err
		}
		defer conn.Close()
		stop, wait, reset, writable := "STOP SLAVE IO_THREAD", "", "STOP SLAVE", []string{"RESET SLAVE ALL", "SET GLOBAL read_only = 0"}
		if d == router.MySQL {
			stop, reset = "STOP REPLICA IO_THREAD", "STOP REPLICA"
			writable = []string{"RESET REPLICA ALL", "SET GLOBAL super_read_only = 0", "SET GLOBAL read_only = 0"}
		}
		if _, err := conn.ExecContext(ctx, stop); err != nil {
			return err
		}
		// Apply everything received before taking writes.
		st, err := connReplicaStatus(ctx, conn)
		if err != nil {
			return err
		}
		secs := max(int(catchUp.Seconds()), 1)
		var got int
		if d == router.MySQL {
			wait = "SELECT WAIT_FOR_EXECUTED_GTID_SET(?, ?)"
			err = conn.QueryRowContext(ctx, wait, strings.ReplaceAll(st["retrieved_gtid_set"], "\n", ""), secs).Scan(&got)
		} else {
			wait = "SELECT MASTER_GTID_WAIT(?, ?)"
			err = conn.QueryRowContext(ctx, wait, st["gtid_io_pos"], secs).Scan(&got)
		}
		if err != nil {
			return err
		}
		if got != 0 {
			return errors.New("the candidate did not apply what it had received in time")
		}
		for _, q := range append([]string{reset}, writable...) {
			if _, err := conn.ExecContext(ctx, q); err != nil {
				return fmt.Errorf("%s: %w", q, err)
			}
		}
		return nil
	}
	return fmt.Errorf("health: fail-over needs a known dialect")
}

func repoint(ctx context.Context, d router.Dialect, n, primary FailoverNode, cfg FailoverConfig) error {
	switch d {
	case router.PostgreSQL:
		var slot string
		if err := n.Admin.QueryRowContext(ctx, "SELECT current_setting('primary_slot_name')").Scan(&slot); err != nil {
			return err
		}
		if slot != "" {
			// The replica's slot lived on the old primary: make it on the new.
			_, err := primary.Admin.ExecContext(ctx, `SELECT pg_create_physical_replication_slot($1)
				WHERE NOT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = $1)`, slot)
			if err != nil {
				return fmt.Errorf("create replication slot on %s: %w", primary.Name, err)
			}
		}
		conninfo := fmt.Sprintf("host=%s port=%d user=%s password=%s application_name=%s",
			conninfoQuote(primary.Host), primary.Port, conninfoQuote(cfg.ReplicationUser),
			conninfoQuote(cfg.ReplicationPassword), conninfoQuote(n.Name))
		if _, err := n.Admin.ExecContext(ctx, "ALTER SYSTEM SET primary_conninfo = "+pgQuote(conninfo)); err != nil {
			return passwordStatementError("ALTER SYSTEM SET primary_conninfo", err)
		}
		_, err := n.Admin.ExecContext(ctx, "SELECT pg_reload_conf()")
		return err
	case router.MariaDB, router.MySQL:
		if err := checkPassword(d, cfg.ReplicationPassword); err != nil {
			return err
		}
		conn, err := n.Admin.Conn(ctx)
		if err != nil {
			return err
		}
		defer conn.Close()
		var mode string
		if err := conn.QueryRowContext(ctx, "SELECT @@SESSION.sql_mode").Scan(&mode); err != nil {
			return err
		}
		bs := !strings.Contains(strings.ToUpper(mode), "NO_BACKSLASH_ESCAPES")
		q := func(s string) string { return mysqlQuote(s, bs) }
		stmts := []string{"STOP SLAVE", fmt.Sprintf("CHANGE MASTER TO MASTER_HOST=%s, MASTER_PORT=%d, MASTER_USER=%s, "+
			"MASTER_PASSWORD=%s, MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1",
			q(primary.Host), primary.Port, q(cfg.ReplicationUser), q(cfg.ReplicationPassword)), "START SLAVE"}
		if d == router.MySQL {
			stmts = []string{"STOP REPLICA", fmt.Sprintf("CHANGE REPLICATION SOURCE TO SOURCE_HOST=%s, SOURCE_PORT=%d, "+
				"SOURCE_USER=%s, SOURCE_PASSWORD=%s, SOURCE_AUTO_POSITION=1, GET_SOURCE_PUBLIC_KEY=1, SOURCE_CONNECT_RETRY=1",
				q(primary.Host), primary.Port, q(cfg.ReplicationUser), q(cfg.ReplicationPassword)), "START REPLICA"}
		}
		for i, s := range stmts {
			if _, err := conn.ExecContext(ctx, s); err != nil {
				if i == 1 {
					return passwordStatementError("CHANGE MASTER/REPLICATION SOURCE", err)
				}
				return err
			}
		}
		return nil
	}
	return fmt.Errorf("health: fail-over needs a known dialect")
}

// pgQuote quotes s as a PostgreSQL string literal, as quote_literal does:
// quotes doubled, and an E” literal with backslashes doubled when s has one,
// so that it reads right whatever standard_conforming_strings says.
func pgQuote(s string) string {
	q := "'" + strings.ReplaceAll(s, "'", "''") + "'"
	if strings.Contains(s, `\`) {
		q = "E'" + strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), "'", "''") + "'"
	}
	return q
}

// conninfoQuote quotes a libpq connection-string value: in single quotes,
// with backslashes and quotes escaped by a backslash.
func conninfoQuote(s string) string {
	return "'" + strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), "'", `\'`) + "'"
}

// mysqlQuote quotes a MySQL/MariaDB string literal: quotes doubled, and, when
// the session reads backslashes as escapes, backslashes doubled and NULs
// escaped.
func mysqlQuote(s string, backslashEscapes bool) string {
	if backslashEscapes {
		s = strings.NewReplacer(`\`, `\\`, "\x00", `\0`).Replace(s)
	}
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// ErrPasswordTooLong is returned by [Failover], before anything is changed,
// when the replication password is longer than the server's CHANGE
// statement takes. Its text never quotes the password.
var ErrPasswordTooLong = errors.New("health: replication password too long")

// checkPassword refuses a replication password the dialect's CHANGE
// statement would refuse: MariaDB's MASTER_PASSWORD takes at most 96
// characters, MySQL's SOURCE_PASSWORD 32.
func checkPassword(d router.Dialect, password string) error {
	limit := 0
	switch d {
	case router.MariaDB:
		limit = 96
	case router.MySQL:
		limit = 32
	}
	if limit > 0 && utf8.RuneCountInString(password) > limit {
		return fmt.Errorf("%w: %s takes at most %d characters", ErrPasswordTooLong, d, limit)
	}
	return nil
}

// passwordStatementError is the error of stmt, a statement that carried the
// replication password: the server's message may quote the password, whole
// or cut short, so it is dropped by construction. What is kept is a fixed
// description, the error number and SQLSTATE (MySQL, MariaDB) or the SQLSTATE
// and severity (PostgreSQL), in a driver error of the same type whose
// message says it was redacted, so that errors.As still finds it. An error
// that is not the server's (a connection failure, the caller's context
// ending) has no server text and is kept, redacted as every error is.
func passwordStatementError(stmt string, err error) error {
	const gone = "(server message redacted: the statement held the replication password)"
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return fmt.Errorf("health: %s failed: %w", stmt,
			&mysql.MySQLError{Number: me.Number, SQLState: me.SQLState, Message: gone})
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return fmt.Errorf("health: %s failed: %w", stmt,
			&pgconn.PgError{Severity: pe.Severity, SeverityUnlocalized: pe.SeverityUnlocalized, Code: pe.Code, Message: gone})
	}
	return fmt.Errorf("health: %s failed: %w", stmt, redact.Error(err))
}

func connReplicaStatus(ctx context.Context, conn *sql.Conn) (map[string]string, error) {
	rows, err := conn.QueryContext(ctx, "SHOW REPLICA STATUS")
	if err != nil {
		return nil, err
	}
	return scanReplicaStatus(rows)
}
