package ecosystem_test

import (
	"context"
	"database/sql"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/mysqldialect"
	"github.com/uptrace/bun/dialect/pgdialect"
	"github.com/uptrace/bun/schema"

	"github.com/sqlreplica/sqlreplica/consistency"
)

type bunItem struct {
	bun.BaseModel `bun:"table:bun_items,alias:b"`

	ID      int64     `bun:"id,pk,autoincrement"`
	Name    string    `bun:"name,notnull"`
	Created time.Time `bun:"created,nullzero,notnull,default:current_timestamp"`
}

// TestBun runs bun over SQLDB: NewSelect on the replica, NewInsert (with
// Returning on PostgreSQL) on the primary, a session reading its writes at
// once, and RunInTx pinned whole: read-write on the primary, read-only on
// the replica, a rollback leaving nothing.
func TestBun(t *testing.T) {
	forEachKind(t, func(t *testing.T, e *env) {
		rdb := e.open()
		var d schema.Dialect = mysqldialect.New()
		if e.pg() {
			d = pgdialect.New()
		}
		b := bun.NewDB(rdb.SQLDB(), d)
		ctx := context.Background()
		table := e.table("bun")
		_, err := b.NewRaw("CREATE TABLE " + table + " (" + e.autoID() + ", name varchar(50) NOT NULL, created timestamp NOT NULL DEFAULT current_timestamp)").Exec(ctx)
		require.NoError(t, err)
		e.waitReplicated("SELECT count(*) FROM "+table, 0)
		tableExpr := table + " AS b"

		// NewSelect runs on the replica.
		var port int
		require.NoError(t, b.NewSelect().ColumnExpr(e.whoExpr()).Scan(ctx, &port))
		assert.Equal(t, "replica1", e.name(port), "served by")

		// NewInsert runs on the primary; the id comes back through
		// RETURNING on PostgreSQL and LastInsertId on MySQL and MariaDB.
		sctx := consistency.WithSession(ctx)
		item := &bunItem{Name: "ada"}
		q := b.NewInsert().Model(item).ModelTableExpr(table)
		if e.pg() {
			q = q.Returning("id, created")
		}
		_, err = q.Exec(sctx)
		require.NoError(t, err)
		require.NotZero(t, item.ID)
		if e.pg() {
			require.False(t, item.Created.IsZero(), "RETURNING filled created")
			// A RETURNING insert scanned into values runs on the primary.
			var id int64
			require.NoError(t, b.NewInsert().Model(&bunItem{Name: "bob"}).ModelTableExpr(table).Returning("id").Scan(sctx, &id))
			require.Greater(t, id, item.ID)
		} else {
			_, err = b.NewInsert().Model(&bunItem{Name: "bob"}).ModelTableExpr(table).Exec(sctx)
			require.NoError(t, err)
		}
		e.staleOnReplica("SELECT count(*) FROM "+table, 2)

		// The session's NewSelect sees both rows at once.
		var items []bunItem
		require.NoError(t, b.NewSelect().Model(&items).ModelTableExpr(tableExpr).Order("b.id").Scan(sctx))
		require.Len(t, items, 2)
		require.Equal(t, "ada", items[0].Name)
		n, err := b.NewSelect().Model((*bunItem)(nil)).ModelTableExpr(tableExpr).Where("b.name = ?", "bob").Count(sctx)
		require.NoError(t, err)
		require.Equal(t, 1, n)

		// RunInTx: the whole transaction on the primary.
		require.NoError(t, b.RunInTx(sctx, nil, func(ctx context.Context, tx bun.Tx) error {
			if err := tx.NewRaw(e.whoQuery()).Scan(ctx, &port); err != nil {
				return err
			}
			assert.Equal(t, "primary", e.name(port), "served by")
			_, err := tx.NewInsert().Model(&bunItem{Name: "tx"}).ModelTableExpr(table).Exec(ctx)
			return err
		}))
		n, err = b.NewSelect().Model((*bunItem)(nil)).ModelTableExpr(tableExpr).Count(sctx)
		require.NoError(t, err)
		require.Equal(t, 3, n, "the session sees the committed transaction")

		// A RunInTx that fails leaves nothing.
		errBoom := errors.New("boom")
		require.ErrorIs(t, b.RunInTx(sctx, nil, func(ctx context.Context, tx bun.Tx) error {
			if _, err := tx.NewInsert().Model(&bunItem{Name: "gone"}).ModelTableExpr(table).Exec(ctx); err != nil {
				return err
			}
			return errBoom
		}), errBoom)
		n, err = b.NewSelect().Model((*bunItem)(nil)).ModelTableExpr(tableExpr).Count(sctx)
		require.NoError(t, err)
		require.Equal(t, 3, n)

		// A read-only RunInTx runs on the replica, which refuses writes.
		errRefused := errors.New("refused")
		require.ErrorIs(t, b.RunInTx(ctx, &sql.TxOptions{ReadOnly: true}, func(ctx context.Context, tx bun.Tx) error {
			if err := tx.NewSelect().ColumnExpr(e.whoExpr()).Scan(ctx, &port); err != nil {
				return err
			}
			assert.Equal(t, "replica1", e.name(port), "served by")
			_, err := tx.NewInsert().Model(&bunItem{Name: "ro"}).ModelTableExpr(table).Exec(ctx)
			require.Error(t, err, "a write in a read-only transaction")
			return errRefused
		}), errRefused)

		// sql.ErrNoRows comes through bun unchanged.
		var none bunItem
		require.ErrorIs(t, b.NewSelect().Model(&none).ModelTableExpr(tableExpr).Where("b.name = ?", "nobody").Scan(sctx), sql.ErrNoRows)
	})
}
