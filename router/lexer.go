package router

// This file holds the SQL lexer. It never allocates: tokens are offsets into
// the query. It knows two lexical families, PostgreSQL and MySQL/MariaDB, and
// reports through flags every construct the other family would read
// differently, so that a caller classifying without a known dialect can lex
// again under the other rules only when the answer could change.

type tokKind uint8

const (
	tEOF         tokKind = iota
	tWord                // unquoted identifier or keyword
	tQuotedIdent         // "ident" (PostgreSQL) or `ident` (MySQL)
	tString              // any string literal, including $tag$…$tag$
	tNumber              // numeric literal
	tParam               // $1 or ?
	tPunct               // operator or other punctuation
	tAssign              // :=
	tLParen              // (
	tRParen              // )
	tSemicolon           // ;
	tInvalid             // unterminated string, comment or quoted identifier
)

type token struct {
	kind       tokKind
	start, end int // q[start:end] is the token's text
}

// lexMode selects the lexical rules.
type lexMode struct {
	mysql bool // MySQL/MariaDB rules instead of PostgreSQL's
	// backslash makes backslash an escape inside plain quoted strings: MySQL
	// without NO_BACKSLASH_ESCAPES, PostgreSQL with
	// standard_conforming_strings=off.
	backslash bool
	// ansiQuotes makes "…" an identifier in MySQL (sql_mode=ANSI_QUOTES).
	ansiQuotes bool
	// skipVersioned reads MySQL's versioned comments (/*!50700 … */,
	// /*M! … */) as plain comments, as a server older than the version, or
	// Oracle MySQL reading MariaDB's /*M!, does.
	skipVersioned bool
	// funcs says which dialects' built-in functions must all know a function
	// for a call to it to keep a statement a read (bits fPG, fMySQL, fMaria).
	funcs uint8
}

// Lexer flags: what the lexer met that another set of rules would read
// differently.
const (
	flagDialect   uint8 = 1 << iota // the other family would tokenise this differently
	flagBackslash                   // a backslash inside a quoted token
	flagDQuote                      // MySQL: a "…" token, an identifier under ANSI_QUOTES
	flagVersioned                   // MySQL: a versioned comment, skipped by older servers
)

type lexer struct {
	q           string
	pos         int
	mode        lexMode
	flags       uint8
	execComment bool // inside a MySQL /*! … */ executable comment
}

// Byte classes, looked up in charClass.
const (
	ccSpace      uint8 = 1 << iota // white space
	ccIdentStart                   // may start an unquoted identifier
	ccIdentChar                    // may continue one
	ccPlain                        // punctuation that is a token by itself and starts nothing else
	// ccHighSpace marks the bytes above 0x7f that some single-byte MySQL
	// character set reads as white space: 0xA0 (latin1, latin2, latin5,
	// latin7, cp1250, greek, hebrew, dec8, armscii8, geostd8) and 0xFF
	// (cp852, cp866, keybcs2), as found on MySQL 9 and MariaDB 10.11 with
	// SET NAMES. They lack ccIdentStart and ccIdentChar, so that the fast
	// paths stop at them and leave them to word; isIdentStart and
	// isIdentChar still count them as letters, as PostgreSQL and UTF-8 do.
	ccHighSpace
)

// charClass maps each byte to its classes. Bytes of multi-byte UTF-8
// sequences count as letters, as both servers treat them.
var charClass = func() (t [256]uint8) {
	for _, c := range []byte(" \t\n\r\f\v") {
		t[c] |= ccSpace
	}
	for c := 0; c < 256; c++ {
		if c == 0xa0 || c == 0xff {
			t[c] |= ccHighSpace
			continue
		}
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c >= 0x80 {
			t[c] |= ccIdentStart | ccIdentChar
		}
		if c >= '0' && c <= '9' || c == '$' {
			t[c] |= ccIdentChar
		}
	}
	for _, c := range []byte(",=<>+*%^|&~!@[]{}") {
		t[c] |= ccPlain
	}
	return t
}()

func isSpace(c byte) bool      { return charClass[c]&ccSpace != 0 }
func isIdentStart(c byte) bool { return charClass[c]&(ccIdentStart|ccHighSpace) != 0 }
func isIdentChar(c byte) bool  { return charClass[c]&(ccIdentChar|ccHighSpace) != 0 }
func isHighSpace(c byte) bool  { return charClass[c]&ccHighSpace != 0 }

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func (l *lexer) at(i int) byte {
	if i < len(l.q) {
		return l.q[i]
	}
	return 0
}

