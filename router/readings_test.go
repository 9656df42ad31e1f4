package router_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sqlreplica/sqlreplica/router"
)

// Dialect sets for readingCases.
const (
	onPG    = 1 << iota // PostgreSQL may read the statement as a write
	onMySQL             // Oracle MySQL may
	onMaria             // MariaDB may
	onMy    = onMySQL | onMaria
	onAll   = onPG | onMy
)

// readingCase is a statement that some server, under some session setting or
// version, reads as a write (or as something the classifier cannot follow):
// it must be Write under each dialect in write, and Read under the others.
type readingCase struct {
	name  string
	query string
	write int
}

// readingCases are the constructs a server may read differently from the
// lexer's first reading. Each one is a write under the dialects listed.
var readingCases = []readingCase{
	{"PostgreSQL ends -- comments at CR", "SELECT * FROM users --\rFOR UPDATE", onPG},
	{"PostgreSQL ends -- comments at CR before a statement", "SELECT 1 --\r; DELETE FROM users", onPG},
	{"MySQL takes DEL after -- as a comment start", "SELECT 1 --\x7f '\n, GET_LOCK('a',0) -- '", onAll},
	{"MySQL -- then a byte above 0x7f depends on the character set", "SELECT 1 --\xa0 '\n, GET_LOCK('a',0) -- '", onAll},
	{"MySQL -- then a tab", "SELECT 1 --\t'\n, GET_LOCK('a',0) -- '", onAll},
	{"an older server skips a versioned comment", "SELECT 1 /*!99999 ' */, GET_LOCK('a',0) -- ' */", onAll},
	{"Oracle MySQL skips /*M!", "SELECT 1 /*M! ' */, GET_LOCK('a',0) -- ' */", onPG | onMySQL},
	{"MariaDB runs /*M!", "SELECT 1 /*M!100000 , GET_LOCK('a', 0) */", onMy},
	{"a versioned comment runs code", "SELECT 1 /*!50000 FOR UPDATE */", onMy},
	{"an unversioned executable comment runs code", "SELECT 1 /*! FOR UPDATE */", onMy},
	{"a nested comment inside a skipped versioned comment", "SELECT 1 /*!99999 /* */ FOR UPDATE */", onMy},
	{"a quote inside an optimizer hint, no space (fuzz)", "SELECT/*+\"*/", onMy},
	{"a backslash after a high byte outside strings", "SELECT é\\N", onMy},
	{"a quote inside an optimizer hint", "SELECT /*+ SET_VAR(sort_buffer_size = '*/') */ 1", onAll},
	{"ANSI_QUOTES makes \" an identifier", `SELECT "a\" FOR UPDATE -- "`, onAll},
	{"ANSI_QUOTES calls a function named by a quoted identifier", `SELECT "get_lock"('a', 0)`, onAll},
	{"NO_BACKSLASH_ESCAPES ends a string at a backslash", `SELECT 'a\' FOR UPDATE -- '`, onAll},
	{"standard_conforming_strings=off escapes", `SELECT 'a\'; DELETE FROM users; -- '`, onAll},
	{"E strings escape", `SELECT E'a\'; DELETE FROM users; -- '`, onMy},
	{"a U& identifier can spell any function", `SELECT U&"pg_adv\0069sory_lock"(1)`, onAll},
	{"a U& identifier with UESCAPE", `SELECT U&"pg_adv!0069sory_lock" UESCAPE '!' (1)`, onAll},
	{"a backticked system variable", "SELECT @@`last_insert_id`", onMy},
	{"a backticked session system variable", "SELECT @@session.`identity`", onMy},
	{"a double-quoted session system variable", `SELECT @@"last_insert_id"`, onAll},
	{"a system variable after a space", "SELECT @@ last_insert_id", onAll},
	{"a NUL byte", "SELECT 1\x00; DELETE FROM users", onAll},
	{"a NUL byte inside a comment", "SELECT 1 -- \x00\n", onAll},
	{"a GBK lead byte before a backslash", "SELECT '\xbf\\' FOR UPDATE -- '", onAll},
	{"a Big5 lead byte before a backtick", "SELECT `\xa4`` FOR UPDATE -- `", onAll},
	{"a backticked name ending in a non-ASCII byte (a conservative miss)", "SELECT `été` FROM t", onMy},
	{"hash comments", "SELECT 1 # \n FOR UPDATE", onAll},
	{"hash is an operator in PostgreSQL", "SELECT 1 # 2; DELETE FROM users", onPG},
	{"dollar quotes are strings only in PostgreSQL", "SELECT $$; DELETE FROM users; $$", onMy},
	{"dollar tags", "SELECT $a$ $$; DELETE FROM users; $a$", onMy},
	{"nested comments only in PostgreSQL", "SELECT 1 /* /* */ ; DELETE FROM users */", onMy},
	{"an unterminated nested comment", "SELECT 1 /* /* */ FOR UPDATE", onAll},
	{"SELECT INTO after a comment", "SELECT 1 /* x */ INTO @a", onAll},
	{"SELECT INTO in an executable comment", "SELECT 1 /*!INTO @a */", onMy},
	{"LOCK IN SHARE MODE", "SELECT * FROM users LOCK /* x */ IN SHARE MODE", onAll},
	{"FOR NO KEY UPDATE", "SELECT * FROM users FOR NO KEY UPDATE", onAll},
	{"FOR KEY SHARE", "SELECT * FROM users FOR KEY SHARE", onAll},
	{"FOR SHARE", "SELECT * FROM users FOR SHARE", onAll},
	{"HANDLER", "HANDLER users READ FIRST", onAll},
	{"DO", "DO GET_LOCK('a', 0)", onAll},
	{"CALL", "CALL p()", onAll},
	{"TABLE INTO", "TABLE users INTO @a", onAll},
	{"a data-modifying CTE", "WITH d AS (DELETE FROM users RETURNING *) SELECT * FROM d", onAll},
	{"WITH then INSERT", "WITH t AS (SELECT 1) INSERT INTO users SELECT * FROM t", onAll},
	{"EXPLAIN ANALYZE runs the statement", "EXPLAIN ANALYZE DELETE FROM users", onAll},
	{"EXPLAIN ANALYZE runs the functions", "EXPLAIN ANALYZE SELECT nextval('s')", onAll},
	{"EXPLAIN ANALYZE of an unknown function", "EXPLAIN (ANALYZE) SELECT app.f()", onAll},
	{"a := assignment", "SELECT @a := 1", onAll},
	{"an assignment after a variable", "SELECT @a:=1", onAll},
	{"a quoted keyword is no keyword, a quoted function is a function", `SELECT "nextval"('s')`, onAll},
	{"setseed", "SELECT setseed(0.5)", onAll},
	{"dblink_connect", "SELECT dblink_connect('x')", onAll},
	{"dblink_exec", "SELECT dblink_exec('DELETE FROM t')", onAll},
	{"pg_replication_origin_create", "SELECT pg_replication_origin_create('x')", onAll},
	{"pg_logical_slot_get_changes", "SELECT * FROM pg_logical_slot_get_changes('s', NULL, NULL)", onAll},
	{"pg_stat_statements_reset", "SELECT pg_stat_statements_reset()", onAll},
	{"ts_stat runs SQL text", "SELECT * FROM ts_stat('DELETE FROM t RETURNING v')", onAll},
	{"ts_rewrite runs SQL text", "SELECT ts_rewrite('a'::tsquery, 'SELECT 1')", onAll},
	{"query_to_xml runs SQL text", "SELECT query_to_xml('SELECT 1', true, false, '')", onAll},
	{"an unknown function", "SELECT my_func(1)", onAll},
	{"a qualified built-in name is another function", "SELECT app.lower('A')", onAll},
	{"a quoted built-in name is a stored function in MySQL", `SELECT "lower"('A')`, onMy},
	{"a quoted built-in name is a stored function in MySQL", "SELECT `lower`('A')", onMy},
	{"a mixed-case quoted name", `SELECT "Lower"('A')`, onAll},
	{"MySQL: a space before ( makes a stored function", "SELECT count (*) FROM users", onMy},
	{"MySQL: a comment before ( makes a stored function", "SELECT lower/**/('A')", onMy},
	{"a PostgreSQL-only function", "SELECT generate_series(1, 3)", onMy},
	{"a MySQL-only function", "SELECT WAIT_FOR_EXECUTED_GTID_SET('', 0)", onPG | onMaria},
	{"a MariaDB-only function", "SELECT JSON_DETAILED('{}')", onPG | onMySQL},
	{"a function call in a column list of a CTE after a comma", "WITH a AS (SELECT 1), b(x) AS (SELECT 2) SELECT * FROM b", onAll},
	{"a function in an EXISTS", "SELECT EXISTS (SELECT f())", onAll},
	{"a qualified function whose qualifier is an expression", "SELECT (x).f(1)", onAll},
	{"txid_current_if_assigned reads the writer's transaction", "SELECT txid_current_if_assigned()", onAll},
	{"pg_catalog.nextval", "SELECT pg_catalog.nextval('s')", onAll},
	{"pg_catalog qualified with a comment", "SELECT pg_catalog . /* x */ setval('s', 1)", onAll},
	{"pg_current_wal_lsn errors on a replica", "SELECT pg_current_wal_lsn()", onAll},
}

