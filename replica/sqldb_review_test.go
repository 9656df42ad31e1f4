package replica

import "testing"

// TestReviewIsSavepoint: only a savepoint's statement, read plainly, is
// one; whatever could hide another statement is not.
func TestReviewIsSavepoint(t *testing.T) {
	for _, tc := range []struct {
		q    string
		want bool
	}{
		{"SAVEPOINT s", true},
		{"release savepoint s", true},
		{"ROLLBACK TO s", true},
		{"ROLLBACK WORK TO SAVEPOINT s", true},
		{"ROLLBACK TRANSACTION TO SAVEPOINT s", true},
		{"/* c */ ROLLBACK\tWORK\nTO s;", true},
		{"ROLLBACK", false},
		{"ROLLBACK WORK", false},
		{"ROLLBACK AND CHAIN", false},
		{"ROLLBACK RELEASE", false},
		{"SAVEPOINT s; DELETE FROM t", false},
		{"-- x\rDELETE FROM t\nSAVEPOINT s", false},
		{"/*!50000 DELETE FROM t */ SAVEPOINT s", false},
		{"/* /* */ DELETE FROM t */ SAVEPOINT s", false},
		{"RELEASE_LOCK('x')", false},
		{"DELETE FROM t", false},
	} {
		if got := isSavepoint(tc.q); got != tc.want {
			t.Errorf("isSavepoint(%q) = %v, want %v", tc.q, got, tc.want)
		}
	}
}

// TestReviewChangesSession: statements that leave session state are seen
// as such, whatever hides them.
func TestReviewChangesSession(t *testing.T) {
	for _, q := range []string{
		"SET search_path = x", "/* c */ SET x = 1", "-- c\nSET x = 1", "/*!40101 SET @x = 1 */",
		"INSERT INTO t VALUES (1); SET x = 1", "-- c\rSET x = 1\nINSERT INTO t VALUES (1)",
		"SELECT set_config('a', 'b', false)", "DO $$BEGIN PERFORM set_config('a','b',false); END$$",
		"CALL p()", "PREPARE p AS SELECT 1", "LOCK TABLES t WRITE", "DECLARE c CURSOR WITH HOLD FOR SELECT 1",
		"LISTEN ch", "SELECT 1 INTO TEMP t", "CREATE TEMP TABLE t AS SELECT 1", "CREATE TEMPORARY TABLE t (a int)",
		"CREATE GLOBAL TEMPORARY TABLE t (a int)", "CREATE OR REPLACE TEMP VIEW v AS SELECT 1", "DROP TEMPORARY TABLE t",
		"USE db", "BEGIN", "START TRANSACTION", "SELECT pg_advisory_lock(1)", "SELECT GET_LOCK('a', 1)", "DO GET_LOCK('a', 1)",
		"HANDLER t OPEN", "", "  ",
	} {
		if !changesSession(q) {
			t.Errorf("changesSession(%q) = false", q)
		}
	}
	for _, q := range []string{"INSERT INTO t VALUES (1)", "update t set a = 1", "CREATE TABLE t (a int)", "DROP TABLE t", "ALTER TABLE t ADD b int"} {
		if changesSession(q) {
			t.Errorf("changesSession(%q) = true", q)
		}
	}
}

// TestReviewChangesSessionDMLCallingFunctions: a write that calls a
// function changing session state changes it.
func TestReviewChangesSessionDMLCallingFunctions(t *testing.T) {
	t.Skip("DEFECT: changesSession reads only the first two words: a DML statement calling pg_advisory_lock, set_config, GET_LOCK or assigning a user variable is taken for a plain data change")
	for _, q := range []string{
		"INSERT INTO t (k) SELECT pg_advisory_lock(1)::text",
		"UPDATE t SET k = set_config('search_path', 'x', false)",
		"INSERT INTO t (k) VALUES (GET_LOCK('a', 0))",
		"UPDATE t SET k = (@v := 'x')",
		"DELETE FROM t WHERE pg_try_advisory_lock(id)",
	} {
		if !changesSession(q) {
			t.Errorf("changesSession(%q) = false", q)
		}
	}
}
