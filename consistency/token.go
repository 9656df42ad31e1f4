package consistency

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/sqlreplica/sqlreplica/router"
)

// Token is a replication position: where a write landed, or how far a
// server has applied. It is one of
//
//   - a PostgreSQL WAL location (LSN), with the cluster's system identifier
//     and the timeline, so that a position from another cluster or from
//     before a fail-over is recognised as such;
//   - a MySQL GTID set (server uuid → transaction intervals);
//   - a MariaDB GTID list (replication domain → server and sequence).
//
// The zero Token is "no position": every position covers it. A Token is
// immutable and safe for concurrent use.
type Token struct {
	dialect router.Dialect

	system   uint64 // PostgreSQL system identifier; 0 if unknown
	timeline uint32 // PostgreSQL timeline; 0 if unknown
	lsn      uint64

	set  mysqlSet
	list mariaList
}

// maxTokenLen bounds ParseToken's input.
const maxTokenLen = 64 << 10

// PostgresToken returns the token for WAL location lsn on the given
// cluster (system identifier, 0 if unknown) and timeline (0 if unknown).
func PostgresToken(system uint64, timeline uint32, lsn uint64) Token {
	return Token{dialect: router.PostgreSQL, system: system, timeline: timeline, lsn: lsn}
}

// ParseLSN parses PostgreSQL's text form of a WAL location, "16/B374D848".
func ParseLSN(s string) (uint64, error) {
	hi, lo, ok := strings.Cut(strings.TrimSpace(s), "/")
	if !ok || len(hi) == 0 || len(lo) == 0 || len(hi) > 8 || len(lo) > 8 {
		return 0, badf("bad LSN %q", s)
	}
	h, err1 := strconv.ParseUint(hi, 16, 32)
	l, err2 := strconv.ParseUint(lo, 16, 32)
	if err1 != nil || err2 != nil {
		return 0, badf("bad LSN %q", s)
	}
	return h<<32 | l, nil
}

// FormatLSN returns PostgreSQL's text form of a WAL location.
func FormatLSN(lsn uint64) string {
	return fmt.Sprintf("%X/%X", lsn>>32, uint32(lsn))
}

// MySQLToken parses a MySQL GTID set in MySQL's own text form, as
// @@global.gtid_executed shows it.
func MySQLToken(gtidSet string) (Token, error) {
	if len(gtidSet) > maxTokenLen {
		return Token{}, badf("GTID set longer than %d bytes", maxTokenLen)
	}
	s, err := parseMySQLSet(gtidSet)
	if err != nil {
		return Token{}, err
	}
	return Token{dialect: router.MySQL, set: s}, nil
}

// MariaDBToken parses a MariaDB GTID list in MariaDB's own text form, as
// @@gtid_current_pos and @@last_gtid show it.
func MariaDBToken(gtidList string) (Token, error) {
	if len(gtidList) > maxTokenLen {
		return Token{}, badf("GTID list longer than %d bytes", maxTokenLen)
	}
	l, err := parseMariaList(gtidList)
	if err != nil {
		return Token{}, err
	}
	return Token{dialect: router.MariaDB, list: l}, nil
}

// IsZero reports whether t is the zero Token.
func (t Token) IsZero() bool {
	return t.dialect == 0 || t.dialect == router.PostgreSQL && t.lsn == 0 && t.system == 0 ||
		t.dialect == router.MySQL && len(t.set) == 0 || t.dialect == router.MariaDB && len(t.list) == 0
}

// Dialect returns the kind of server the token is from (zero for the zero
// Token).
func (t Token) Dialect() router.Dialect { return t.dialect }

// LSN returns a PostgreSQL token's WAL location, system identifier and
// timeline.
func (t Token) LSN() (lsn, system uint64, timeline uint32) { return t.lsn, t.system, t.timeline }

// GTID returns a MySQL or MariaDB token in the server's own text form, for
// WAIT_FOR_EXECUTED_GTID_SET or MASTER_GTID_WAIT.
func (t Token) GTID() string {
	switch t.dialect {
	case router.MySQL:
		return t.set.format(",")
	case router.MariaDB:
		return t.list.format(",")
	}
	return ""
}

// String returns the token's text form, which [ParseToken] reads back. It
// holds only letters, digits and ":/-_", so it is safe as an HTTP header
// value and as a cookie value without quoting:
//
//	pg:<system>:<timeline>:<LSN>        pg:7312345678901234567:1:0/3000148
//	mysql:<uuid>:<intervals>_<uuid>:…   mysql:3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5:7
//	mariadb:<domain>-<server>-<seq>_…   mariadb:0-1-7_1-2-9
//
// The zero Token's text form is "".
func (t Token) String() string {
	if t.IsZero() {
		return ""
	}
	switch t.dialect {
	case router.PostgreSQL:
		return fmt.Sprintf("pg:%d:%d:%s", t.system, t.timeline, FormatLSN(t.lsn))
	case router.MySQL:
		return "mysql:" + t.set.format("_")
	case router.MariaDB:
		return "mariadb:" + t.list.format("_")
	}
	return ""
}

