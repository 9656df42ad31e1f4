package ecosystem_test

import (
	"context"
	"testing"
	"testing/fstest"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	"github.com/stretchr/testify/require"

	"github.com/sqlreplica/sqlreplica/replica"
)

// gooseMigrations returns three migrations on table: create, seed, alter.
func gooseMigrations(table string) fstest.MapFS {
	file := func(up, down string) *fstest.MapFile {
		return &fstest.MapFile{Data: []byte("-- +goose Up\n" + up + "\n-- +goose Down\n" + down + "\n")}
	}
	return fstest.MapFS{
		"00001_create.sql": file("CREATE TABLE "+table+" (id int PRIMARY KEY, name varchar(50) NOT NULL);", "DROP TABLE "+table+";"),
		"00002_seed.sql":   file("INSERT INTO "+table+" (id, name) VALUES (1, 'seed');\nINSERT INTO "+table+" (id, name) VALUES (2, 'more');", "DELETE FROM "+table+";"),
		"00003_alter.sql":  file("ALTER TABLE "+table+" ADD COLUMN n int;\nUPDATE "+table+" SET n = id * 10;", "ALTER TABLE "+table+" DROP COLUMN n;"),
	}
}

// TestGoose migrates with goose's Provider over SQLDB under CausalReads:
// goose's reads of its version table (on a *sql.Conn, before and after its
// writes) see every migration at once, a second provider finds nothing to
// do, and the application reads the new table the moment Up returns,
// though the replica gets it a second later.
func TestGoose(t *testing.T) {
	forEachKind(t, func(t *testing.T, e *env) {
		rdb := e.open(replica.CausalReads())
		ctx := context.Background()
		table := e.table("goose")
		fsys := gooseMigrations(table)
		newProvider := func() *goose.Provider {
			d := goose.DialectMySQL
			opts := []goose.ProviderOption{goose.WithTableName(table + "_version"), goose.WithDisableGlobalRegistry(true)}
			if e.pg() {
				d = goose.DialectPostgres
				// Goose holds an advisory lock on its *sql.Conn while
				// it migrates: the lock and what follows run on the
				// primary.
				l, err := lock.NewPostgresSessionLocker(lock.WithLockID(int64(tableSeq.Add(1)) + 1<<40))
				require.NoError(t, err)
				opts = append(opts, goose.WithSessionLocker(l))
			}
			p, err := goose.NewProvider(d, rdb.SQLDB(), fsys, opts...)
			require.NoError(t, err)
			return p
		}

		results, err := newProvider().Up(ctx)
		require.NoError(t, err)
		require.Len(t, results, 3)
		e.staleOnReplica("SELECT count(*) FROM "+table, 2)

		// The application reads what the migrations made at once.
		var name string
		var n int
		require.NoError(t, rdb.SQLDB().QueryRowContext(ctx, "SELECT name, n FROM "+table+" WHERE id = 2").Scan(&name, &n))
		require.Equal(t, "more", name)
		require.Equal(t, 20, n)

		// A second provider, as at the next deploy, reads the version
		// table at once and finds nothing to do.
		p := newProvider()
		v, err := p.GetDBVersion(ctx)
		require.NoError(t, err)
		require.EqualValues(t, 3, v)
		results, err = p.Up(ctx)
		require.NoError(t, err)
		require.Empty(t, results)
		status, err := p.Status(ctx)
		require.NoError(t, err)
		require.Len(t, status, 3)
		for _, s := range status {
			require.Equal(t, goose.StateApplied, s.State, s.Source.Path)
		}

		// Down undoes the last migration; the application sees that at once.
		_, err = p.Down(ctx)
		require.NoError(t, err)
		require.Error(t, rdb.SQLDB().QueryRowContext(ctx, "SELECT n FROM "+table+" WHERE id = 1").Scan(&n), "column n is gone")
		v, err = newProvider().GetDBVersion(ctx)
		require.NoError(t, err)
		require.EqualValues(t, 2, v)
	})
}
