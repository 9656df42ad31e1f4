package router_test

import (
	"testing"

	"github.com/sqlreplica/sqlreplica/router"
)

// TestSessionStateReads checks MariaDB's seq.NEXTVAL and reads of state
// that only the writing session has: its warnings, errors, profiles, status
// counters and user variables.
func TestSessionStateReads(t *testing.T) {
	const pg, my, maria = router.PostgreSQL, router.MySQL, router.MariaDB
	W, R := router.Write, router.Read
	runReview2FixCases(t, []review2FixCase{
		{maria, "seq.NEXTVAL", "SELECT seq1.NEXTVAL", W, router.ReasonSequence, 12},
		{maria, "seq.`nextval`", "SELECT seq1.`nextval`", W, router.ReasonSequence, 12},
		{maria, `seq."currval" (ANSI_QUOTES, part of sql_mode=ORACLE)`, `SELECT seq1."currval"`, W, router.ReasonSequence, 12},
		{maria, "seq . /**/ nextval", "SELECT seq1 . /**/ nextval", W, router.ReasonSequence, 19},
		{maria, "in a WHERE clause", "SELECT id FROM users WHERE id = s.nextval", W, router.ReasonSequence, 34},
		{my, "MySQL dialect too", "SELECT seq1.currval", W, router.ReasonSequence, 12},
		{maria, "seq.lastval is a column", "SELECT seq1.lastval FROM seq1", R, 0, 0},
		{maria, "nextval without a dot is a column", "SELECT nextval FROM t", R, 0, 0},
		{pg, "PostgreSQL: a column named nextval", "SELECT t.nextval FROM t", R, 0, 0},

		{my, "SHOW WARNINGS", "SHOW WARNINGS LIMIT 1", W, router.ReasonFunction, 5},
		{maria, "SHOW ERRORS", "show errors", W, router.ReasonFunction, 5},
		{my, "SHOW COUNT(*) ERRORS", "SHOW COUNT(*) ERRORS", W, router.ReasonFunction, 5},
		{my, "SHOW PROFILE", "SHOW PROFILE CPU FOR QUERY 1", W, router.ReasonFunction, 5},
		{my, "SHOW PROFILES", "SHOW PROFILES", W, router.ReasonFunction, 5},
		{my, "SHOW SESSION STATUS", "SHOW SESSION STATUS LIKE 'Com%'", W, router.ReasonFunction, 13},
		{my, "SHOW LOCAL STATUS", "SHOW /* c */ LOCAL STATUS", W, router.ReasonFunction, 19},
		{my, "SHOW STATUS is SESSION by default", "SHOW STATUS", W, router.ReasonFunction, 5},
		{0, "no dialect", "SHOW WARNINGS", W, router.ReasonFunction, 5},
		{my, "SHOW GLOBAL STATUS", "SHOW GLOBAL STATUS LIKE 'Uptime'", R, 0, 0},
		{my, "SHOW SESSION VARIABLES", "SHOW SESSION VARIABLES LIKE 'sql_mode'", R, 0, 0},
		{my, "SHOW TABLE STATUS", "SHOW TABLE STATUS", R, 0, 0},
		{pg, "PostgreSQL SHOW reads a setting", "SHOW warnings", R, 0, 0},

		{my, "a user variable", "SELECT @x", W, router.ReasonFunction, 7},
		{maria, "a user variable in WHERE", "SELECT id FROM users WHERE id = @id", W, router.ReasonFunction, 32},
		{my, "a quoted user variable", "SELECT 1, @`x`", W, router.ReasonFunction, 10},
		{my, "a user variable in a second statement", "SELECT 1; SELECT @'x'", W, router.ReasonFunction, 17},
		{0, "no dialect", "SELECT @x", W, router.ReasonFunction, 7},
		{my, "an assignment keeps its reason", "SELECT @a := 1", W, router.ReasonAssign, 10},
		{my, "a lock keeps its reason", "SELECT @a FROM users FOR UPDATE", W, router.ReasonLocks, 21},
		{my, "a system variable", "SELECT @@server_id, @@global.read_only", R, 0, 0},
		{my, "a session system variable", "SELECT @@session.sql_mode", R, 0, 0},
		{my, "user@host", "SHOW GRANTS FOR 'app'@'%'", R, 0, 0},
		{my, "user@host, quoted names", "SHOW GRANTS FOR `app`@`localhost`", R, 0, 0},
		{pg, "PostgreSQL @ operator", "SELECT @ -5, '{1}'::int[] <@ ARRAY[1]", R, 0, 0},
	})
}
