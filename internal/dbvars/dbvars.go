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
