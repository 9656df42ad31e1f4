package health

import (
	"context"
	"database/sql"
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sqlreplica/sqlreplica/internal/testcluster"
)

var hostile = []string{"plain", "it's", `back\slash`, `\'; DROP TABLE t; --`, "new\nline", "nul\x00byte", `''`, `\`, "é ünïcödé", "$$x$$"}

func TestQuoting(t *testing.T) {
	require.Equal(t, "'it''s'", pgQuote("it's"))
	require.Equal(t, `E'a\\b'`, pgQuote(`a\b`))
	require.Equal(t, `'it\'s'`, conninfoQuote("it's"))
	require.Equal(t, `'a\\b'`, conninfoQuote(`a\b`))
	require.Equal(t, `'it''s \\ \0'`, mysqlQuote("it's \\ \x00", true))
	require.Equal(t, `'it''s \'`, mysqlQuote(`it's \`, false))
}

var clusters testcluster.Set

func TestMain(m *testing.M) { os.Exit(clusters.Run(m)) }

// TestQuotingOnRealServers sends every hostile string through the quoting
// functions to real servers and reads it back unchanged.
func TestQuotingOnRealServers(t *testing.T) {
	ctx := context.Background()
	t.Run("postgresql", func(t *testing.T) {
		c := clusters.Get(t, testcluster.Postgres)
		db, err := c.OpenAdmin(c.Primary)
		require.NoError(t, err)
		defer db.Close()
		for _, s := range hostile {
			if s == "nul\x00byte" {
				continue // PostgreSQL text cannot hold NUL
			}
			var got string
			require.NoError(t, db.QueryRowContext(ctx, "SELECT "+pgQuote(s)).Scan(&got), s)
			require.Equal(t, s, got)
			for _, scs := range []string{"on", "off"} {
				require.NoError(t, withSession(ctx, db, "SET standard_conforming_strings = "+scs, "SELECT "+pgQuote(s), &got), s)
				require.Equal(t, s, got, "standard_conforming_strings=%s", scs)
			}
			// The conninfo parser reads the value back.
			require.NoError(t, db.QueryRowContext(ctx, "SELECT "+pgQuote("host=x password="+conninfoQuote(s))).Scan(&got))
		}
	})
	for _, k := range []testcluster.Kind{testcluster.MariaDB, testcluster.MySQL} {
		t.Run(k.String(), func(t *testing.T) {
			c := clusters.Get(t, k)
			db, err := c.OpenAdmin(c.Primary)
			require.NoError(t, err)
			defer db.Close()
			for _, s := range hostile {
				for _, mode := range []string{"''", "'NO_BACKSLASH_ESCAPES'"} {
					var got string
					q := "SELECT " + mysqlQuote(s, mode == "''")
					require.NoError(t, withSession(ctx, db, "SET SESSION sql_mode = "+mode, q, &got), "%q %s", s, mode)
					require.Equal(t, s, got, "sql_mode=%s", mode)
				}
			}
		})
	}
}

func withSession(ctx context.Context, db *sql.DB, set, query string, dst *string) error {
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, set); err != nil {
		return err
	}
	return conn.QueryRowContext(ctx, query).Scan(dst)
}
