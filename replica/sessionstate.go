package replica

import "strings"

// This file reads the first words of a statement, for two questions the
// routing *sql.DB asks beyond the statement's class: does a statement that
// may write also change its connection's session state, and is a statement
// a savepoint's. Both answer conservatively: whatever they cannot read
// plainly (an executable or nested comment, more than one statement, a
// comment ended by a lone carriage return) changes session state and is no
// savepoint.

// changesSession reports whether query, run on the primary, may leave
// session state on its connection that a later caller of the connection
// must not inherit: settings, temporary tables, locks, prepared statements,
// the current database, an open transaction, user variables. Plain data
// and schema changes (INSERT, UPDATE, DELETE, CREATE TABLE, …) do not; a
// SELECT that the classifier sent to the primary (nextval, an advisory
// lock, GET_LOCK, a user variable) does.
func changesSession(query string) bool {
	w1, w2, ok := leadingWords(query)
	if !ok {
		return true
	}
	switch w1 {
	case "INSERT", "UPDATE", "DELETE", "REPLACE", "MERGE", "TRUNCATE", "ALTER", "COMMENT",
		"GRANT", "REVOKE", "ANALYZE", "VACUUM", "REFRESH", "REINDEX", "OPTIMIZE", "RENAME":
	case "CREATE":
		switch w2 {
		case "TABLE", "INDEX", "VIEW", "SCHEMA", "DATABASE", "SEQUENCE", "FUNCTION", "PROCEDURE",
			"TRIGGER", "TYPE", "UNIQUE", "EXTENSION", "MATERIALIZED", "UNLOGGED", "DOMAIN", "USER", "ROLE":
		default:
			return true // TEMP, TEMPORARY, LOCAL, GLOBAL, OR REPLACE TEMP VIEW, …
		}
	case "DROP":
		if w2 == "TEMPORARY" {
			return true
		}
	default:
		return true
	}
	// A plain data or schema change, unless it calls a function (which may
	// take a lock or change a setting: pg_advisory_lock, set_config,
	// GET_LOCK, a function of the application's) or uses a user variable.
	return !callsNothing(query)
}

// callsNothing reports whether query plainly calls no function and uses no
// user variable or assignment: every "(" in it opens a list, a subquery
// or a table's columns, not a call. It answers false whenever it cannot
// tell: a function call of any kind (now() too), a dollar-quoted body, a
// string with a backslash in it.
func callsNothing(query string) bool {
	var prev, prevPrev tok // the last two tokens, a qualified name as one
	started := false       // past the statement's first token
	q := query
	for len(q) > 0 {
		c := q[0]
		switch {
		case isSpaceByte(c):
			q = q[1:]
			continue
		case strings.HasPrefix(q, "--") || c == '#':
			// Within a statement, # is PostgreSQL's XOR and --x MySQL's
			// minus minus x: what follows may call a function.
			if started && (c == '#' || len(q) > 2 && !isSpaceByte(q[2])) {
				return false
			}
			end := strings.IndexByte(q, '\n')
			if end < 0 {
				end = len(q)
			}
			q = q[end:]
			continue
		case strings.HasPrefix(q, "/*"):
			end := strings.Index(q[2:], "*/")
			if end < 0 {
				return false
			}
			q = q[2+end+2:]
			continue
		}
		started = true
		switch {
		case c == '@' || c == '\\' || strings.HasPrefix(q, ":="):
			return false // a user variable, an escape, an assignment
		case c == '$':
			n := 1
			for n < len(q) && q[n] >= '0' && q[n] <= '9' {
				n++
			}
			if n == 1 {
				return false // a dollar quote, not a parameter
			}
			q = q[n:]
			prevPrev, prev = prev, tok{kind: tokValue}
			continue
		case c == '\'' || c == '"' || c == '`':
			end := strings.IndexByte(q[1:], c)
			if end < 0 || strings.IndexByte(q[1:1+end], '\\') >= 0 {
				return false
			}
			kind := tokName
			if c == '\'' {
				kind = tokValue
			}
			q = q[1+end+1:]
			if len(q) > 0 && q[0] == c {
				return false // a doubled quote: read no further than needed
			}
			if kind != tokName || prev.kind != tokDot { // a qualified name is one name
				prevPrev = prev
			}
			prev = tok{kind: kind}
			continue
		case isWordByte(c) || c >= 0x80: // PostgreSQL and MySQL names may be non-ASCII
			n := 0
			for n < len(q) && (isWordByte(q[n]) || q[n] >= 0x80) {
				n++
			}
			w := tok{kind: tokName, word: keyword(q[:n])}
			if prev.kind == tokDot {
				w.word = "" // a qualified name, never a keyword: app.key(…) is a call
			}
			q = q[n:]
			if prev.kind != tokDot { // a qualified name is one name
				prevPrev = prev
			}
			prev = w
			continue
		case c == '.':
			if prev.kind != tokName {
				return false
			}
			prev = tok{kind: tokDot} // prevPrev stays what came before the name
			q = q[1:]
			continue
		case c == '(':
			if !opensNoCall(prev, prevPrev) {
				return false
			}
		}
		prevPrev, prev = prev, tok{kind: tokPunct}
		q = q[1:]
	}
	return true
}

// tok is what callsNothing remembers of a token.
type tok struct {
	kind uint8
	word string // a word, in upper case
}

const (
	tokPunct uint8 = iota // punctuation, or nothing yet
	tokName               // a word or a quoted identifier
	tokValue              // a string or a parameter
	tokDot
)

