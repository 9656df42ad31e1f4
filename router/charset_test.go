package router_test

import (
	"testing"

	"github.com/sqlreplica/sqlreplica/router"
)

// review2FixCase is a statement with its expected decision under one
// dialect (zero: none).
type review2FixCase struct {
	dialect router.Dialect
	why     string
	sql     string
	want    router.Kind
	reason  router.Reason // checked when not zero
	offset  int           // checked when reason is not zero
}

func runReview2FixCases(t *testing.T, tests []review2FixCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.dialect.String()+" "+tt.why, func(t *testing.T) {
			c, err := router.NewClassifier(tt.dialect, router.Functions{})
			if err != nil {
				t.Fatal(err)
			}
			d := c.Explain(tt.sql)
			if d.Kind != tt.want {
				t.Fatalf("Explain(%q) = %v (%v), want %v", tt.sql, d.Kind, d.Reason, tt.want)
			}
			if tt.reason != 0 && (d.Reason != tt.reason || d.Offset != tt.offset) {
				t.Errorf("Explain(%q) = %v at %d, want %v at %d", tt.sql, d.Reason, d.Offset, tt.reason, tt.offset)
			}
		})
	}
}

// TestMultibyteAndHighSpaceBytes checks the lexer against character sets
// that read a byte above 0x7f differently from UTF-8: a PostgreSQL client
// encoding (SJIS, BIG5, GBK, …) in which such a byte and a following
// backslash are one character, and MySQL single-byte character sets in
// which 0xA0 or 0xFF is white space.
func TestMultibyteAndHighSpaceBytes(t *testing.T) {
	const pg, my, maria = router.PostgreSQL, router.MySQL, router.MariaDB
	W, R := router.Write, router.Read
	runReview2FixCases(t, []review2FixCase{
		// PostgreSQL: a backslash that escapes, after a high byte.
		{pg, "E string, GBK", "SELECT E'\x95\\' FROM users FOR UPDATE --'", W, router.ReasonUnparsable, 8},
		{pg, "E string, escaped high byte then backslash", "SELECT E'\\\x81\\' FROM users FOR UPDATE --'", W, 0, 0},
		{pg, "plain string read with standard_conforming_strings=off", "SELECT '\x81\\' FROM users FOR UPDATE --'", W, 0, 0},
		{pg, "UTF-8 letter before a backslash in an E string: unsure, a conservative miss", "SELECT E'é\\n'", W, 0, 0},
		{pg, "E string with a backslash after ASCII", `SELECT E'a\'b'`, R, 0, 0},
		{pg, "UTF-8 in a plain string without backslash", "SELECT 'é' AS x", R, 0, 0},
		{pg, "high byte in a standard string, no backslash", "SELECT '\x81' AS x", R, 0, 0},
		// PostgreSQL: dollar-quote tags with high bytes may match after
		// conversion even when spelt differently (SJIS 0xED40 and 0xFA5C
		// are one character).
		{pg, "dollar tag with a high byte", "SELECT $\xed\x40$ $\xfa\x5c$ FROM users FOR UPDATE --$\xed\x40$", W, router.ReasonUnparsable, 7},
		{pg, "dollar tag ending in a high byte", "SELECT $a\x81$x$a\x81$", W, 0, 0},
		{pg, "SJIS character ending in '@' in a tag", "SELECT $\xed@$ ' $\xed@$ FROM users FOR UPDATE --'", W, router.ReasonUnparsable, 7},
		{pg, "SJIS character ending in '@' later in a tag", "SELECT $a\x81@$ ' $a\x81@$ FROM users FOR UPDATE --'", W, router.ReasonUnparsable, 7},
		{pg, "ASCII dollar tag with high bytes inside", "SELECT $a$\x81\\$a$", R, 0, 0},
		// MySQL: 0xA0 and 0xFF are white space in some single-byte sets.
		{my, "0xFF (cp852, cp866, keybcs2)", "SELECT * FROM users u\xffFOR UPDATE", W, router.ReasonUnparsable, 20},
		{my, "0xA0 starting a word", "SELECT * FROM users u \xa0FOR SHARE", W, 0, 0},
		{my, "0xA0 after a number", "SELECT 1\xa0FOR UPDATE", W, 0, 0},
		{my, "0xA0 before a call's parenthesis", "SELECT count\xa0(*) FROM users", W, 0, 0},
		{maria, "UTF-8 à (C3 A0) in a name: unsure, a conservative miss", "SELECT 1 AS voilà", W, 0, 0},
		{0, "0xFF with no dialect", "SELECT * FROM users u\xffFOR UPDATE", W, 0, 0},
		{my, "0xA0 inside a string is no white space", "SELECT 'a\xa0b' AS x", R, 0, 0},
		{my, "other high bytes stay letters", "SELECT 1 AS caf\xc3\xa9", R, 0, 0},
		{pg, "0xA0 in a PostgreSQL name", "SELECT 1 AS voilà", R, 0, 0},
		{pg, "0xA0 in a PostgreSQL name after a skimmed word", "SELECT a, b AS voilà FROM users", R, 0, 0},
	})
}
