package replica_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sqlreplica/sqlreplica/internal/testcluster"
	"github.com/sqlreplica/sqlreplica/replica"
)

// TestUnknownFunctionsAreLookedUp checks the catalog lookup on real servers:
// a statement calling a user function the classifier does not know goes to
// the primary; once the primary's catalog has been read, a function that
// only reads (PostgreSQL STABLE or IMMUTABLE, schema-qualified or not;
// MySQL/MariaDB READS SQL DATA or NO SQL) lets its statements go to replicas,
// and one that may write (VOLATILE; MODIFIES SQL DATA) keeps them on the
// primary.
func TestUnknownFunctionsAreLookedUp(t *testing.T) {
	t.Parallel() // functions of its own on the shared clusters
	for _, k := range kinds {
		t.Run(k.String(), func(t *testing.T) {
			t.Parallel() // each kind has its own servers
			c := clusters.Get(t, k)
			db := openCluster(t, c)
			id := newIdentity(c)
			ctx := context.Background()
			suffix := time.Now().UnixNano()
			name := func(s string) string { return fmt.Sprintf("%s_%d", s, suffix) }
			type fn struct {
				call     string // how a statement calls it
				learnt   string // the name the DB looks up
				readOnly bool
			}
			var fns []fn
			var stmts []string
			if k == testcluster.Postgres {
				stmts = []string{
					"CREATE FUNCTION " + name("stable") + "(int) RETURNS int LANGUAGE sql STABLE AS $$ SELECT $1 $$",
					"CREATE FUNCTION " + name("immutable") + "(int) RETURNS int LANGUAGE sql IMMUTABLE AS $$ SELECT $1 $$",
					"CREATE FUNCTION " + name("qualified") + "(int) RETURNS int LANGUAGE sql STABLE AS $$ SELECT $1 $$",
					"CREATE FUNCTION " + name("volatile") + "(int) RETURNS int LANGUAGE sql VOLATILE AS $$ SELECT $1 $$",
					// One overload of two is volatile: the name stays unknown.
					"CREATE FUNCTION " + name("mixed") + "(int) RETURNS int LANGUAGE sql STABLE AS $$ SELECT $1 $$",
					"CREATE FUNCTION " + name("mixed") + "(text) RETURNS int LANGUAGE sql VOLATILE AS $$ SELECT 1 $$",
				}
				fns = []fn{
					{name("stable"), name("stable"), true},
					{name("immutable"), name("immutable"), true},
					{"public." + name("qualified"), "public." + name("qualified"), true},
					{name("volatile"), name("volatile"), false},
					{name("mixed"), name("mixed"), false},
				}
			} else {
				stmts = []string{
					"CREATE FUNCTION " + name("reads") + "(x int) RETURNS int READS SQL DATA RETURN x",
					"CREATE FUNCTION " + name("nosql") + "(x int) RETURNS int DETERMINISTIC NO SQL RETURN x",
					"CREATE FUNCTION " + name("modifies") + "(x int) RETURNS int MODIFIES SQL DATA RETURN x",
				}
				fns = []fn{
					{name("reads"), name("reads"), true},
					{"app." + name("nosql"), "app." + name("nosql"), true},
					{name("modifies"), name("modifies"), false},
				}
			}
			for _, q := range stmts {
				_, err := db.ExecContext(ctx, q)
				require.NoError(t, err, q)
			}
			last := fns[len(fns)-1].call
			waitReplicated(t, c, "SELECT "+last+"(1)", 1)
			for _, f := range fns {
				rest := "+ 0 * " + f.call + "(1)"
				require.Equal(t, "primary", id.who(t, ctx, db, rest), "%s is unknown until looked up", f.call)
				require.Eventually(t, func() bool {
					settled, _ := replica.FunctionVerdict(db, f.learnt)
					// A function that may write can instead be named by the
					// background scan for such functions, before any lookup:
					// its calls are then writes without one.
					return settled || !f.readOnly && replica.KnownWriter(db, f.learnt)
				}, 15*time.Second, 10*time.Millisecond, "%s never looked up", f.learnt)
				_, readOnly := replica.FunctionVerdict(db, f.learnt)
				require.Equal(t, f.readOnly, readOnly, f.learnt)
				want := "a replica"
				got := id.who(t, ctx, db, rest)
				if !f.readOnly {
					want = "primary"
					require.Equal(t, "primary", got, "%s may write, yet its statement left the primary", f.call)
				} else {
					require.NotEqual(t, "primary", got, "%s is read-only, yet its statement stays on the primary", f.call)
				}
				t.Logf("%s: read-only %v, served by %s (want %s)", f.call, readOnly, got, want)
			}
		})
	}
}
