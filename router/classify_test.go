package router_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sqlreplica/sqlreplica/internal/corpus"
	"github.com/sqlreplica/sqlreplica/router"
)

// classifiers returns the classifiers a corpus case is checked with.
func classifiers(t testing.TB, f corpus.Family) map[string]*router.Classifier {
	t.Helper()
	mk := func(d router.Dialect) *router.Classifier {
		c, err := router.NewClassifier(d, corpus.Functions)
		require.NoError(t, err)
		return c
	}
	switch f {
	case corpus.Postgres:
		return map[string]*router.Classifier{"postgresql": mk(router.PostgreSQL)}
	case corpus.MySQL:
		return map[string]*router.Classifier{"mysql": mk(router.MySQL), "mariadb": mk(router.MariaDB)}
	case corpus.MariaDB:
		return map[string]*router.Classifier{"mariadb": mk(router.MariaDB)}
	case corpus.OracleMySQL:
		return map[string]*router.Classifier{"mysql": mk(router.MySQL)}
	}
	return map[string]*router.Classifier{
		"postgresql": mk(router.PostgreSQL), "mysql": mk(router.MySQL),
		"mariadb": mk(router.MariaDB), "any": mk(0),
	}
}

func TestClassifyCorpus(t *testing.T) {
	for _, tc := range corpus.Cases {
		for name, c := range classifiers(t, tc.Family) {
			d := c.Explain(tc.SQL)
			if d.Kind != tc.Want {
				t.Errorf("%s: Classify(%q) = %v (%v at %d), want %v", name, tc.SQL, d.Kind, d.Reason, d.Offset, tc.Want)
			}
		}
	}
}

func TestClassifyWithoutDialectIsConservative(t *testing.T) {
	// Read with no dialect means Read under every dialect's rules.
	pg, _ := router.NewClassifier(router.PostgreSQL, router.Functions{})
	my, _ := router.NewClassifier(router.MySQL, router.Functions{})
	for _, tc := range corpus.Cases {
		if router.Classify(tc.SQL) == router.Read {
			require.Equal(t, router.Read, pg.Classify(tc.SQL), tc.SQL)
			require.Equal(t, router.Read, my.Classify(tc.SQL), tc.SQL)
		}
	}
}

func TestClassifyDialectDifferences(t *testing.T) {
	tests := []struct {
		name   string
		query  string
		pg, my router.Kind
	}{
		{"hash is a comment only in MySQL", "SELECT 1 # ; DELETE FROM t", router.Write, router.Read},
		{"double dash needs a space in MySQL", "SELECT 1--1; DELETE FROM t", router.Read, router.Write},
		{"dollar quotes are strings only in PostgreSQL", "SELECT $$; DELETE FROM t; $$", router.Read, router.Write},
		{"comments nest only in PostgreSQL", "SELECT 1 /* /* */ ; DELETE FROM t */", router.Read, router.Write},
		{"MySQL runs executable comments", "SELECT 1 /*!50000 ; DELETE FROM t */", router.Read, router.Write},
		{"backslash escapes are ambiguous in MySQL", `SELECT 'a\'; DELETE FROM t; -- '`, router.Write, router.Write},
		{"E strings escape in PostgreSQL", `SELECT E'a\'; DELETE FROM t; -- '`, router.Read, router.Write},
		{"backticks quote only in MySQL", "SELECT `x; DELETE FROM t`", router.Write, router.Read},
	}
	pg, _ := router.NewClassifier(router.PostgreSQL, router.Functions{})
	my, _ := router.NewClassifier(router.MySQL, router.Functions{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.pg, pg.Classify(tt.query), "postgresql")
			require.Equal(t, tt.my, my.Classify(tt.query), "mysql")
			want := router.Read
			if tt.pg == router.Write || tt.my == router.Write {
				want = router.Write
			}
			require.Equal(t, want, router.Classify(tt.query), "no dialect")
		})
	}
}

