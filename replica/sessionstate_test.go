package replica

import "testing"

// TestChangesSession: only plain data and schema changes leave a
// connection's session as it was; anything else, and anything a plain
// reading of the first words may get wrong, counts as changing it.
func TestChangesSession(t *testing.T) {
	tests := []struct {
		query   string
		changes bool
	}{
		{"INSERT INTO t VALUES (1)", false},
		{"  update t SET a = 1", false},
		{"-- name: CreateAuthor :one\nINSERT INTO authors (name) VALUES ($1) RETURNING *", false},
		{"/* gorm */ DELETE FROM t", false},
		{"# MySQL comment\nREPLACE INTO t VALUES (1)", false},
		{"CREATE TABLE t (a int)", false},
		{"CREATE UNIQUE INDEX i ON t (a)", false},
		{"DROP TABLE t", false},
		{"ALTER TABLE t ADD COLUMN b int", false},
		{"INSERT INTO t VALUES (1);", false},
		{"INSERT INTO t VALUES (1) ; \n", false},

		{"SET search_path = app", true},
		{"set @x = 1", true},
		{"RESET ALL", true},
		{"CREATE TEMPORARY TABLE tmp (a int)", true},
		{"CREATE TEMP TABLE tmp AS SELECT 1", true},
		{"CREATE GLOBAL TEMPORARY TABLE tmp (a int)", true},
		{"CREATE OR REPLACE TEMP VIEW v AS SELECT 1", true},
		{"DROP TEMPORARY TABLE tmp", true},
		{"SELECT pg_advisory_lock(1)", true},
		{"SELECT GET_LOCK('a', 1)", true},
		{"SELECT nextval('s')", true},
		{"LOCK TABLES t WRITE", true},
		{"PREPARE p FROM 'SELECT 1'", true},
		{"USE app", true},
		{"BEGIN", true},
		{"START TRANSACTION", true},
		{"DECLARE c CURSOR WITH HOLD FOR SELECT 1", true},
		{"LISTEN ch", true},
		{"CALL p()", true},
		{"DO $$ BEGIN PERFORM set_config('a.b', 'c', false); END $$", true},
		{"WITH x AS (SELECT 1) INSERT INTO t SELECT * FROM x", true},
		{"(SELECT 1)", true},
		{"", true},
		{"-- only a comment", true},

		// What a plain reading may get wrong counts as changing it.
		{"INSERT INTO t VALUES (1); SET search_path = x", true},
		{"INSERT INTO t VALUES ('a;b')", true},
		{"/*!50000 SET @x = 1 */ INSERT INTO t VALUES (1)", true},
		{"/*M! SET @x = 1 */ INSERT INTO t VALUES (1)", true},
		{"/* a /* nested */ SET x = 1 */ INSERT INTO t VALUES (1)", true},
		{"-- a comment ended by a carriage return\rSET x = 1\nINSERT INTO t VALUES (1)", true},
		{"/* unterminated INSERT", true},
	}
	for _, tt := range tests {
		if got := changesSession(tt.query); got != tt.changes {
			t.Errorf("changesSession(%q) = %v, want %v", tt.query, got, tt.changes)
		}
	}
}

// TestIsSavepoint: SAVEPOINT, RELEASE and ROLLBACK TO are savepoints'; a
// plain ROLLBACK, and anything a plain reading may get wrong, are not.
func TestIsSavepoint(t *testing.T) {
	tests := []struct {
		query string
		want  bool
	}{
		{"SAVEPOINT s1", true},
		{"savepoint \"my sp\"", true},
		{"RELEASE SAVEPOINT s1", true},
		{"RELEASE s1", true},
		{"ROLLBACK TO SAVEPOINT s1", true},
		{"rollback to s1", true},
		{"/* gorm */ SAVEPOINT sp1", true},

		{"ROLLBACK", false},
		{"ROLLBACK WORK TO SAVEPOINT s1", false},
		{"COMMIT", false},
		{"SAVEPOINT s1; INSERT INTO t VALUES (1)", false},
		{"/*!50000 INSERT INTO t VALUES (1) */ SAVEPOINT s1", false},
		{"-- x\rINSERT INTO t VALUES (1)\nSAVEPOINT s1", false},
		{"INSERT INTO t VALUES (1)", false},
	}
	for _, tt := range tests {
		if got := isSavepoint(tt.query); got != tt.want {
			t.Errorf("isSavepoint(%q) = %v, want %v", tt.query, got, tt.want)
		}
	}
}
