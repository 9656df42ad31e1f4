package ecosystem_test

import (
	"context"
	"database/sql"
	"errors"
	"testing"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sqlreplica/sqlreplica/consistency"
)

// entInt runs a query through ent's driver interface and scans one int.
func entInt(t *testing.T, ctx context.Context, q dialect.ExecQuerier, query string, args ...any) int {
	t.Helper()
	if args == nil {
		args = []any{}
	}
	var rows entsql.Rows
	require.NoError(t, q.Query(ctx, query, args, &rows), query)
	defer rows.Close()
	require.True(t, rows.Next(), query)
	var v int
	require.NoError(t, rows.Scan(&v))
	require.NoError(t, rows.Close())
	require.NoError(t, rows.Err())
	return v
}

// TestEnt runs ent's SQL driver over SQLDB, with no generated code: Exec and
// Query through the driver, statements built with ent's dialect builder, a
// session reading its writes at once, transactions pinned whole, and
// entsql.WithVar's session variables, which ent sets on a *sql.Conn and the
// query after them must see.
func TestEnt(t *testing.T) {
	forEachKind(t, func(t *testing.T, e *env) {
		rdb := e.open()
		name := dialect.MySQL
		if e.pg() {
			name = dialect.Postgres
		}
		drv := entsql.OpenDB(name, rdb.SQLDB())
		ctx := context.Background()
		table := e.table("ent")
		require.NoError(t, drv.Exec(ctx, "CREATE TABLE "+table+" ("+e.autoID()+", name varchar(50) NOT NULL)", []any{}, nil))
		e.waitReplicated("SELECT count(*) FROM "+table, 0)

		// Query runs on the replica.
		assert.Equal(t, "replica1", e.name(entInt(t, ctx, drv, e.whoQuery())), "served by")

		// Exec of a built INSERT runs on the primary; the session's Query
		// sees it at once.
		sctx := consistency.WithSession(ctx)
		insert := func(ctx context.Context, q dialect.ExecQuerier, v string) sql.Result {
			query, args := entsql.Dialect(name).Insert(table).Columns("name").Values(v).Query()
			var res sql.Result
			require.NoError(t, q.Exec(ctx, query, args, &res))
			return res
		}
		res := insert(sctx, drv, "ada")
		n, err := res.RowsAffected()
		require.NoError(t, err)
		require.EqualValues(t, 1, n)
		e.staleOnReplica("SELECT count(*) FROM "+table, 1)
		count := func(ctx context.Context, q dialect.ExecQuerier) int {
			query, args := entsql.Dialect(name).Select(entsql.Count("*")).From(entsql.Table(table)).Query()
			return entInt(t, ctx, q, query, args...)
		}
		require.Equal(t, 1, count(sctx, drv))

		// drv.Tx: the whole transaction on the primary; its commit is
		// the session's write.
		tx, err := drv.Tx(sctx)
		require.NoError(t, err)
		assert.Equal(t, "primary", e.name(entInt(t, sctx, tx, e.whoQuery())), "served by")
		insert(sctx, tx, "bob")
		require.Equal(t, 2, count(sctx, tx))
		require.NoError(t, tx.Commit())
		require.Equal(t, 2, count(sctx, drv))

		// A rolled-back transaction leaves nothing.
		tx, err = drv.Tx(sctx)
		require.NoError(t, err)
		insert(sctx, tx, "gone")
		require.NoError(t, tx.Rollback())
		require.Equal(t, 2, count(sctx, drv))

		// A read-only transaction runs on the replica, which refuses a
		// write in it.
		ro, err := drv.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
		require.NoError(t, err)
		assert.Equal(t, "replica1", e.name(entInt(t, ctx, ro, e.whoQuery())), "served by")
		query, args := entsql.Dialect(name).Insert(table).Columns("name").Values("ro").Query()
		require.Error(t, ro.Exec(ctx, query, args, nil))
		require.NoError(t, ro.Rollback())

		// entsql.WithVar: ent takes a *sql.Conn, runs SET on it, then the
		// query. SET changes the session, so the Conn stays on the primary
		// and the query sees the variable.
		variable, read := "@ent_tenant", "SELECT CAST(@ent_tenant AS SIGNED), "+e.whoExpr()
		if e.pg() {
			variable, read = "ent.tenant", "SELECT current_setting('ent.tenant')::int, "+e.whoExpr()
		}
		vctx := entsql.WithVar(ctx, variable, "42")
		var rows entsql.Rows
		require.NoError(t, drv.Query(vctx, read, []any{}, &rows))
		require.True(t, rows.Next())
		var tenant, port int
		require.NoError(t, rows.Scan(&tenant, &port))
		require.NoError(t, rows.Close())
		require.Equal(t, 42, tenant, "the query ran on the connection that SET the variable")
		assert.Equal(t, "primary", e.name(port), "served by")

		// A failed Exec returns the server's error unchanged.
		err = drv.Exec(sctx, "INSERT INTO "+table+" (id, name) VALUES (1, 'dup')", []any{}, nil)
		require.Error(t, err)
		require.False(t, errors.Is(err, sql.ErrNoRows))
	})
}
