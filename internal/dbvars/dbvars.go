// Package dbvars reads name/value rows (SHOW GLOBAL VARIABLES, pg_settings)
// into a map.
package dbvars

import (
	"context"
	"database/sql"
	"strings"
)

// Querier is a *sql.DB, *sql.Conn or *sql.Tx.
type Querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// Read runs q, which must return two columns, name and value, and returns
// the rows by lower-case name. A NULL value reads as "".
func Read(ctx context.Context, db Querier, q string) (map[string]string, error) {
	rows, err := db.QueryContext(ctx, q)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	m := map[string]string{}
	for rows.Next() {
		var k, v sql.NullString
		if err := rows.Scan(&k, &v); err != nil {
			return nil, err
		}
		m[strings.ToLower(k.String)] = v.String
	}
	return m, rows.Err()
}

// On reports whether a variable read by [Read] is on ("ON" or "1").
func On(vars map[string]string, name string) bool {
	v := vars[name]
	return strings.EqualFold(v, "ON") || v == "1"
}

// GaleraVars are the global variables [GaleraGTID] needs, quoted for an IN
// list.
const GaleraVars = `'wsrep_on', 'wsrep_gtid_mode', 'wsrep_gtid_domain_id', 'gtid_binlog_pos'`

// GaleraGTID returns, for a MariaDB Galera node (wsrep_on is ON), the GTID
// list its replication position is read from: the entries of
// gtid_binlog_pos in the Galera domain (wsrep_gtid_domain_id), which every
// node of the cluster writes alike when wsrep_gtid_mode is ON. Entries of
// other domains are the node's own, never replicated by Galera: a token
// holding them would never be covered by another node. With
// wsrep_gtid_mode off the list is "" (positions cannot be compared across
// nodes). galera is false for any other server.
func GaleraGTID(vars map[string]string) (list string, galera bool) {
	if !On(vars, "wsrep_on") {
		return "", false
	}
	if !On(vars, "wsrep_gtid_mode") {
		return "", true
	}
	domain := strings.TrimSpace(vars["wsrep_gtid_domain_id"])
	if domain == "" {
		domain = "0"
	}
	var keep []string
	for _, g := range strings.Split(vars["gtid_binlog_pos"], ",") {
		g = strings.TrimSpace(g)
		if d, _, ok := strings.Cut(g, "-"); ok && d == domain {
			keep = append(keep, g)
		}
	}
	return strings.Join(keep, ","), true
}
