package ecosystem_test

import (
	"context"
	"database/sql"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sqlreplica/sqlreplica/consistency"
	"github.com/sqlreplica/sqlreplica/examples/ecosystem/internal/authorsmysql"
	"github.com/sqlreplica/sqlreplica/examples/ecosystem/internal/authorspg"
)

// author is one row of GetAuthor, whichever engine's package produced it.
type author struct {
	ID       int64
	Name     string
	Bio      sql.NullString
	ServedBy int32
}

// sqlcQueries is the part of sqlc's generated Queries the test uses, over
// both engines' packages.
type sqlcQueries struct {
	create func(ctx context.Context, name string, bio sql.NullString) (int64, error)
	get    func(ctx context.Context, id int64) (author, error)
	withTx func(tx *sql.Tx) sqlcQueries
	close  func() error
}

func pgQueries(q *authorspg.Queries) sqlcQueries {
	return sqlcQueries{
		create: func(ctx context.Context, name string, bio sql.NullString) (int64, error) {
			return q.CreateAuthor(ctx, authorspg.CreateAuthorParams{Name: name, Bio: bio})
		},
		get: func(ctx context.Context, id int64) (author, error) {
			a, err := q.GetAuthor(ctx, id)
			return author(a), err
		},
		withTx: func(tx *sql.Tx) sqlcQueries { return pgQueries(q.WithTx(tx)) },
		close:  q.Close,
	}
}

func mysqlQueries(q *authorsmysql.Queries) sqlcQueries {
	return sqlcQueries{
		create: func(ctx context.Context, name string, bio sql.NullString) (int64, error) {
			return q.CreateAuthor(ctx, authorsmysql.CreateAuthorParams{Name: name, Bio: bio})
		},
		get: func(ctx context.Context, id int64) (author, error) {
			a, err := q.GetAuthor(ctx, id)
			return author(a), err
		},
		withTx: func(tx *sql.Tx) sqlcQueries { return mysqlQueries(q.WithTx(tx)) },
		close:  q.Close,
	}
}

// TestSQLC runs the code sqlc v1.30.0 generates with emit_prepared_queries
// over SQLDB: Prepare prepares both queries once on the routing *sql.DB,
// and each execution is routed on its own (GetAuthor on the replica,
// CreateAuthor on the primary, a session's GetAuthor seeing its
// CreateAuthor); WithTx runs the prepared statements inside a transaction,
// pinned whole to the primary, or to the replica when read-only. New (no
// preparing) works the same.
func TestSQLC(t *testing.T) {
	forEachKind(t, func(t *testing.T, e *env) {
		rdb := e.open()
		db := rdb.SQLDB()
		ctx := context.Background()
		// The generated queries name their table: it is this test's alone.
		e.exec("DROP TABLE IF EXISTS sqlc_authors",
			"CREATE TABLE sqlc_authors ("+e.autoID()+", name varchar(50) NOT NULL, bio text)",
			"INSERT INTO sqlc_authors (name) VALUES ('seed')")
		e.waitReplicated("SELECT count(*) FROM sqlc_authors", 1)
		var seed int64
		require.NoError(t, e.primary.QueryRow("SELECT id FROM sqlc_authors").Scan(&seed))

		prepare := func(db interface {
			authorspg.DBTX
			authorsmysql.DBTX
		}) sqlcQueries {
			if e.pg() {
				q, err := authorspg.Prepare(ctx, db)
				require.NoError(t, err)
				return pgQueries(q)
			}
			q, err := authorsmysql.Prepare(ctx, db)
			require.NoError(t, err)
			return mysqlQueries(q)
		}
		unprepared := mysqlQueries(authorsmysql.New(db))
		if e.pg() {
			unprepared = pgQueries(authorspg.New(db))
		}
		q := prepare(db)
		t.Cleanup(func() { require.NoError(t, q.close()) })

		for _, q := range []sqlcQueries{q, unprepared} {
			// A prepared read, executed again and again: the replica.
			for range 3 {
				a, err := q.get(ctx, seed)
				require.NoError(t, err)
				require.Equal(t, "seed", a.Name)
				assert.Equal(t, "replica1", e.name(int(a.ServedBy)), "served by")
			}
			_, err := q.get(ctx, -1)
			require.ErrorIs(t, err, sql.ErrNoRows)

			// A prepared write in a session: the primary; the session's
			// read sees it at once.
			sctx := consistency.WithSession(ctx)
			id, err := q.create(sctx, "ada", sql.NullString{String: "math", Valid: true})
			require.NoError(t, err)
			require.NotZero(t, id)
			a, err := q.get(sctx, id)
			require.NoError(t, err)
			require.Equal(t, "ada", a.Name)
			require.Equal(t, sql.NullString{String: "math", Valid: true}, a.Bio)

			// WithTx: the prepared statements inside a read-write
			// transaction, all on the primary.
			tx, err := db.BeginTx(sctx, nil)
			require.NoError(t, err)
			qtx := q.withTx(tx)
			id, err = qtx.create(sctx, "bob", sql.NullString{})
			require.NoError(t, err)
			a, err = qtx.get(sctx, id)
			require.NoError(t, err)
			require.False(t, a.Bio.Valid)
			assert.Equal(t, "primary", e.name(int(a.ServedBy)), "served by")
			require.NoError(t, tx.Commit())
			a, err = q.get(sctx, id)
			require.NoError(t, err, "the session sees the commit")
			require.Equal(t, "bob", a.Name)

			// A rolled-back transaction leaves nothing.
			tx, err = db.BeginTx(sctx, nil)
			require.NoError(t, err)
			gone, err := q.withTx(tx).create(sctx, "gone", sql.NullString{})
			require.NoError(t, err)
			require.NoError(t, tx.Rollback())
			_, err = q.get(sctx, gone)
			require.ErrorIs(t, err, sql.ErrNoRows)

			// In a read-only transaction, on the replica; a write refused.
			tx, err = db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
			require.NoError(t, err)
			a, err = q.withTx(tx).get(ctx, seed)
			require.NoError(t, err)
			assert.Equal(t, "replica1", e.name(int(a.ServedBy)), "served by")
			_, err = q.withTx(tx).create(ctx, "ro", sql.NullString{})
			require.Error(t, err)
			require.NoError(t, tx.Rollback())
		}
	})
}