// skipSpaceAndComments advances past white space and comments. It returns
// false if a comment is unterminated.
func (l *lexer) skipSpaceAndComments() bool {
	for l.pos < len(l.q) {
		c := l.q[l.pos]
		switch {
		case isSpace(c):
			l.pos++
		case c == '-' && l.at(l.pos+1) == '-':
			// PostgreSQL: "--" always starts a comment. MySQL: only when
			// followed by white space, a control character (DEL included)
			// or the end. Whether a byte above 0x7f is a control character
			// depends on the connection's character set: unsure.
			nx := l.at(l.pos + 2)
			ctrl := l.pos+2 >= len(l.q) || nx <= ' ' || nx == 0x7f
			if !ctrl {
				l.flags |= flagDialect
				if l.mode.mysql {
					if nx >= 0x80 {
						return false
					}
					return true // "--1" is minus minus one
				}
			}
			if !l.skipLine() {
				return false
			}
		case c == '#':
			l.flags |= flagDialect
			if !l.mode.mysql {
				return true // an operator in PostgreSQL
			}
			if !l.skipLine() {
				return false
			}
		case c == '/' && l.at(l.pos+1) == '*':
			if !l.blockComment() {
				return false
			}
		case c == '*' && l.at(l.pos+1) == '/' && l.execComment:
			l.execComment = false
			l.pos += 2
		default:
			return true
		}
	}
	return true
}

// skipLine consumes a line comment. PostgreSQL ends it at a carriage return
// or a line feed, MySQL at a line feed only.
// It returns false at a NUL byte.
func (l *lexer) skipLine() bool {
	for l.pos < len(l.q) && l.q[l.pos] != '\n' {
		switch l.q[l.pos] {
		case '\r':
			l.flags |= flagDialect
			if !l.mode.mysql {
				return true
			}
		case 0:
			return false
		}
		l.pos++
	}
	return true
}

// blockComment consumes a comment that starts at l.pos. MySQL's executable
// comments (/*! … */, /*M! … */) are not consumed: their content is code, so
// the lexer steps inside and goes on.
func (l *lexer) blockComment() bool {
	mariaExec := l.at(l.pos+2)|0x20 == 'm' && l.at(l.pos+3) == '!'
	exec := l.at(l.pos+2) == '!' || mariaExec
	if exec {
		l.flags |= flagDialect
		if l.mode.mysql {
			if l.execComment {
				return false // MySQL does not nest them: treat as unsure
			}
			// A version number, or MariaDB's /*M!, makes the content code
			// only for some servers: lex it both ways.
			// MariaDB itself always runs an unversioned /*M!.
			versioned := isDigit(l.at(l.pos+3)) && !l.oldVersion(l.pos+3)
			if mariaExec {
				versioned = l.mode.funcs != fMaria || isDigit(l.at(l.pos+4))
			}
			if versioned {
				l.flags |= flagVersioned
				if l.mode.skipVersioned {
					return l.discardComment()
				}
			}
			l.pos += 3
			if mariaExec {
				l.pos++
			}
			for l.pos < len(l.q) && isDigit(l.q[l.pos]) {
				l.pos++
			}
			l.execComment = true
			return true
		}
	}
	if l.at(l.pos+2) == '+' {
		l.flags |= flagDialect // a MySQL optimizer hint
		if l.mode.mysql && !l.plainHint() {
			return false
		}
	}
	depth := 0
	for i := l.pos; i+1 < len(l.q); {
		switch {
		case l.q[i] == '/' && l.q[i+1] == '*':
			depth++
			if depth > 1 {
				l.flags |= flagDialect
				if l.mode.mysql {
					depth = 1 // MySQL comments do not nest
				}
			}
			i += 2
		case l.q[i] == '*' && l.q[i+1] == '/':
			depth--
			i += 2
			if depth == 0 {
				l.pos = i
				return true
			}
		case l.q[i] == 0:
			return false
		default:
			i++
		}
	}
	return false
}

// oldVersion reports whether the digits at i are a five-digit version that
// every supported server has reached (MySQL 5.7.0; MariaDB's versions start
// at 10.0), so that every server runs the comment's content.
func (l *lexer) oldVersion(i int) bool {
	if i+5 > len(l.q) || isDigit(l.at(i+5)) {
		return false
	}
	v := 0
	for _, c := range []byte(l.q[i : i+5]) {
		if !isDigit(c) {
			return false
		}
		v = v*10 + int(c-'0')
	}
	return v <= 50700
}

