package replica_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sqlreplica/sqlreplica/internal/testcluster"
	"github.com/sqlreplica/sqlreplica/replica"
	"github.com/sqlreplica/sqlreplica/router"
)

// TestUserWritersShadowingBuiltins checks the scan of the PostgreSQL
// catalog for user functions that may write: a public.lower(int) that
// writes makes lower(1) call it rather than pg_catalog.lower(text), and a
// user aggregate count(int) whose transition function writes makes
// count(x) of an int call it. Once the DB's first scan has settled, both go
// to the primary, while a STABLE user upper(int) leaves upper(1) on the
// replicas.
func TestUserWritersShadowingBuiltins(t *testing.T) {
	// Not parallel: its public.lower(int) and count(int) shadow built-ins every test of the shared
	// PostgreSQL cluster calls, and other DBs' catalog scans would find them.
	c := clusters.Get(t, testcluster.Postgres)
	ctx := context.Background()
	admin, err := c.Open(c.Primary)
	require.NoError(t, err)
	t.Cleanup(func() { admin.Close() })
	suffix := time.Now().UnixNano()
	tbl, w, sfunc := fmt.Sprintf("shadow_%d", suffix), fmt.Sprintf("shadow_w_%d", suffix), fmt.Sprintf("shadow_sfunc_%d", suffix)
	stmts := []string{
		"CREATE TABLE " + tbl + " (k int)",
		"CREATE FUNCTION " + w + "(int) RETURNS int LANGUAGE sql AS $$ INSERT INTO " + tbl + " VALUES ($1) RETURNING 1 $$",
		"CREATE FUNCTION public.lower(int) RETURNS int LANGUAGE sql AS $$ SELECT " + w + "($1) $$",
		"CREATE FUNCTION " + sfunc + "(int, int) RETURNS int LANGUAGE sql AS $$ SELECT " + w + "($2) $$",
		"CREATE AGGREGATE public.count(int) (SFUNC = " + sfunc + ", STYPE = int, INITCOND = '0')",
		"CREATE FUNCTION public.upper(int) RETURNS int LANGUAGE sql STABLE AS $$ SELECT $1 $$",
	}
	t.Cleanup(func() {
		for _, q := range []string{
			"DROP AGGREGATE IF EXISTS public.count(int)", "DROP FUNCTION IF EXISTS public.lower(int)",
			"DROP FUNCTION IF EXISTS public.upper(int)", "DROP FUNCTION IF EXISTS " + sfunc + "(int, int)",
			"DROP FUNCTION IF EXISTS " + w + "(int)", "DROP TABLE IF EXISTS " + tbl,
		} {
			_, err := admin.ExecContext(ctx, q)
			require.NoError(t, err, q)
		}
	})
	for _, q := range stmts {
		_, err := admin.ExecContext(ctx, q)
		require.NoError(t, err, q)
	}
	waitReplicated(t, c, "SELECT upper(1)", 1)

	db := openCluster(t, c)
	id := newIdentity(c)
	require.Eventually(t, func() bool { return replica.WriterScans(db) > 0 }, 15*time.Second, 10*time.Millisecond,
		"the catalog scan never settled")
	// A replica refuses the writing functions and the DB then runs the
	// statement on the primary, so where it ran proves little: check the
	// classification routing uses.
	for q, want := range map[string]router.Kind{
		"SELECT lower(1)":                   router.Write,
		"SELECT count(id) FROM users":       router.Write,
		"SELECT upper(1)":                   router.Read,
		"SELECT pg_catalog.lower('A')":      router.Write, // by name alone: conservative
		"SELECT app.lower(1)":               router.Write, // a Write name matches in every schema
		"SELECT lower('A') AS conservative": router.Write,
	} {
		require.Equal(t, want, replica.ClassifyFor(db, q), q)
	}
	for _, tt := range []struct {
		rest    string
		primary bool
	}{
		{"+ 0 * lower(1)", true},
		{"+ 0 * (SELECT count(x) FROM (VALUES (1), (2)) v(x))", true},
		{"+ 0 * upper(1)", false},
	} {
		got := id.who(t, ctx, db, tt.rest)
		if tt.primary {
			require.Equal(t, "primary", got, "SELECT … %s calls a user function that writes", tt.rest)
		} else {
			require.NotEqual(t, "primary", got, "SELECT … %s calls a STABLE user function", tt.rest)
		}
	}
	var n int
	require.NoError(t, admin.QueryRowContext(ctx, "SELECT count(*) FROM "+tbl).Scan(&n))
	require.Equal(t, 3, n, "lower(1) and count(x) over two rows ran the writing functions on the primary")
}
