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
		return false
	case "CREATE":
		switch w2 {
		case "TABLE", "INDEX", "VIEW", "SCHEMA", "DATABASE", "SEQUENCE", "FUNCTION", "PROCEDURE",
			"TRIGGER", "TYPE", "UNIQUE", "EXTENSION", "MATERIALIZED", "UNLOGGED", "DOMAIN", "USER", "ROLE":
			return false
		}
		return true // TEMP, TEMPORARY, LOCAL, GLOBAL, OR REPLACE TEMP VIEW, …
	case "DROP":
		return w2 == "TEMPORARY"
	}
	return true
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
			w[words] = strings.ToUpper(q[:l])
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

func isWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_'
}
