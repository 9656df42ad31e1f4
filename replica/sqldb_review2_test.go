package replica

import "testing"

// TestReview2ChangesSessionBypasses: statements that a server reads as
// calling a function, where callsNothing used to read none, change the
// session (each was seen on a real server: PostgreSQL 15 runs 1 # 3 as XOR
// and calls key(), value(), set(), by(), conflict() of the application;
// MariaDB runs 1 --3 as 1 - (-3) and calls conflict()).
func TestReview2ChangesSessionBypasses(t *testing.T) {
	tests := []struct {
		query   string
		changes bool
	}{
		{"INSERT INTO t (k) SELECT (1 # pg_try_advisory_lock(7)::int)::text", true},
		{"INSERT INTO t (k) VALUES (1 --GET_LOCK('a', 0)\n)", true},
		{"INSERT INTO t (k) VALUES (1 --\tGET_LOCK('a', 0)\n)", false}, // a comment in both
		{"INSERT INTO t (k) SELECT lockñ()", true},
		{"INSERT INTO t (k) SELECT 锁()", true},
		{"INSERT INTO t (k) SELECT app.key()", true},
		{"INSERT INTO t (k) SELECT app.select()", true},
		{"INSERT INTO t (k) SELECT key()", true},
		{"INSERT INTO t (k) SELECT value()", true},
		{"UPDATE t SET k = by()", true},
		{"INSERT INTO t (k) SELECT 1 WHERE set() IS NOT NULL", true},
		{"INSERT INTO t (k) VALUES (conflict())", true},
		{"INSERT INTO t (k) VALUES (1), (2) ON CONFLICT (k) DO NOTHING", false},
		{"CREATE TABLE t (a int, PRIMARY KEY (a), FOREIGN KEY (a) REFERENCES u (b))", false},
		{"INSERT INTO t (k) SELECT k FROM u ORDER BY (k)", false},
		{"INSERT INTO tablé (k) VALUES (1)", false},
		{"# leading comment\nINSERT INTO t (k) VALUES (1)", false},
		{"--leading comment\nINSERT INTO t (k) VALUES (1)", false},
	}
	for _, tt := range tests {
		if got := changesSession(tt.query); got != tt.changes {
			t.Errorf("changesSession(%q) = %v, want %v", tt.query, got, tt.changes)
		}
	}
}
