package router_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/require"

	"github.com/sqlreplica/sqlreplica/internal/testcluster"
	"github.com/sqlreplica/sqlreplica/router"
)

// TestBuiltinFunctionsCatalog checks the built-in function lists against the
// real servers' catalogs.
//
// PostgreSQL: every listed name exists in pg_catalog; for the catalog list,
// every overload of it is parallel safe and not volatile (the signal that it
// neither writes, locks nor uses backend-local state); the reviewed list only
// has to exist.
//
// MySQL and MariaDB have no catalog of built-ins: each listed name is called
// with no arguments in a read-only transaction, and the server must not
// answer that no such function exists (1305, 1630), which it does for a name
// that is not a built-in, taking it for a stored function.
func TestBuiltinFunctionsCatalog(t *testing.T) {
	t.Run("postgresql", func(t *testing.T) {
		c := clusters.Get(t, testcluster.Postgres)
		db, err := c.Open(c.Primary)
		require.NoError(t, err)
		t.Cleanup(func() { db.Close() })
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		type counts struct{ all, safe int }
		rows, err := db.QueryContext(ctx, `SELECT proname, count(*), count(*) FILTER (WHERE proparallel = 's' AND provolatile <> 'v')
			FROM pg_catalog.pg_proc WHERE pronamespace = 'pg_catalog'::regnamespace GROUP BY proname`)
		require.NoError(t, err)
		catalog := map[string]counts{}
		for rows.Next() {
			var name string
			var n counts
			require.NoError(t, rows.Scan(&name, &n.all, &n.safe))
			catalog[name] = n
		}
		require.NoError(t, rows.Err())
		for _, name := range router.BuiltinFunctionNames("pg") {
			n := catalog[name]
			require.NotZero(t, n.all, "%s is not in pg_catalog", name)
			require.Equal(t, n.all, n.safe, "%s has an overload that is volatile or not parallel safe", name)
		}
		for _, name := range router.BuiltinFunctionNames("pg-reviewed") {
			require.NotZero(t, catalog[name].all, "%s is not in pg_catalog", name)
		}
	})
	for _, tt := range []struct {
		kind testcluster.Kind
		list string
	}{{testcluster.MariaDB, "mariadb"}, {testcluster.MySQL, "mysql"}} {
		t.Run(tt.kind.String(), func(t *testing.T) {
			c := clusters.Get(t, tt.kind)
			db, err := c.Open(c.Primary)
			require.NoError(t, err)
			t.Cleanup(func() { db.Close() })
			names := router.BuiltinFunctionNames(tt.list)
			require.NotEmpty(t, names)
			for _, name := range names {
				err := runReadOnly(db, "SELECT "+name+"()")
				var me *mysql.MySQLError
				if errors.As(err, &me) {
					require.NotContains(t, []uint16{1305, 1630}, me.Number, "%s is not a built-in of %s: %v", name, tt.kind, err)
				}
			}
		})
	}
}
