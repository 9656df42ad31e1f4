package replica_test

import (
	"context"
	"database/sql"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sqlreplica/sqlreplica/internal/testcluster"
	"github.com/sqlreplica/sqlreplica/replica"
)

// TestReview3MasterMasterWritesOnlyOnTheWriter: under MultiPrimary both
// servers accept writes, so nothing but the routing keeps a write off the
// non-writer. Every entry point (DB.Exec, the SQLDB view, Conn, a prepared
// statement, a transaction, a read-only-declared function that writes) must
// write on the writer only.
func TestReview3MasterMasterWritesOnlyOnTheWriter(t *testing.T) {
	t.Parallel() // its cluster is its own
	c := testcluster.Start(t, testcluster.MasterMaster, testcluster.Options{})
	db := openCluster(t, c, replica.MultiPrimary(), replica.CheckInterval(100*time.Millisecond))
	id := newIdentity(c)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	require.Equal(t, 0, db.CheckNow(ctx).Writer)
	table := fmt.Sprintf("mmw_%d", time.Now().UnixNano())
	_, err := db.ExecContext(ctx, "CREATE TABLE "+table+" (k varchar(100) PRIMARY KEY, w int)")
	require.NoError(t, err)
	insert := "INSERT INTO " + table + " (k, w) VALUES (?, @@server_id)"

	conn, err := db.Conn(ctx)
	require.NoError(t, err)
	defer conn.Close()
	stmt, err := db.PrepareContext(ctx, insert)
	require.NoError(t, err)
	defer stmt.Close()
	paths := map[string]func(k string) error{
		"Exec":  func(k string) error { _, err := db.ExecContext(ctx, insert, k); return err },
		"SQLDB": func(k string) error { _, err := db.SQLDB().ExecContext(ctx, insert, k); return err },
		"Conn":  func(k string) error { _, err := conn.ExecContext(ctx, insert, k); return err },
		"Stmt":  func(k string) error { _, err := stmt.ExecContext(ctx, k); return err },
		"Tx": func(k string) error {
			tx, err := db.BeginTx(ctx, nil)
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, insert, k); err != nil {
				_ = tx.Rollback()
				return err
			}
			return tx.Commit()
		},
		"QueryRow": func(k string) error {
			return db.QueryRowContext(ctx, insert+" RETURNING w", k).Scan(new(int))
		},
	}
	for name, write := range paths {
		for i := 0; i < 20; i++ {
			require.NoError(t, write(fmt.Sprintf("%s-%d", name, i)), name)
		}
	}

	admin, err := c.OpenAdmin(c.Primary)
	require.NoError(t, err)
	defer admin.Close()
	time.Sleep(500 * time.Millisecond) // replication both ways
	rows, err := admin.QueryContext(ctx, "SELECT k, w FROM "+"app."+table)
	require.NoError(t, err)
	defer rows.Close()
	var wrong []string
	for rows.Next() {
		var k string
		var w sql.NullInt64
		require.NoError(t, rows.Scan(&k, &w))
		if id.name(int(w.Int64)) != c.Primary.Name {
			wrong = append(wrong, fmt.Sprintf("%s on %s", k, id.name(int(w.Int64))))
		}
	}
	require.NoError(t, rows.Err())
	require.Empty(t, wrong, "writes reached the non-writer")

	t.Run("ReadOnlyDeclaredFunctionThatWrites", func(t *testing.T) {
		// A function its author declared READS SQL DATA that writes: learnt
		// read-only from the catalog, its calls go to readers, where on a
		// primary-replica set read_only refuses the write and the call moves to
		// the primary. A master-master reader is writable.
		fn := fmt.Sprintf("review3_liar_%d", time.Now().UnixNano())
		_, err := admin.ExecContext(ctx, "CREATE FUNCTION "+"app."+fn+"(k varchar(100)) RETURNS int READS SQL DATA BEGIN INSERT INTO "+"app."+table+" (k, w) VALUES (k, @@server_id); RETURN 1; END")
		require.NoError(t, err)
		_, _ = admin.ExecContext(ctx, "GRANT EXECUTE ON app.* TO 'app'@'%'") // may hold it already
		deadline := time.Now().Add(5 * time.Second)
		for i := 0; time.Now().Before(deadline); i++ {
			var who int
			if err := db.QueryRowContext(ctx, "SELECT "+id.whoExpr()+", "+fn+"(?)", fmt.Sprint("fn-", i)).Scan(&who, new(int)); err != nil {
				t.Logf("function call: %v", err)
			}
			time.Sleep(20 * time.Millisecond)
		}

		time.Sleep(500 * time.Millisecond)
		var n int
		require.NoError(t, admin.QueryRowContext(ctx, "SELECT COUNT(*) FROM app."+table+" WHERE k LIKE 'fn-%' AND w <> @@server_id").Scan(&n))
		require.Zero(t, n, "calls of a read-only-declared function that writes ran on the non-writer")
	})
}