// opensNoCall reports whether a "(" after prev (and prevPrev before it)
// opens a list, a subquery or a table's columns rather than a call.
func opensNoCall(prev, prevPrev tok) bool {
	switch prev.kind {
	case tokPunct:
		return true // "((", ", (", "= (", the statement's first "("
	case tokName:
		switch prev.word {
		case "VALUES", "IN", "EXISTS", "ANY", "ALL", "SOME", "AND", "OR", "NOT",
			"WHERE", "ON", "SELECT", "FROM", "JOIN", "USING", "UNIQUE", "CHECK", "AS":
			return true // a reserved word: a list, a subquery, a constraint's columns
		case "KEY": // PostgreSQL's key(), value(), set(), by() and
			// MariaDB's conflict() may be functions of the application:
			// these open a list only after the words that make them keywords.
			return prevPrev.word == "PRIMARY" || prevPrev.word == "FOREIGN" || prevPrev.word == "UNIQUE"
		case "BY":
			return prevPrev.word == "ORDER" || prevPrev.word == "GROUP" || prevPrev.word == "PARTITION"
		case "CONFLICT":
			return prevPrev.word == "ON"
		}
		// A table's column list: INSERT INTO t (…), CREATE TABLE [IF NOT
		// EXISTS] t (…), REFERENCES t (…), an alias's columns. (Not ON t
		// (…): after ON a join's condition may call a function.)
		switch prevPrev.word {
		case "INTO", "TABLE", "REFERENCES", "EXISTS", "AS":
			return prevPrev.kind == tokName
		}
	}
	return false
}

// isSavepoint reports whether query is SAVEPOINT, RELEASE [SAVEPOINT] or
// ROLLBACK [WORK | TRANSACTION] TO [SAVEPOINT]: transaction control that a
// read-only transaction, on a replica too, may run.
func isSavepoint(query string) bool {
	w, ok := leadingWordsN(query, 3)
	if !ok {
		return false
	}
	switch w[0] {
	case "SAVEPOINT", "RELEASE":
		return true
	case "ROLLBACK":
		return w[1] == "TO" || (w[1] == "WORK" || w[1] == "TRANSACTION") && w[2] == "TO"
	}
	return false
}

// leadingWords returns the first two words of query in upper case, past
// white space and comments. ok is false when query holds what a plain
// reading may get wrong: an executable (/*!, /*M!) or nested comment, a
// line comment ended by a carriage return alone, or a semicolon before its
// end (more than one statement).
func leadingWords(query string) (w1, w2 string, ok bool) {
	w, ok := leadingWordsN(query, 2)
	return w[0], w[1], ok
}

// leadingWordsN is leadingWords for the first n words, n at most 3
// (missing ones are empty).
func leadingWordsN(query string, n int) (w [3]string, ok bool) {
	if strings.Contains(query, "/*!") || strings.Contains(query, "/*M!") {
		return w, false
	}
	if i := strings.IndexByte(query, ';'); i >= 0 && strings.TrimRight(query[i:], "; \t\r\n") != "" {
		return w, false
	}
	q := query
	words := 0
	for len(q) > 0 && words < n {
		switch c := q[0]; {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
			q = q[1:]
		case strings.HasPrefix(q, "--") || c == '#':
			end := strings.IndexByte(q, '\n')
			if end < 0 {
				end = len(q)
			}
			if strings.IndexByte(q[:end], '\r') >= 0 {
				return w, false
			}
			q = q[end:]
		case strings.HasPrefix(q, "/*"):
			end := strings.Index(q[2:], "*/")
			if end < 0 || strings.Contains(q[2:2+end], "/*") {
				return w, false
			}
			q = q[2+end+2:]
		case isWordByte(c):
			l := 0
			for l < len(q) && isWordByte(q[l]) {
				l++
			}
			w[words] = keyword(q[:l])
			words++
			q = q[l:]
		default:
			if words == 0 {
				return w, false // a statement begins with a word
			}
			return w, true
		}
	}
	return w, words > 0
}

func isSpaceByte(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}

func isWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_'
}

// keywords are the words this file asks about.
var keywords = [...]string{
	"INSERT", "UPDATE", "DELETE", "REPLACE", "MERGE", "TRUNCATE", "ALTER", "COMMENT", "GRANT", "REVOKE",
	"ANALYZE", "VACUUM", "REFRESH", "REINDEX", "OPTIMIZE", "RENAME", "CREATE", "DROP", "TABLE", "INDEX",
	"VIEW", "SCHEMA", "DATABASE", "SEQUENCE", "FUNCTION", "PROCEDURE", "TRIGGER", "TYPE", "UNIQUE",
	"EXTENSION", "MATERIALIZED", "UNLOGGED", "DOMAIN", "USER", "ROLE", "TEMPORARY", "SAVEPOINT", "RELEASE",
	"ROLLBACK", "TO", "WORK", "TRANSACTION", "VALUES", "VALUE", "IN", "EXISTS", "ANY", "ALL", "SOME",
	"CONFLICT", "AND", "OR", "NOT", "WHERE", "ON", "SET", "SELECT", "FROM", "JOIN", "USING", "KEY",
	"CHECK", "AS", "BY", "INTO", "REFERENCES", "PRIMARY", "FOREIGN", "ORDER", "GROUP", "PARTITION",
}

// keyword returns word in upper case when it is one of keywords, word
// itself when it has no lower-case letter, and "" otherwise: what the
// callers compare with keywords, without an allocation.
func keyword(word string) string {
	for i := 0; i < len(word); i++ {
		if 'a' <= word[i] && word[i] <= 'z' {
			for _, k := range keywords {
				if len(k) == len(word) && strings.EqualFold(k, word) {
					return k
				}
			}
			return ""
		}
	}
	return word
}