// discardComment consumes a versioned comment a server skips. The server
// lets it hold one nested /* */ comment; rather than follow that, a nested
// opening is reported as unsure (false), as is an unterminated comment.
func (l *lexer) discardComment() bool {
	for i := l.pos + 2; i+1 < len(l.q); i++ {
		switch {
		case l.q[i] == '/' && l.q[i+1] == '*', l.q[i] == 0:
			return false
		case l.q[i] == '*' && l.q[i+1] == '/':
			l.pos = i + 2
			return true
		}
	}
	return false
}

// plainHint reports whether a MySQL optimizer hint comment (/*+ … */) at
// l.pos holds no quote before its end. MySQL's hint parser reads quoted
// names and strings inside it, so a quote could move the comment's end.
func (l *lexer) plainHint() bool {
	for i := l.pos + 3; i+1 < len(l.q); i++ {
		switch l.q[i] {
		case '\'', '"', '`':
			return false
		case '*':
			if l.q[i+1] == '/' {
				return true
			}
		}
	}
	return true // unterminated: blockComment reports it
}

// next returns the next token. The common tokens (words and plain
// punctuation after plain white space) are lexed inline; the rest go to
// nextSlow.
func (l *lexer) next() token {
	q := l.q
	i := l.pos
	for i < len(q) && charClass[q[i]]&ccSpace != 0 {
		i++
	}
	if i < len(q) {
		c := q[i]
		cc := charClass[c]
		if cc&ccIdentStart != 0 && (l.mode.mysql || c|0x20 != 'e' || i+1 >= len(q) || q[i+1] != '\'') {
			j := i + 1
			for j < len(q) && charClass[q[j]]&ccIdentChar != 0 {
				j++
			}
			if j == len(q) || charClass[q[j]]&ccHighSpace == 0 {
				l.pos = j
				return token{kind: tWord, start: i, end: j}
			}
			// A byte some character set reads as white space: word decides.
		} else if cc&ccPlain != 0 && (c != '*' || !l.execComment) || c == '.' && (i+1 >= len(q) || !isDigit(q[i+1])) {
			l.pos = i + 1
			return token{kind: tPunct, start: i, end: i + 1}
		}
	}
	l.pos = i
	return l.nextSlow()
}

func (l *lexer) nextSlow() token {
	if !l.skipSpaceAndComments() {
		return token{kind: tInvalid, start: l.pos, end: len(l.q)}
	}
	start := l.pos
	if start >= len(l.q) {
		if l.execComment {
			return token{kind: tInvalid, start: start, end: start}
		}
		return token{kind: tEOF, start: start, end: start}
	}
	c := l.q[start]
	switch {
	case c == 0:
		// PostgreSQL stops reading at a NUL byte, MySQL's lexer reads it in
		// ways of its own: unsure, wherever it stands.
		return token{kind: tInvalid, start: start, end: len(l.q)}
	case c == '\'':
		return l.quoted(start, '\'', tString, l.mode.backslash)
	case c == '"':
		if l.mode.mysql {
			l.flags |= flagDQuote
			if l.mode.ansiQuotes {
				return l.quoted(start, '"', tQuotedIdent, false)
			}
			return l.quoted(start, '"', tString, l.mode.backslash)
		}
		return l.quoted(start, '"', tQuotedIdent, false)
	case c == '`':
		l.flags |= flagDialect
		if l.mode.mysql {
			if l.afterHighByte(start) {
				return token{kind: tInvalid, start: start, end: len(l.q)}
			}
			return l.quoted(start, '`', tQuotedIdent, false)
		}
	case c == '\\':
		l.flags |= flagDialect
		if l.mode.mysql && l.afterHighByte(start) {
			return token{kind: tInvalid, start: start, end: len(l.q)}
		}
	case c == '$':
		if isDigit(l.at(start + 1)) {
			l.pos = start + 1
			for l.pos < len(l.q) && isDigit(l.q[l.pos]) {
				l.pos++
			}
			return token{kind: tParam, start: start, end: l.pos}
		}
		l.flags |= flagDialect
		if l.mode.mysql {
			return l.word(start)
		}
		if t, ok := l.dollarQuoted(start); ok {
			return t
		}
	case c == '?':
		l.pos++
		return token{kind: tParam, start: start, end: l.pos}
	case c == '(':
		l.pos++
		return token{kind: tLParen, start: start, end: l.pos}
	case c == ')':
		l.pos++
		return token{kind: tRParen, start: start, end: l.pos}
	case c == ';':
		l.pos++
		return token{kind: tSemicolon, start: start, end: l.pos}
	case c == ':' && l.at(start+1) == '=':
		l.pos += 2
		return token{kind: tAssign, start: start, end: l.pos}
	case isDigit(c) || c == '.' && isDigit(l.at(start+1)):
		return l.number(start)
	case isIdentStart(c):
		// PostgreSQL escape strings: E'…' honour backslashes whatever the
		// setting of standard_conforming_strings.
		if !l.mode.mysql && c|0x20 == 'e' && l.at(start+1) == '\'' {
			return l.quoted(start+1, '\'', tString, true)
		}
		return l.word(start)
	}
	l.pos = start + 1
	return token{kind: tPunct, start: start, end: l.pos}
}