// ParseToken reads a token's text form (see [Token.String]). "" gives the
// zero Token; anything malformed gives an error wrapping [ErrBadToken].
func ParseToken(s string) (Token, error) {
	if s == "" {
		return Token{}, nil
	}
	if len(s) > maxTokenLen {
		return Token{}, badf("token longer than %d bytes", maxTokenLen)
	}
	kind, rest, ok := strings.Cut(s, ":")
	if !ok {
		return Token{}, badf("token %.40q has no kind", s)
	}
	switch kind {
	case "pg":
		f := strings.Split(rest, ":")
		if len(f) != 3 {
			return Token{}, badf("PostgreSQL token %.40q", s)
		}
		sys, err1 := strconv.ParseUint(f[0], 10, 64)
		tli, err2 := strconv.ParseUint(f[1], 10, 32)
		lsn, err3 := ParseLSN(f[2])
		if err1 != nil || err2 != nil || err3 != nil {
			return Token{}, badf("PostgreSQL token %.40q", s)
		}
		return PostgresToken(sys, uint32(tli), lsn), nil
	case "mysql":
		if strings.ContainsAny(rest, ", \t\r\n") {
			return Token{}, badf("MySQL token %.40q", s)
		}
		return MySQLToken(strings.ReplaceAll(rest, "_", ","))
	case "mariadb":
		if strings.ContainsAny(rest, ", \t\r\n") {
			return Token{}, badf("MariaDB token %.40q", s)
		}
		return MariaDBToken(strings.ReplaceAll(rest, "_", ","))
	}
	return Token{}, badf("unknown token kind %.20q", kind)
}

// Covers reports whether a server at position p has applied everything up
// to t. Every position covers the zero Token. A position never covers a
// token of another dialect, and a PostgreSQL position never covers a token
// from another cluster or another timeline (when both are known): after a
// fail-over, old tokens are no longer "satisfied" by anyone but the primary.
// Covers does not allocate.
func (p Token) Covers(t Token) bool {
	if t.IsZero() {
		return true
	}
	if p.dialect != t.dialect {
		return false
	}
	switch t.dialect {
	case router.PostgreSQL:
		if p.system != t.system && p.system != 0 && t.system != 0 {
			return false
		}
		if p.timeline != t.timeline && p.timeline != 0 && t.timeline != 0 {
			return false
		}
		return p.lsn >= t.lsn
	case router.MySQL:
		return p.set.contains(t.set)
	case router.MariaDB:
		return p.list.contains(t.list)
	}
	return false
}

// SameOrigin reports whether two PostgreSQL positions come from the same
// cluster and timeline (when known); other dialects always match.
func (p Token) SameOrigin(t Token) bool {
	if p.dialect != router.PostgreSQL || t.dialect != router.PostgreSQL {
		return p.dialect == t.dialect
	}
	return (p.system == t.system || p.system == 0 || t.system == 0) &&
		(p.timeline == t.timeline || p.timeline == 0 || t.timeline == 0)
}

// Merge returns the position that covers both t and u: the maximum per
// component (the larger LSN; the union of GTID sets; the higher sequence per
// MariaDB domain). When the two cannot be compared (different dialects,
// PostgreSQL clusters or timelines), the later one, u, wins: after a
// fail-over, a session's newest write is what matters.
func (t Token) Merge(u Token) Token {
	switch {
	case u.IsZero():
		return t
	case t.IsZero():
		return u
	case t.dialect != u.dialect:
		return u
	}
	switch t.dialect {
	case router.PostgreSQL:
		if !t.SameOrigin(u) {
			return u
		}
		if u.lsn > t.lsn {
			t.lsn = u.lsn
		}
		if t.system == 0 {
			t.system = u.system
		}
		if t.timeline == 0 {
			t.timeline = u.timeline
		}
		return t
	case router.MySQL:
		return Token{dialect: router.MySQL, set: t.set.union(u.set)}
	case router.MariaDB:
		return Token{dialect: router.MariaDB, list: t.list.union(u.list)}
	}
	return u
}

// Behind returns how far position p is behind position q: bytes of WAL for
// PostgreSQL, transactions for MySQL and MariaDB. ok is false when the two
// cannot be compared.
func (p Token) Behind(q Token) (n uint64, ok bool) {
	if q.IsZero() {
		return 0, true
	}
	if p.dialect != q.dialect || !p.SameOrigin(q) {
		return 0, false
	}
	switch p.dialect {
	case router.PostgreSQL:
		if p.lsn >= q.lsn {
			return 0, true
		}
		return q.lsn - p.lsn, true
	case router.MySQL:
		return p.set.missing(q.set), true
	case router.MariaDB:
		return p.list.missing(q.list), true
	}
	return 0, false
}