// readCases must stay Read under each dialect in read.
var readCases = []struct {
	query string
	read  int
}{
	{"SELECT count(*), coalesce(name, ''), now(), lower(name), upper(email) FROM users", onAll},
	{"SELECT json_build_object('a', 1), date_trunc('day', now()), jsonb_agg(id) FROM users", onPG},
	{"SELECT pg_catalog.lower('A'), pg_catalog.now()", onPG},
	{"SELECT PG_CATALOG.LOWER('A')", onPG},
	{"SELECT random(), clock_timestamp(), gen_random_uuid(), pg_is_in_recovery()", onPG},
	{"SELECT count (*), lower ('A') FROM users", onPG},
	{"SELECT x FROM (SELECT 1 AS x) AS t(x)", onPG},
	{"WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 5) SELECT * FROM r", onAll},
	{"SELECT count(*) FILTER (WHERE id > 1), row_number() OVER (ORDER BY id) FROM users", onPG},
	{"SELECT row_number() OVER (ORDER BY id) FROM users", onAll},
	{"SELECT CAST(1 AS numeric(10, 2)), '1'::varchar(3), substring('abc' FROM 1 FOR 2)", onPG},
	{"SELECT CAST(1 AS DECIMAL(10, 2)), CONVERT('a', CHAR(3))", onMy},
	{"SELECT id FROM users WHERE id IN (1, 2) AND EXISTS (SELECT 1) AND NOT (id = 3)", onAll},
	{"SELECT * FROM users TABLESAMPLE SYSTEM (100) REPEATABLE (1)", onPG},
	{"SELECT JSON_OBJECT('a', 1), JSON_EXTRACT('{}', '$.a'), DATE_FORMAT(NOW(), '%Y'), IFNULL(1, 2)", onMy},
	{"SELECT IF (1, 2, 3), LEFT ('abc', 1)", onMy},
	{"SELECT * FROM users USE INDEX (PRIMARY) WHERE MATCH (name) AGAINST ('x')", onMy},
	{"SELECT 1 /*!40101 , 2 */", onMy},
	{"SELECT /*+ MAX_EXECUTION_TIME(1000) */ 1", onMy},
	{"SELECT 1 -- comment\n", onAll},
	{"SELECT @@server_id, @@session.sql_mode", onMy},
	{"SELECT 'a' \"b\"", onMy},
	{"SELECT ro_total(1), app.ro_total(2)", onAll},
	{`SELECT "app"."ro_total"(1), "ro_total"(2), "lower"('A'), "pg_catalog"."lower"('B')`, onPG},
	{"SELECT wait_for_executed_gtid_set('', 0)", onMySQL},
	{"SELECT master_gtid_wait('0-1-1', 0)", onMaria},
	{"SELECT 'é', é, `é_1` FROM `été_1`", onMy},
}