// word lexes an unquoted identifier or keyword. One that holds a byte some
// single-byte MySQL character set reads as white space (see ccHighSpace)
// is two words to MySQL under that character set and one otherwise: in
// MySQL mode it is unsure, and in PostgreSQL mode it asks for the MySQL
// reading too.
func (l *lexer) word(start int) token {
	space := isHighSpace(l.q[start])
	l.pos = start + 1
	for l.pos < len(l.q) && isIdentChar(l.q[l.pos]) {
		space = space || isHighSpace(l.q[l.pos])
		l.pos++
	}
	if space {
		l.flags |= flagDialect
		if l.mode.mysql {
			l.pos = len(l.q)
			return token{kind: tInvalid, start: start, end: l.pos}
		}
	}
	return token{kind: tWord, start: start, end: l.pos}
}

// number lexes digits, a fraction and an exponent. Letters that follow start
// a new token, which is the conservative reading ("1FOR UPDATE" still shows
// FOR UPDATE).
func (l *lexer) number(start int) token {
	i := start
	for i < len(l.q) && isDigit(l.q[i]) {
		i++
	}
	if i < len(l.q) && l.q[i] == '.' {
		i++
		for i < len(l.q) && isDigit(l.q[i]) {
			i++
		}
	}
	if i < len(l.q) && l.q[i]|0x20 == 'e' {
		j := i + 1
		if j < len(l.q) && (l.q[j] == '+' || l.q[j] == '-') {
			j++
		}
		if j < len(l.q) && isDigit(l.q[j]) {
			for j < len(l.q) && isDigit(l.q[j]) {
				j++
			}
			i = j
		}
	}
	l.pos = i
	return token{kind: tNumber, start: start, end: i}
}

// afterHighByte reports whether the byte before i is above 0x7f. In MySQL's
// multi-byte character sets (GBK, Big5, SJIS) such a byte may pair with a
// following backslash or backtick into one character, which then neither
// escapes nor quotes: unsure. PostgreSQL converts a query from such a
// client_encoding (SJIS, BIG5, GBK, UHC, GB18030, JOHAB) before it lexes
// it, so that there too a backslash after such a byte may be part of a
// character; only a backslash that escapes is affected, as none of these
// encodings has a quote, a dollar sign or a byte below 0x30 as the second
// byte of a character.
func (l *lexer) afterHighByte(i int) bool { return i > 0 && l.q[i-1] >= 0x80 }

// quoted lexes a token delimited by quote, in which a doubled quote stands
// for itself and, when backslash is set, a backslash escapes the next byte.
func (l *lexer) quoted(start int, quote byte, kind tokKind, backslash bool) token {
	for i := start + 1; i < len(l.q); i++ {
		switch l.q[i] {
		case 0:
			l.pos = len(l.q)
			return token{kind: tInvalid, start: start, end: l.pos}
		case '\\':
			l.flags |= flagBackslash
			if (l.mode.mysql || backslash) && l.afterHighByte(i) {
				l.pos = len(l.q)
				return token{kind: tInvalid, start: start, end: l.pos}
			}
			if backslash {
				i++
			}
		case quote:
			if quote == '`' && l.afterHighByte(i) {
				l.pos = len(l.q)
				return token{kind: tInvalid, start: start, end: l.pos}
			}
			if l.at(i+1) == quote {
				i++
				continue
			}
			l.pos = i + 1
			return token{kind: kind, start: start, end: l.pos}
		}
	}
	l.pos = len(l.q)
	return token{kind: tInvalid, start: start, end: l.pos}
}

