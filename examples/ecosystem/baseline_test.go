package ecosystem_test

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sqlreplica/sqlreplica/replica"
)

// observe runs the same statements on db, in a table of its own, and
// writes down everything a caller can see of their results: errors,
// counts, ids, NULL handling and the Go types Scan gives.
func observe(t *testing.T, e *env, db *sql.DB, table string) map[string]string {
	t.Helper()
	ctx := context.Background()
	seen := map[string]string{}
	note := func(key string, format string, args ...any) { seen[key] = fmt.Sprintf(format, args...) }
	errText := func(err error) string {
		if err == nil {
			return "<nil>"
		}
		// The table name differs between the two runs.
		return fmt.Sprintf("%T: %s", err, strings.ReplaceAll(err.Error(), table, "T"))
	}

	_, err := db.ExecContext(ctx, "CREATE TABLE "+table+" ("+e.autoID()+", s varchar(20), n int, f numeric(6,2), b boolean, at timestamp NULL)")
	require.NoError(t, err)

	checks := []struct {
		name string
		run  func()
	}{
		{"no rows", func() {
			var n int
			err := db.QueryRowContext(ctx, "SELECT n FROM "+table+" WHERE id = -1").Scan(&n)
			note("no rows", "is ErrNoRows=%v %s", err == sql.ErrNoRows, errText(err))
		}},
		{"insert", func() {
			res, err := db.ExecContext(ctx, e.bind("INSERT INTO "+table+" (s, n, f, b, at) VALUES (?, ?, ?, ?, ?)"), "a", 1, "1.50", true, "2024-02-03 04:05:06")
			require.NoError(t, err)
			ra, err := res.RowsAffected()
			note("insert rows", "%d %s", ra, errText(err))
			id, err := res.LastInsertId()
			note("insert id", "%d %s", id, errText(err))
			res, err = db.ExecContext(ctx, "INSERT INTO "+table+" (s, n, f, b, at) VALUES (NULL, NULL, NULL, NULL, NULL), ('c', 3, 3.25, false, NULL)")
			require.NoError(t, err)
			ra, err = res.RowsAffected()
			note("insert2 rows", "%d %s", ra, errText(err))
			id, err = res.LastInsertId()
			note("insert2 id", "%d %s", id, errText(err))
		}},
		{"update", func() {
			for _, where := range []string{"id < 0", "n IS NOT NULL", "s = 'a'"} {
				res, err := db.ExecContext(ctx, "UPDATE "+table+" SET n = n + 1 WHERE "+where)
				require.NoError(t, err)
				ra, err := res.RowsAffected()
				note("update "+where, "%d %s", ra, errText(err))
			}
		}},
		{"nulls", func() {
			rows, err := db.QueryContext(ctx, "SELECT s, n, f, b, at FROM "+table+" ORDER BY id")
			require.NoError(t, err)
			defer rows.Close()
			i := 0
			for rows.Next() {
				var (
					s  sql.NullString
					n  sql.NullInt64
					f  sql.NullFloat64
					b  sql.NullBool
					at sql.NullTime
				)
				require.NoError(t, rows.Scan(&s, &n, &f, &b, &at))
				note(fmt.Sprintf("null row %d", i), "%+v %+v %+v %+v %+v", s, n, f, b, at)
				i++
			}
			require.NoError(t, rows.Err())
			note("null rows", "%d", i)
		}},
		{"any", func() {
			rows, err := db.QueryContext(ctx, "SELECT id, s, n, f, b, at, 1, 'x', NULL FROM "+table+" ORDER BY id")
			require.NoError(t, err)
			defer rows.Close()
			cols, err := rows.ColumnTypes()
			require.NoError(t, err)
			for _, c := range cols {
				nullable, ok := c.Nullable()
				note("column "+c.Name(), "%s %v %v %v", c.DatabaseTypeName(), c.ScanType(), nullable, ok)
			}
			i := 0
			for rows.Next() {
				vals := make([]any, len(cols))
				ptrs := make([]any, len(cols))
				for j := range vals {
					ptrs[j] = &vals[j]
				}
				require.NoError(t, rows.Scan(ptrs...))
				for j, v := range vals {
					if b, ok := v.([]byte); ok {
						v = string(b)
					}
					note(fmt.Sprintf("any row %d col %d", i, j), "%T %v", vals[j], v)
				}
				i++
			}
			require.NoError(t, rows.Err())
		}},
		{"server error", func() {
			_, err := db.ExecContext(ctx, "INSERT INTO "+table+" (id) VALUES (1)")
			note("duplicate", "%s", errText(err))
			_, err = db.QueryContext(ctx, "SELECT nope FROM "+table)
			note("unknown column", "%s", errText(err))
		}},
		{"transaction", func() {
			tx, err := db.BeginTx(ctx, nil)
			require.NoError(t, err)
			_, err = tx.ExecContext(ctx, "DELETE FROM "+table)
			require.NoError(t, err)
			require.NoError(t, tx.Rollback())
			note("rollback again", "%s", errText(tx.Rollback()))
			var n int
			require.NoError(t, db.QueryRowContext(ctx, "SELECT count(*) FROM "+table).Scan(&n))
			note("after rollback", "%d", n)
		}},
	}
	for _, c := range checks {
		c.run()
	}
	return seen
}

// TestSameBehaviourAsPlainDB runs the same checks on a plain pool on the
// primary and on SQLDB (under CausalReads, so that reads see the writes
// before them as they do on one server): what a caller sees, sql.ErrNoRows,
// RowsAffected, LastInsertId, sql.Null* values, the Go types Scan gives
// into *any, column types and server errors, is the same.
func TestSameBehaviourAsPlainDB(t *testing.T) {
	forEachKind(t, func(t *testing.T, e *env) {
		rdb := e.open(replica.CausalReads())
		base := e.table("base")
		plain := observe(t, e, e.primary, base+"_plain")
		routed := observe(t, e, rdb.SQLDB(), base+"_routed")
		require.Equal(t, plain, routed)
		require.Contains(t, plain, "any row 2 col 8") // every check ran
	})
}
