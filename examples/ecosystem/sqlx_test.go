package ecosystem_test

import (
	"context"
	"database/sql"
	"testing"

	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sqlreplica/sqlreplica/consistency"
)

type sqlxItem struct {
	ID   int64  `db:"id"`
	Name string `db:"name"`
	N    int    `db:"n"`
}

// TestSQLX runs sqlx over SQLDB: Get and Select on a replica, NamedExec on
// the primary, a session's read seeing its write at once despite the late
// replica, and Beginx transactions pinned whole: read-only on the replica,
// read-write on the primary.
func TestSQLX(t *testing.T) {
	forEachKind(t, func(t *testing.T, e *env) {
		rdb := e.open()
		x := sqlx.NewDb(rdb.SQLDB(), e.driverName())
		ctx := context.Background()
		table := e.table("sqlx")
		_, err := x.ExecContext(ctx, "CREATE TABLE "+table+" ("+e.autoID()+", name varchar(50) NOT NULL, n int NOT NULL)")
		require.NoError(t, err, "a CREATE TABLE runs on the primary")
		e.waitReplicated("SELECT count(*) FROM "+table, 0)

		// Get and Select: reads run on the replica.
		var port int
		require.NoError(t, x.GetContext(ctx, &port, e.whoQuery()))
		assert.Equal(t, "replica1", e.name(port), "served by")
		var ports []int
		require.NoError(t, x.SelectContext(ctx, &ports, e.whoQuery()))
		assert.Equal(t, []int{e.c.Replicas[0].Port}, ports, "served by")

		// NamedExec in a session writes on the primary; the session's next
		// Get and Select see the write at once.
		sctx := consistency.WithSession(ctx)
		res, err := x.NamedExecContext(sctx, "INSERT INTO "+table+" (name, n) VALUES (:name, :n)", []sqlxItem{{Name: "a", N: 1}, {Name: "b", N: 2}})
		require.NoError(t, err)
		n, err := res.RowsAffected()
		require.NoError(t, err)
		require.EqualValues(t, 2, n)
		e.staleOnReplica("SELECT count(*) FROM "+table, 2)
		var got sqlxItem
		require.NoError(t, x.GetContext(sctx, &got, x.Rebind("SELECT id, name, n FROM "+table+" WHERE name = ?"), "b"))
		require.Equal(t, 2, got.N)
		var all []sqlxItem
		require.NoError(t, x.SelectContext(sctx, &all, "SELECT id, name, n FROM "+table+" ORDER BY name"))
		require.Len(t, all, 2)
		require.Equal(t, "a", all[0].Name)

		// A read-only transaction runs whole on the replica, which refuses
		// a write in it.
		ro, err := x.BeginTxx(ctx, &sql.TxOptions{ReadOnly: true})
		require.NoError(t, err)
		require.NoError(t, ro.GetContext(ctx, &port, e.whoQuery()))
		assert.Equal(t, "replica1", e.name(port), "served by")
		_, err = ro.ExecContext(ctx, "INSERT INTO "+table+" (name, n) VALUES ('ro', 0)")
		require.Error(t, err, "a write in a read-only transaction")
		require.NoError(t, ro.Rollback())

		// A read-write transaction runs whole on the primary, its reads
		// included; the session sees its commit at once.
		rw, err := x.BeginTxx(sctx, nil)
		require.NoError(t, err)
		require.NoError(t, rw.GetContext(sctx, &port, e.whoQuery()))
		assert.Equal(t, "primary", e.name(port), "served by")
		_, err = rw.NamedExecContext(sctx, "INSERT INTO "+table+" (name, n) VALUES (:name, :n)", sqlxItem{Name: "c", N: 3})
		require.NoError(t, err)
		var inTx int
		require.NoError(t, rw.GetContext(sctx, &inTx, "SELECT count(*) FROM "+table))
		require.Equal(t, 3, inTx, "the transaction sees its own write")
		require.NoError(t, rw.Commit())
		var count int
		require.NoError(t, x.GetContext(sctx, &count, "SELECT count(*) FROM "+table))
		require.Equal(t, 3, count)

		// Beginx, the context-free form, opens a read-write transaction on
		// the primary too.
		tx, err := x.Beginx()
		require.NoError(t, err)
		require.NoError(t, tx.Get(&port, e.whoQuery()))
		assert.Equal(t, "primary", e.name(port), "served by")
		require.NoError(t, tx.Rollback())

		// sql.ErrNoRows comes through unchanged.
		require.ErrorIs(t, x.GetContext(sctx, &got, x.Rebind("SELECT id, name, n FROM "+table+" WHERE name = ?"), "nobody"), sql.ErrNoRows)
	})
}