func readingClassifiers(t *testing.T, f router.Functions) map[int]*router.Classifier {
	t.Helper()
	out := map[int]*router.Classifier{}
	for bit, d := range map[int]router.Dialect{onPG: router.PostgreSQL, onMySQL: router.MySQL, onMaria: router.MariaDB} {
		c, err := router.NewClassifier(d, f)
		require.NoError(t, err)
		out[bit] = c
	}
	return out
}

func TestClassifyReadings(t *testing.T) {
	cs := readingClassifiers(t, router.Functions{})
	for _, tc := range readingCases {
		t.Run(tc.name, func(t *testing.T) {
			for bit, c := range cs {
				want := router.Read
				if tc.write&bit != 0 {
					want = router.Write
				}
				d := c.Explain(tc.query)
				require.Equal(t, want, d.Kind, "%v: %q (%v at %d)", c.Dialect(), tc.query, d.Reason, d.Offset)
			}
			require.Equal(t, router.Write, router.Classify(tc.query), "no dialect")
		})
	}
}

func TestClassifyReadsStayReads(t *testing.T) {
	cs := readingClassifiers(t, router.Functions{Read: []string{"ro_total", "app.ro_total"}})
	for _, tc := range readCases {
		for bit, c := range cs {
			if tc.read&bit != 0 {
				d := c.Explain(tc.query)
				require.Equal(t, router.Read, d.Kind, "%v: %q (%v at %d, %q)", c.Dialect(), tc.query, d.Reason, d.Offset, d.Function)
			}
		}
	}
}