func TestExplainReasons(t *testing.T) {
	tests := []struct {
		query  string
		reason router.Reason
		offset int
	}{
		{"SELECT 1", router.ReasonRead, -1},
		{"", router.ReasonEmpty, -1},
		{"SELECT 'x", router.ReasonUnparsable, 7},
		{"INSERT INTO t VALUES (1)", router.ReasonNotRead, 0},
		{"WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d", router.ReasonModifies, 11},
		{"SELECT * FROM t FOR UPDATE", router.ReasonLocks, 16},
		{"SELECT * FROM t LOCK IN SHARE MODE", router.ReasonLocks, 16},
		{"SELECT a INTO b FROM t", router.ReasonInto, 9},
		{"SELECT nextval('s')", router.ReasonFunction, 7},
		{"SELECT NEXT VALUE FOR s", router.ReasonSequence, 7},
		{"SELECT @a := 1", router.ReasonAssign, 10},
		{"REPLACE INTO t VALUES (1)", router.ReasonNotRead, 0},
	}
	for _, tt := range tests {
		d := router.Explain(tt.query)
		require.Equal(t, tt.reason, d.Reason, tt.query)
		require.Equal(t, tt.offset, d.Offset, tt.query)
		require.NotEqual(t, "unset", d.Reason.String())
	}
}

func TestNewClassifierRejectsBadInput(t *testing.T) {
	for _, name := range []string{"", "1abc", "a b", "x;DROP", strings.Repeat("a", 65), "a.b.c", ".a", "a.", "a..b",
		"app." + strings.Repeat("a", 65), `"quoted"`, "a-b"} {
		for _, f := range []router.Functions{{Write: []string{name}}, {Read: []string{name}}} {
			_, err := router.NewClassifier(router.PostgreSQL, f)
			require.True(t, errors.Is(err, router.ErrBadFunctionName), "%q: %v", name, err)
		}
	}
	_, err := router.NewClassifier(router.Dialect(99), router.Functions{})
	require.Error(t, err)
	c, err := router.NewClassifier(router.PostgreSQL, router.Functions{Write: []string{"Audit_Event"}})
	require.NoError(t, err)
	require.Equal(t, router.Write, c.Classify("SELECT app.AUDIT_EVENT(1)"))
	d := c.Explain("SELECT audit_events(1)")
	require.Equal(t, router.ReasonUnknownFunction, d.Reason)
	require.Equal(t, "audit_events", d.Function)
}

func TestClassifyHostileInput(t *testing.T) {
	inputs := []string{
		strings.Repeat("(", 100000) + "SELECT 1",
		strings.Repeat("/*", 50000),
		strings.Repeat("'", 99999),
		"SELECT \x00\xff\xfe",
		"$", "$$", "$a", "$a$", "E'", "`", "--", "#", "/*!", "/*M!", "*/", "SELECT 1 */",
	}
	for _, q := range inputs {
		_ = router.Classify(q)
		for _, d := range []router.Dialect{router.PostgreSQL, router.MySQL} {
			c, _ := router.NewClassifier(d, router.Functions{})
			if c.Classify(q) == router.Read && !strings.Contains(q, "SELECT") {
				t.Errorf("%v: %q classified Read", d, q)
			}
		}
	}
}

func TestClassifyDoesNotAllocate(t *testing.T) {
	if testing.Short() {
		t.Skip("allocation check")
	}
	c, _ := router.NewClassifier(router.PostgreSQL, router.Functions{Write: []string{"audit_event"}})
	q := benchSelect
	allocs := testing.AllocsPerRun(100, func() {
		_ = c.Classify(q)
		_ = router.Classify(q)
		_ = c.Classify("SELECT $$x$$, E'\\'', audit_event(1)")
	})
	require.Zero(t, allocs)
}

func TestKindAndDialectStrings(t *testing.T) {
	require.Equal(t, "read", router.Read.String())
	require.Equal(t, "write", router.Write.String())
	require.Equal(t, "unset", router.Kind(0).String())
	require.Equal(t, "postgresql", router.PostgreSQL.String())
	require.Equal(t, "mariadb", router.MariaDB.String())
	require.Equal(t, "unknown", router.Dialect(0).String())
}
