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
		{"CREATE TABLE IF NOT EXISTS \"app\".\"t\" (a int, PRIMARY KEY (a), CHECK (a > 0))", false},
		{`INSERT INTO "public"."users" AS "u" ("name", "age") VALUES ($1, $2), ($3, $4) ON CONFLICT ("id") DO UPDATE SET "name" = "excluded"."name" RETURNING "id"`, false},
		{"INSERT INTO `users` (`name`) VALUES (?) ON DUPLICATE KEY UPDATE `name` = VALUES(`name`)", false},
		{"UPDATE t SET (a, b) = ($1, $2) WHERE id IN (SELECT id FROM u WHERE (x = 1 OR y = 2))", true}, // set() may be a function (PostgreSQL)
		{"UPDATE t SET a = $1 WHERE id IN (SELECT id FROM u WHERE (x = 1 OR y = 2))", false},
		{"DELETE FROM t WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM u)", false},
		{"INSERT INTO t VALUES ('a (b)', 'it''s')", true}, // a doubled quote: read no further
		{"CREATE UNIQUE INDEX i ON t (a)", true},          // after ON a call is possible: not read as a column list

		// A data change that calls a function, or uses a user variable,
		// may take a lock or change a setting.
		{"INSERT INTO t (k) SELECT pg_advisory_lock(1)::text", true},
		{"UPDATE t SET k = set_config('search_path', 'x', false)", true},
		{"INSERT INTO t (k) VALUES (GET_LOCK('a', 0))", true},
		{"UPDATE t SET k = (@v := 'x')", true},
		{"UPDATE t SET k = 'x' WHERE @v IS NULL", true},
		{"DELETE FROM t WHERE pg_try_advisory_lock(id)", true},
		{"DELETE FROM t USING u JOIN v ON pg_advisory_lock(1) IS NOT NULL", true},
		{"INSERT INTO t SELECT * FROM app.f(1)", true},
		{`INSERT INTO t SELECT "f"(1)`, true},
		{"INSERT INTO t VALUES (now())", true},
		{"INSERT INTO t VALUES ($1::varchar(10))", true},
		{"INSERT INTO t VALUES (E'a\\'')", true},
		{"INSERT INTO t VALUES ($$x$$)", true},
		{"CREATE TABLE t AS SELECT pg_advisory_lock(1)", true},
		{"ALTER TABLE t ALTER COLUMN c TYPE int USING f(c)", true},
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
		{"ROLLBACK WORK TO SAVEPOINT s1", true},
		{"ROLLBACK TRANSACTION TO s1", true},
		{"ROLLBACK WORK", false},
		{"ROLLBACK AND CHAIN", false},
		{"RELEASE_LOCK('x')", false},
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
