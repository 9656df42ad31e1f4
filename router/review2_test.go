package router_test

import (
	"testing"

	"github.com/sqlreplica/sqlreplica/router"
)

// TestReview2ClassifierUnitAttacks lists statements that a real server, under
// a reading the classifier must allow for, runs as a lock, a write or a read
// of the writing session's state (router/review2_integration_test.go shows
// the first three on real servers). Each must be a Write.
func TestReview2ClassifierUnitAttacks(t *testing.T) {
	tests := []struct {
		dialect router.Dialect
		why     string
		sql     string
	}{
		{router.PostgreSQL, "client_encoding SJIS: 0x81 0x5C is one character, the E'' string ends there",
			"SELECT E'\x81\\' FROM users FOR UPDATE --'"},
		{router.PostgreSQL, "client_encoding BIG5: 0xA4 0x5C is one character",
			"SELECT E'\xa4\\' FROM users FOR UPDATE --'"},
		{router.MySQL, "latin1: 0xA0 is white space to MySQL", "SELECT * FROM users u\xa0FOR SHARE"},
		{router.MySQL, "latin1: the UTF-8 NBSP is 0xC2 then white space", "SELECT * FROM users u\xc2\xa0FOR SHARE"},
		{0, "latin1: 0xA0 is white space to MySQL", "SELECT * FROM users u\xa0FOR SHARE"},
		{router.MariaDB, "sql_mode=ORACLE: seq.nextval is NEXT VALUE FOR seq", "SELECT seq1.nextval"},
		{router.MariaDB, "sql_mode=ORACLE: seq.currval is the session's PREVIOUS VALUE FOR seq", "SELECT seq1.currval"},
		{0, "MariaDB sql_mode=ORACLE", "SELECT db.seq1.NEXTVAL"},
		{router.MySQL, "the writing session's warnings, as @@warning_count", "SHOW WARNINGS"},
		{router.MariaDB, "the writing session's warning count, as @@warning_count", "SHOW COUNT(*) WARNINGS"},
		{router.MySQL, "the writing session's errors, as @@error_count", "SHOW ERRORS"},
	}
	for _, tt := range tests {
		t.Run(tt.dialect.String()+" "+tt.why, func(t *testing.T) {
			c, err := router.NewClassifier(tt.dialect, router.Functions{})
			if err != nil {
				t.Fatal(err)
			}
			if d := c.Explain(tt.sql); d.Kind != router.Write {
				t.Errorf("Explain(%q) = %v (%v), want Write: %s", tt.sql, d.Kind, d.Reason, tt.why)
			}
		})
	}
}
