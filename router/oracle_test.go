package router_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/sqlreplica/sqlreplica/internal/corpus"
	"github.com/sqlreplica/sqlreplica/internal/testcluster"
	"github.com/sqlreplica/sqlreplica/router"
)

var clusters testcluster.Set

func TestMain(m *testing.M) { os.Exit(clusters.Run(m)) }

// TestReadOnlyOracle runs every corpus statement of a dialect inside a
// read-only transaction on a real primary. A statement the classifier calls
// Read must run without error there: the server itself agrees it writes
// nothing. A statement it calls Write that the server accepts is a
// conservative miss: it could have gone to a replica, unless the corpus
// marks it OnPrimary (a lock, session state). Misses are counted and listed,
// and their number is held down.
func TestReadOnlyOracle(t *testing.T) {
	tests := []struct {
		kind    testcluster.Kind
		family  corpus.Family
		dialect router.Dialect
		maxMiss int
	}{
		{testcluster.Postgres, corpus.Postgres, router.PostgreSQL, 4},
		{testcluster.MariaDB, corpus.MariaDB, router.MariaDB, 6},
		{testcluster.MySQL, corpus.OracleMySQL, router.MySQL, 6},
	}
	for _, tt := range tests {
		t.Run(tt.kind.String(), func(t *testing.T) {
			c := clusters.Get(t, tt.kind)
			db := oracleDB(t, c, corpus.Schema(tt.family))
			cls, err := router.NewClassifier(tt.dialect, corpus.Functions)
			require.NoError(t, err)
			var reads, writes, confirmed, rejected, notRun, byDesign int
			var misses []string
			for _, tc := range corpus.Cases {
				if !tc.Family.In(tt.family) {
					continue
				}
				kind := cls.Classify(tc.SQL)
				if kind == router.Read {
					reads++
				} else {
					writes++
				}
				if tc.NoRun {
					require.Equal(t, router.Write, kind, "%q is not run, so it must not be a read", tc.SQL)
					notRun++
					continue
				}
				err := runReadOnly(db, tc.SQL)
				switch {
				case kind == router.Read:
					require.NoError(t, err, "classified Read, but the server refused it in a read-only transaction: %q", tc.SQL)
				case err == nil && tc.OnPrimary:
					byDesign++
				case err == nil:
					misses = append(misses, tc.SQL)
				case isReadOnlyError(err):
					confirmed++
				default:
					rejected++
				}
			}
			t.Logf("%s: %d statements: %d Read (all accepted read-only); %d Write: %d refused as writes, %d refused otherwise, "+
				"%d not run, %d accepted but on the primary by design (locks, session state, procedures), %d conservative misses",
				tt.kind, reads+writes, reads, writes, confirmed, rejected, notRun, byDesign, len(misses))
			for _, m := range misses {
				t.Logf("  conservative miss: %s", strings.ReplaceAll(m, "\n", `\n`))
			}
			require.LessOrEqual(t, len(misses), tt.maxMiss, "too many conservative misses")
		})
	}
}

// oracleDB creates a fresh database with the corpus schema on c's primary
// and returns a pool on it that runs multi-statement strings and never reuses
// a session.
func oracleDB(t *testing.T, c *testcluster.Cluster, schema []string) *sql.DB {
	t.Helper()
	ctx := context.Background()
	name := fmt.Sprintf("oracle_%d", time.Now().UnixNano())
	admin, err := c.OpenAdmin(c.Primary)
	require.NoError(t, err)
	defer admin.Close()
	_, err = admin.ExecContext(ctx, "CREATE DATABASE "+name)
	require.NoError(t, err)
	var dsn string
	if c.Kind == testcluster.Postgres {
		dsn = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable&default_query_exec_mode=simple_protocol", c.Primary.Port, name)
	} else {
		dsn = fmt.Sprintf("app:app@tcp(127.0.0.1:%d)/%s?multiStatements=true", c.Primary.Port, name)
	}
	db, err := sql.Open(c.DriverName(), dsn)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	for _, q := range schema {
		_, err := db.ExecContext(ctx, q)
		require.NoError(t, err, q)
	}
	db.SetMaxIdleConns(0)
	return db
}

// runReadOnly runs query in a read-only transaction and rolls it back.
func runReadOnly(db *sql.DB, query string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return err
	}
	defer tx.Rollback()
	_, err = tx.ExecContext(ctx, query)
	return err
}

func isReadOnlyError(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "25006"
	}
	var me *mysql.MySQLError
	return errors.As(err, &me) && (me.Number == 1792 || me.Number == 1290 || me.Number == 1836)
}
