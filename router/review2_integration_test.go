package router_test

import (
	"context"
	"database/sql"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sqlreplica/sqlreplica/internal/corpus"
	"github.com/sqlreplica/sqlreplica/internal/testcluster"
	"github.com/sqlreplica/sqlreplica/router"
)

// review2Attack is a statement the classifier calls Read that a real server
// runs as a write or a lock: the test fails when the server shows the effect.
type review2Attack struct {
	name    string
	session []string // run first on the statement's own session
	sql     string
	// skip, when set, says why the classifier alone cannot hold the attack.
	skip string
}

// review2Limitation is the skip message of an attack no lexer can see.
const review2Limitation = "known limitation: a PostgreSQL user object (%s) runs a function the text does not name; " +
	"documented in README (Routing rules): a write is refused by the read-only replica and runs on the primary, " +
	"a lock or session state taken this way is not"

// review2PGSchema adds user objects that hide a writing function behind
// syntax the classifier reads as harmless.
var review2PGSchema = []string{
	`CREATE FUNCTION w1(int) RETURNS int LANGUAGE sql AS $$ INSERT INTO kv VALUES ('w1-' || $1, 'w') ON CONFLICT (k) DO UPDATE SET v = 'again' RETURNING 1 $$`,
	// An overload of a built-in's name in public: lower(1) resolves to it.
	`CREATE FUNCTION public.lower(int) RETURNS int LANGUAGE sql AS $$ SELECT w1($1) $$`,
	// A user aggregate named like a built-in one.
	`CREATE FUNCTION cnt_sfunc(int, int) RETURNS int LANGUAGE sql AS $$ SELECT w1($2) $$`,
	`CREATE AGGREGATE public.count(int) (SFUNC = cnt_sfunc, STYPE = int, INITCOND = '0')`,
	// Attribute notation: u.bump calls bump(u) without any parenthesis.
	`CREATE FUNCTION bump(users) RETURNS int LANGUAGE sql AS $$ SELECT w1($1.id) $$`,
	// An operator and a cast run functions without a call in the text.
	`CREATE FUNCTION w2(int, int) RETURNS int LANGUAGE sql AS $$ SELECT w1($1) $$`,
	`CREATE OPERATOR ### (LEFTARG = int, RIGHTARG = int, FUNCTION = w2)`,
	`CREATE TYPE wrap AS (x int)`,
	`CREATE FUNCTION to_wrap(int) RETURNS wrap LANGUAGE sql AS $$ SELECT ROW(w1($1))::wrap $$`,
	`CREATE CAST (int AS wrap) WITH FUNCTION to_wrap(int)`,
	`CREATE DOMAIN dom AS int CHECK (w1(VALUE) = 1)`,
	`CREATE VIEW v_bad AS SELECT w1(7) AS x`,
}

// TestReview2PostgresReadsThatWrite runs statements the PostgreSQL
// classifier calls Read in a read-only transaction on a real primary: each
// must run without error, since the promise is that a Read writes nothing.
func TestReview2PostgresReadsThatWrite(t *testing.T) {
	attacks := []review2Attack{
		{name: "overload of a built-in name", sql: `SELECT lower(1)`,
			skip: "needs the primary's catalog: replica.DB declares Write the user functions that may write " +
				"(replica's TestUserWritersShadowingBuiltins)"},
		{name: "user aggregate named count", sql: `SELECT count(id) FROM users`,
			skip: "needs the primary's catalog: replica.DB declares Write the user aggregates that may write " +
				"(replica's TestUserWritersShadowingBuiltins)"},
		{name: "attribute notation calls a function", sql: `SELECT u.bump FROM users u`,
			skip: fmt.Sprintf(review2Limitation, "attribute notation u.bump calling bump(users)")},
		{name: "parenthesised attribute notation", sql: `SELECT (u).bump FROM users u`,
			skip: fmt.Sprintf(review2Limitation, "attribute notation (u).bump")},
		{name: "user operator", sql: `SELECT 1 ### 2`,
			skip: fmt.Sprintf(review2Limitation, "an operator")},
		{name: "user cast", sql: `SELECT 1::wrap`,
			skip: fmt.Sprintf(review2Limitation, "a cast")},
		{name: "domain check", sql: `SELECT 1::dom`,
			skip: fmt.Sprintf(review2Limitation, "a domain's CHECK")},
		{name: "view over a writing function", sql: `SELECT * FROM v_bad`,
			skip: fmt.Sprintf(review2Limitation, "a view")},
		{
			// In SJIS, 0x81 0x5C is one character: the backslash escapes
			// nothing, the E'' string ends there and FOR UPDATE is code.
			name:    "SJIS client encoding: E'' string ends at a multibyte backslash",
			session: []string{`SET client_encoding = 'SJIS'`},
			sql:     "SELECT E'\x81\\' FROM users FOR UPDATE --'",
		},
		{
			name:    "BIG5 client encoding",
			session: []string{`SET client_encoding = 'BIG5'`},
			sql:     "SELECT E'\xa4\\' FROM users FOR UPDATE --'",
		},
	}
	c := clusters.Get(t, testcluster.Postgres)
	db := oracleDB(t, c, append(append([]string(nil), corpus.Schema(corpus.Postgres)...), review2PGSchema...))
	cls, err := router.NewClassifier(router.PostgreSQL, router.Functions{})
	require.NoError(t, err)
	for _, a := range attacks {
		t.Run(a.name, func(t *testing.T) {
			if a.skip != "" {
				t.Skip(a.skip)
			}
			d := cls.Explain(a.sql)
			if d.Kind != router.Read {
				t.Skipf("held: classified %v (%v)", d.Kind, d.Reason)
			}
			err := review2RunReadOnly(t, db, a.session, a.sql)
			require.NoError(t, err, "classified Read, but the server ran it as a write or lock: %q", a.sql)
		})
	}
}