// dollarQuoted lexes a PostgreSQL dollar-quoted string ($$…$$, $tag$…$tag$).
// ok is false when start does not begin a dollar quote. A "$" followed by a
// name with a byte above 0x7f is unsure: PostgreSQL reads the query after
// converting it from the client encoding, in which such a byte and the
// ASCII byte after it may be one character ("$\xed@$" is a tag in SJIS),
// and in which two byte sequences may stand for one character (SJIS 0xED40
// and 0xFA5C), so that two tags spelt differently may match.
func (l *lexer) dollarQuoted(start int) (token, bool) {
	i := start + 1
	high := false
	if i < len(l.q) && isIdentStart(l.q[i]) {
		i++
		for i < len(l.q) && isIdentChar(l.q[i]) && l.q[i] != '$' {
			i++
		}
		for _, c := range []byte(l.q[start+1 : i]) {
			high = high || c >= 0x80
		}
	}
	if high {
		l.pos = len(l.q)
		return token{kind: tInvalid, start: start, end: l.pos}, true
	}
	if i >= len(l.q) || l.q[i] != '$' {
		return token{}, false
	}
	tag := l.q[start : i+1]
	for j := i + 1; j+len(tag) <= len(l.q); j++ {
		if l.q[j] == 0 {
			break
		}
		if l.q[j] == '$' && l.q[j:j+len(tag)] == tag {
			l.pos = j + len(tag)
			return token{kind: tString, start: start, end: l.pos}, true
		}
	}
	l.pos = len(l.q)
	return token{kind: tInvalid, start: start, end: l.pos}, true
}

// skim advances over what decides nothing inside a read statement: white
// space, identifiers that cannot be keywords, numbers and plain punctuation.
// It stops at the first thing that may matter, records the tokens it passed
// in s (see stmt.push), and reports whether it passed any.
func (l *lexer) skim(s *stmt) bool {
	q := l.q
	i := l.pos
	moved := false
	// The tokens passed live in locals, stored back on return. p2 (see
	// stmt.prev2At) is only needed when prev is a name or a string, so only
	// those update it.
	prev, p2, qa := s.prev, s.prev2At, s.qualAt
	for i < len(q) {
		c := q[i]
		cc := charClass[c]
		switch {
		case cc&ccSpace != 0:
			for i++; i < len(q) && charClass[q[i]]&ccSpace != 0; i++ {
			}
			continue
		case cc&ccIdentStart != 0:
			if !l.mode.mysql && c|0x20 == 'e' && i+1 < len(q) && q[i+1] == '\'' {
				l.pos = i
				s.prev, s.prev2At, s.qualAt = prev, p2, qa
				return moved
			}
			j := i + 1
			for j < len(q) && charClass[q[j]]&ccIdentChar != 0 {
				j++
			}
			if j < len(q) && charClass[q[j]]&ccHighSpace != 0 {
				l.pos = i // a word with a byte that may be white space: see word
				s.prev, s.prev2At, s.qualAt = prev, p2, qa
				return moved
			}
			if n := j - i; n >= 2 && n <= 10 {
				a, z := c|0x20-'a', q[j-1]|0x20-'a'
				if a < 26 && z < 26 && keywordFilter[n][a]&(1<<z) != 0 {
					l.pos = i
					s.prev, s.prev2At, s.qualAt = prev, p2, qa
					return moved
				}
			}
			p2, prev = prev.start+1, token{kind: tWord, start: i, end: j}
			i = j
		case cc&ccPlain != 0 && c != '@' && (c != '*' || !l.execComment),
			c == ')', c == '.' && (i+1 >= len(q) || !isDigit(q[i+1])):
			t := token{kind: tPunct, start: i, end: i + 1}
			if c == ')' {
				t.kind = tRParen
			} else if c == '.' {
				qa = prev.start + 1
			}
			prev = t
			i++
		case isDigit(c):
			prev = l.number(i)
			i = l.pos
		case c == '$' && i+1 < len(q) && isDigit(q[i+1]):
			j := i + 2
			for j < len(q) && isDigit(q[j]) {
				j++
			}
			prev = token{kind: tParam, start: i, end: j}
			i = j
		case c == '\'':
			// A plain string with no backslash reads the same under every
			// rule; anything else is left to the full lexer.
			j := i + 1
			for j < len(q) && q[j] != '\'' && q[j] != '\\' && q[j] != 0 {
				j++
			}
			if j+1 >= len(q) || q[j] != '\'' || q[j+1] == '\'' {
				l.pos = i
				s.prev, s.prev2At, s.qualAt = prev, p2, qa
				return moved
			}
			p2, prev = prev.start+1, token{kind: tString, start: i, end: j + 1}
			i = j + 1
		default:
			l.pos = i
			s.prev, s.prev2At, s.qualAt = prev, p2, qa
			return moved
		}
		moved = true
	}
	l.pos = i
	s.prev, s.prev2At, s.qualAt = prev, p2, qa
	return moved
}