func TestClassifyUnknownFunctionIsNamed(t *testing.T) {
	tests := []struct {
		dialect router.Dialect
		query   string
		fn      string
	}{
		{router.PostgreSQL, "SELECT My_Func(1)", "my_func"},
		{router.PostgreSQL, "SELECT App.Next_Invoice_Number()", "app.next_invoice_number"},
		{router.PostgreSQL, "SELECT app . f(1)", "app.f"},
		{router.PostgreSQL, `SELECT "App"."F"(1)`, "App.F"},
		{router.PostgreSQL, `SELECT "App"."Ro"(1)`, "App.Ro"}, // Read "App.Ro" is folded: it does not match
		{router.PostgreSQL, "SELECT app.lower('A')", "app.lower"},
		{router.MySQL, "SELECT App.My_Func(1)", "App.my_func"},
		{router.MySQL, "SELECT `app`.`F`(1)", "app.f"},
		{router.MariaDB, "SELECT count (*) FROM t", "count"},
		{router.PostgreSQL, "SELECT (x).f(1)", ""},
		{0, "SELECT generate_series(1, 2)", "generate_series"},
	}
	for _, tt := range tests {
		c, err := router.NewClassifier(tt.dialect, router.Functions{Read: []string{"App.Ro"}})
		require.NoError(t, err)
		d := c.Explain(tt.query)
		require.Equal(t, router.ReasonUnknownFunction, d.Reason, "%v: %q", tt.dialect, tt.query)
		require.Equal(t, tt.fn, d.Function, "%v: %q", tt.dialect, tt.query)
		require.NotEqual(t, "unset", d.Reason.String())
	}
}

func TestFunctionsReadAndWrite(t *testing.T) {
	c, err := router.NewClassifier(router.PostgreSQL, router.Functions{
		Read:  []string{"app.next_invoice_number", "f", "g", "lower"},
		Write: []string{"app.next_invoice_number", "other.g", "lower"},
	})
	require.NoError(t, err)
	for _, tt := range []struct {
		query  string
		want   router.Kind
		reason router.Reason
	}{
		{"SELECT app.next_invoice_number()", router.Write, router.ReasonFunction}, // Write wins over Read
		{"SELECT next_invoice_number()", router.Write, router.ReasonFunction},     // whatever the schema
		{"SELECT f(1)", router.Read, router.ReasonRead},
		{"SELECT app.f(1)", router.Write, router.ReasonUnknownFunction}, // "f" matches only unqualified calls
		{"SELECT g(1)", router.Write, router.ReasonFunction},            // Write "other.g" matches any g
		{"SELECT lower('A')", router.Write, router.ReasonFunction},      // Write wins over the built-ins
	} {
		d := c.Explain(tt.query)
		require.Equal(t, tt.want, d.Kind, tt.query)
		require.Equal(t, tt.reason, d.Reason, tt.query)
	}
}