func review2RunReadOnly(t *testing.T, db *sql.DB, session []string, query string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := db.Conn(ctx)
	require.NoError(t, err)
	defer conn.Close() // the pool keeps no idle session (oracleDB)
	for _, s := range session {
		_, err := conn.ExecContext(ctx, s)
		require.NoError(t, err, s)
	}
	tx, err := conn.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	require.NoError(t, err)
	defer tx.Rollback()
	_, err = tx.ExecContext(ctx, query)
	return err
}

// TestReview2MySQLReadsThatLockOrWrite runs statements the MySQL and
// MariaDB classifiers call Read on real primaries and looks for their
// effects: a row lock another session sees, or a sequence that moved.
func TestReview2MySQLReadsThatLockOrWrite(t *testing.T) {
	for _, tt := range []struct {
		kind    testcluster.Kind
		family  corpus.Family
		dialect router.Dialect
	}{
		{testcluster.MariaDB, corpus.MariaDB, router.MariaDB},
		{testcluster.MySQL, corpus.OracleMySQL, router.MySQL},
	} {
		t.Run(tt.kind.String(), func(t *testing.T) {
			c := clusters.Get(t, tt.kind)
			db := oracleDB(t, c, corpus.Schema(tt.family))
			cls, err := router.NewClassifier(tt.dialect, router.Functions{})
			require.NoError(t, err)
			ctx := context.Background()

			// A byte the classifier takes for part of a name but the
			// server's single-byte character set takes for white space.
			t.Run("latin1 white space before FOR SHARE", func(t *testing.T) {
				var bad []string
				for b := 0x80; b <= 0xff; b++ {
					q := "SELECT * FROM users u" + string([]byte{byte(b)}) + "FOR SHARE"
					if cls.Classify(q) != router.Read {
						continue
					}
					if review2LocksRow(t, db, []string{"SET NAMES latin1"}, q) {
						bad = append(bad, fmt.Sprintf("0x%02x", b))
					}
				}
				require.Empty(t, bad, "bytes before FOR SHARE that the classifier calls Read but lock rows")
			})

			if tt.kind == testcluster.MariaDB {
				for _, mode := range []string{"DEFAULT", "ORACLE"} {
					t.Run("seq.nextval sql_mode="+mode, func(t *testing.T) {
						q := "SELECT seq1.nextval"
						d := cls.Explain(q)
						if d.Kind != router.Read {
							t.Skipf("held: %v", d.Reason)
						}
						conn, err := db.Conn(ctx)
						require.NoError(t, err)
						defer conn.Close()
						_, err = conn.ExecContext(ctx, "SET SESSION sql_mode = "+mode)
						require.NoError(t, err)
						var a, b sql.NullInt64
						if err := conn.QueryRowContext(ctx, q).Scan(&a); err != nil {
							t.Skipf("held: server refuses %q: %v", q, err)
						}
						require.NoError(t, conn.QueryRowContext(ctx, q).Scan(&b))
						require.Equal(t, a, b, "classified Read, but %q advanced the sequence (%v then %v)", q, a, b)
					})
				}
			}
		})
	}
}

// review2LocksRow runs query in a transaction on its own session and reports
// whether another session then finds users' rows locked.
func review2LocksRow(t *testing.T, db *sql.DB, session []string, query string) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := db.Conn(ctx)
	require.NoError(t, err)
	defer conn.Close()
	for _, s := range session {
		_, err := conn.ExecContext(ctx, s)
		require.NoError(t, err, s)
	}
	tx, err := conn.BeginTx(ctx, nil)
	require.NoError(t, err)
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, query)
	if err != nil {
		return false // the server refused it: no lock
	}
	rows.Close()
	other, err := db.Conn(ctx)
	require.NoError(t, err)
	defer other.Close()
	_, err = other.ExecContext(ctx, "SELECT * FROM users FOR UPDATE NOWAIT")
	return err != nil
}
