package router

import (
	"errors"
	"fmt"
	"strings"
)

// Kind says where a statement may run.
type Kind uint8

const (
	// Read marks a statement that is provably safe on a replica.
	Read Kind = iota + 1
	// Write marks every other statement: it runs on the primary.
	Write
)

// String returns "read", "write" or "unset".
func (k Kind) String() string {
	switch k {
	case Read:
		return "read"
	case Write:
		return "write"
	}
	return "unset"
}

// Dialect names the SQL dialect a classifier lexes.
type Dialect uint8

const (
	// PostgreSQL lexes dollar quotes, E'' strings and nested block comments.
	PostgreSQL Dialect = iota + 1
	// MySQL lexes # comments, backticks, backslash escapes and /*! */ code.
	MySQL
	// MariaDB lexes as MySQL does, with /*M! */ code.
	MariaDB
)

// String returns the dialect's name, or "unknown" for the zero value.
func (d Dialect) String() string {
	switch d {
	case PostgreSQL:
		return "postgresql"
	case MySQL:
		return "mysql"
	case MariaDB:
		return "mariadb"
	}
	return "unknown"
}

// Reason says why a statement was classified as it was.
type Reason uint8

const (
	// ReasonRead: every statement is a read with nothing that writes or locks.
	ReasonRead Reason = iota + 1
	// ReasonEmpty: the input holds no statement.
	ReasonEmpty
	// ReasonUnparsable: an unterminated string, comment or identifier.
	ReasonUnparsable
	// ReasonNotRead: the statement's verb is not a read (INSERT, SET, CALL, DDL, …).
	ReasonNotRead
	// ReasonModifies: INSERT, UPDATE, DELETE, MERGE, REPLACE or TRUNCATE inside a read
	// (a data-modifying CTE, or EXPLAIN of a write).
	ReasonModifies
	// ReasonLocks: FOR UPDATE, FOR SHARE, FOR NO KEY UPDATE, FOR KEY SHARE, LOCK IN SHARE MODE.
	ReasonLocks
	// ReasonInto: SELECT … INTO a table, variables or a file.
	ReasonInto
	// ReasonFunction: a call to a function that writes, locks or depends on the
	// writing session (nextval, pg_advisory_lock, GET_LOCK, LAST_INSERT_ID, a user list),
	// or, on MySQL and MariaDB, a read of state that only the writing session
	// has: @@last_insert_id, a user variable (@name), SHOW WARNINGS, SHOW ERRORS,
	// SHOW COUNT(*) WARNINGS, SHOW PROFILE(S), SHOW [SESSION] STATUS.
	ReasonFunction
	// ReasonSequence: NEXT VALUE FOR / PREVIOUS VALUE FOR, and MariaDB's
	// seq.NEXTVAL / seq.CURRVAL (sql_mode=ORACLE).
	ReasonSequence
	// ReasonAssign: a := assignment.
	ReasonAssign
	// ReasonUnknownFunction: a call to a function not known to be read-only
	// (neither a read-only built-in nor declared in [Functions.Read]).
	// [Decision.Function] names it, so that the caller can look it up in the
	// server's catalog and declare it.
	ReasonUnknownFunction
)

var reasonText = [...]string{
	ReasonRead:       "read",
	ReasonEmpty:      "empty statement",
	ReasonUnparsable: "unterminated string, comment or identifier",
	ReasonNotRead:    "not a read statement",
	ReasonModifies:   "modifies data",
	ReasonLocks:      "locking read",
	ReasonInto:       "SELECT INTO",
	ReasonFunction:   "function that writes or locks",
	ReasonSequence:   "sequence access",
	ReasonAssign:     "variable assignment",

	ReasonUnknownFunction: "function not known to be read-only",
}

// String describes the reason in a few words.
func (r Reason) String() string {
	if int(r) < len(reasonText) && r != 0 {
		return reasonText[r]
	}
	return "unset"
}

// Decision is a classification with the reason for it.
type Decision struct {
	Kind   Kind
	Reason Reason
	// Offset is the byte offset in the query of the token that decided a
	// Write, or -1.
	Offset int
	// Function, for ReasonUnknownFunction, names the function as the server
	// resolves it: "name" or "schema.name", an unquoted name in lower case,
	// a quoted one as written (on MySQL and MariaDB a function name is in
	// lower case and a schema as written). It is empty when the call's
	// qualifier is not a plain name, and for every other reason. Explain
	// allocates only to return a name the query does not spell so.
	Function string
	// Declared, for a Read, says that the statement calls a function the
	// classifier takes for read-only only because [Functions] Read names it
	// (declared by the caller, or learnt from a catalog), not because it is
	// a built-in: a function whose author misdeclared it may still write,
	// lock or set session state, and the caller may want to run such a
	// statement where its effects can be undone.
	Declared bool
}

// Classifier classifies statements of one dialect. The zero value is ready
// to use and classifies without a known dialect, as [Classify] does. A
// Classifier is safe for concurrent use.
type Classifier struct {
	dialect Dialect
	read    map[string]struct{} // resolved names: "f" or "schema.f"
	write   map[string]struct{} // function names without schema, lower case
}

// Functions declares functions beyond the built-in ones, for [NewClassifier].
//
// A name is "name" or "schema.name" (on MySQL and MariaDB, "db.name"), each
// part an unquoted SQL identifier; case is folded to lower.
//
// A call keeps a statement a read only when the function is known not to
// write, lock, set session state or run SQL text: a built-in of the
// classifier's dialect (unqualified, or qualified pg_catalog. on PostgreSQL)
// or a name in Read. A Read name matches only calls written the same way: "f"
// matches f(…) but not app.f(…), and "app.f" matches app.f(…) but not f(…),
// which the search path may resolve elsewhere. Every other call sends its
// statement to the primary, with [ReasonUnknownFunction].
type Functions struct {
	// Read names functions that read only (PostgreSQL STABLE or IMMUTABLE
	// and free of side effects; MySQL NO SQL or READS SQL DATA).
	Read []string
	// Write names functions that must always run on the primary, with
	// [ReasonFunction]. A Write name matches by its function name alone,
	// whatever the schema written or called, and wins over Read and the
	// built-in functions.
	Write []string
}

// ErrBadFunctionName is returned by [NewClassifier] for a function name that
// is empty, too long, or not one or two unquoted SQL identifiers joined by a
// dot.
var ErrBadFunctionName = errors.New("router: bad function name")

// NewClassifier returns a classifier for dialect d (zero for unknown: the
// query must be a read under every dialect's rules, and a function must be a
// read-only built-in of every dialect) that also knows the functions in f.
func NewClassifier(d Dialect, f Functions) (*Classifier, error) {
	if d > MariaDB {
		return nil, fmt.Errorf("router: unknown dialect %d", d)
	}
	c := &Classifier{dialect: d}
	for _, name := range f.Read {
		lower, err := checkFunctionName(name)
		if err != nil {
			return nil, err
		}
		if c.read == nil {
			c.read = make(map[string]struct{})
		}
		c.read[lower] = struct{}{}
	}
	for _, name := range f.Write {
		lower, err := checkFunctionName(name)
		if err != nil {
			return nil, err
		}
		if i := strings.LastIndexByte(lower, '.'); i >= 0 {
			lower = lower[i+1:]
		}
		if c.write == nil {
			c.write = make(map[string]struct{})
		}
		c.write[lower] = struct{}{}
	}
	return c, nil
}

// checkFunctionName validates a name of [Functions] and returns it in lower
// case.
func checkFunctionName(name string) (string, error) {
	schema, fn, qualified := strings.Cut(name, ".")
	if !qualified {
		schema, fn = "", name
	}
	if !isPlainIdent(fn) || qualified && !isPlainIdent(schema) {
		return "", fmt.Errorf("%w: %q", ErrBadFunctionName, name)
	}
	return strings.ToLower(name), nil
}

// isPlainIdent reports whether s is an unquoted identifier of at most
// maxFuncName bytes.
func isPlainIdent(s string) bool {
	if len(s) == 0 || len(s) > maxFuncName || !isIdentStart(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if !isIdentChar(s[i]) {
			return false
		}
	}
	return true
}

// Dialect returns the classifier's dialect.
func (c *Classifier) Dialect() Dialect { return c.dialect }

// Classify returns [Read] only for input that is provably safe to run on a
// replica under the rules of every dialect, and [Write] for everything else,
// including empty and unrecognised input.
func Classify(query string) Kind {
	var c Classifier
	return c.Explain(query).Kind
}

// Explain is [Classify] with the reason.
func Explain(query string) Decision {
	var c Classifier
	return c.Explain(query)
}

// Classify returns [Read] only for input that is provably safe to run on a
// replica, and [Write] for everything else.
func (c *Classifier) Classify(query string) Kind {
	return c.Explain(query).Kind
}

// Explain classifies query and says why.
func (c *Classifier) Explain(query string) Decision {
	switch c.dialect {
	case PostgreSQL:
		d, _ := c.family(query, false, fPG)
		return d
	case MySQL:
		d, _ := c.family(query, true, fMySQL)
		return d
	case MariaDB:
		d, _ := c.family(query, true, fMaria)
		return d
	}
	d, flags := c.family(query, false, fPG|fMySQL|fMaria)
	if d.Kind == Write || flags&(flagDialect|flagBackslash) == 0 {
		return d
	}
	d2, _ := c.family(query, true, fPG|fMySQL|fMaria)
	if d2.Kind == Write {
		return d2
	}
	d.Declared = d.Declared || d2.Declared
	return d
}

// Dialect bits of lexMode.funcs.
const (
	fPG uint8 = 1 << iota
	fMySQL
	fMaria
)

// Readings a session or a server may give a statement besides the default
// one; bits of a reading number.
const (
	readBackslash     = 1 << iota // backslash escapes the other way round
	readANSIQuotes                // MySQL: "…" quotes identifiers
	readSkipVersioned             // MySQL: versioned comments are skipped
	readings          = 1 << iota // number of readings
)

// readingsFor returns the readings whose difference the lexer met, by its
// flags.
func readingsFor(flags uint8, mysql bool) int {
	r := 0
	if flags&flagBackslash != 0 {
		r |= readBackslash
	}
	if mysql && flags&flagDQuote != 0 {
		r |= readANSIQuotes
	}
	if mysql && flags&flagVersioned != 0 {
		r |= readSkipVersioned
	}
	return r
}

// family classifies query under the rules of one lexical family and every
// reading a session setting or the server's version may give it: each
// reading whose difference the lexer met is tried, alone and combined with
// the others. The first Write wins. It returns the union of the lexer's flags.
func (c *Classifier) family(query string, mysql bool, funcs uint8) (Decision, uint8) {
	l := lexer{q: query, mode: lexMode{mysql: mysql, backslash: mysql, funcs: funcs}}
	d, flags := c.run(&l)
	if d.Kind == Write || flags&(flagBackslash|flagDQuote|flagVersioned) == 0 {
		return d, flags // the common case: nothing another reading would change
	}
	first := d
	done := uint16(1)
	relevant := readingsFor(flags, mysql)
	for progress := true; progress; {
		progress = false
		for r := 0; r < readings; r++ {
			if r&^relevant != 0 || done&(1<<r) != 0 {
				continue
			}
			done |= 1 << r
			progress = true
			mode := lexMode{
				mysql:         mysql,
				backslash:     mysql != (r&readBackslash != 0), // MySQL's default is on, PostgreSQL's off
				ansiQuotes:    mysql && r&readANSIQuotes != 0,
				skipVersioned: mysql && r&readSkipVersioned != 0,
				funcs:         funcs,
			}
			l := lexer{q: query, mode: mode}
			d, f := c.run(&l)
			if d.Kind == Write {
				return d, flags | f
			}
			first.Declared = first.Declared || d.Declared
			flags |= f
			relevant |= readingsFor(f, mysql)
		}
	}
	return first, flags
}

// stmt is the state of the statement being classified.
type stmt struct {
	started bool // the statement's verb has been seen
	explain bool // skipping EXPLAIN options; the explained verb comes next
	sysvar  bool // after "@": the words that follow may name a system variable
	// userVar: a lone "@" was just read on MySQL or MariaDB; unless another
	// "@" follows, a user variable is named.
	userVar bool
	// userVarAt is the offset plus one of the statement's first user
	// variable (zero: none).
	userVarAt int
	// show: 1 after a MySQL SHOW verb, 2 after SHOW SESSION or SHOW LOCAL
	// (see showsSessionState); 0 otherwise.
	show   uint8
	prev   token
	prevKw kw // prev's keyword
	// The token before prev, and the one before the last ".", are kept as
	// offsets plus one (zero: none) and lexed again when a "(" needs them
	// (see tokenAt): cheaper than carrying whole tokens along.
	prev2At int
	qualAt  int
	fn      string
	// declared: a call to a function named in Functions.Read was seen.
	declared bool
}

// push records t, of keyword k, as the statement's last token.
func (s *stmt) push(query string, t token, k kw) {
	if s.prev.kind != tEOF {
		if t.kind == tPunct && query[t.start] == '.' {
			s.qualAt = s.prev.start + 1
		}
		s.prev2At = s.prev.start + 1
	}
	s.prev, s.prevKw = t, k
}

// tokenAt lexes again the token kept at offset at (plus one; zero gives
// the zero token).
func (l *lexer) tokenAt(at int) token {
	if at == 0 {
		return token{}
	}
	l2 := lexer{q: l.q, pos: at - 1, mode: l.mode, execComment: l.execComment}
	return l2.next()
}

// run classifies l.q under l.mode's lexical rules. The lexer is the
// caller's, so that its mode is read field by field where it was written.
func (c *Classifier) run(l *lexer) (Decision, uint8) {
	query := l.q
	var s stmt
	statements := 0
	declared := false // a statement before this one called a declared function
	userVarAt := 0    // a statement before this one read a user variable (offset plus one)
	mysqlFuncs := l.mode.funcs&(fMySQL|fMaria) != 0
	write := func(r Reason, t token) (Decision, uint8) {
		return Decision{Kind: Write, Reason: r, Offset: t.start}, l.flags
	}
	for {
		if s.started && !s.explain && !s.sysvar && s.show == 0 && s.prevKw != kwReplace && l.skim(&s) {
			s.prevKw = kwNone
		}
		t := l.next()
		switch t.kind {
		case tInvalid:
			return write(ReasonUnparsable, t)
		case tEOF, tSemicolon:
			if s.prevKw == kwReplace {
				return write(ReasonModifies, s.prev)
			}
			if s.explain {
				return write(ReasonNotRead, t) // EXPLAIN of nothing
			}
			if userVarAt == 0 {
				userVarAt = s.userVarAt
			}
			if t.kind == tEOF {
				if statements == 0 {
					return Decision{Kind: Write, Reason: ReasonEmpty, Offset: -1}, l.flags
				}
				if userVarAt > 0 {
					// Read last, so that an assignment or INTO gives its reason.
					return write(ReasonFunction, token{start: userVarAt - 1})
				}
				return Decision{Kind: Read, Reason: ReasonRead, Offset: -1, Declared: declared || s.declared}, l.flags
			}
			declared = declared || s.declared
			s = stmt{}
			continue
		}
		k := kwNone
		if t.kind == tWord {
			k = lookupKeyword(query[t.start:t.end])
		}
		if !s.started {
			switch {
			case t.kind == tLParen:
				continue // a parenthesised query: the verb follows
			case k == kwSelect, k == kwWith, k == kwValues, k == kwTable, k == kwShow:
			case k == kwExplain, k == kwDescribe:
				s.explain = true
			default:
				return write(ReasonNotRead, t)
			}
			s.started = true
			statements++
			if k == kwShow && mysqlFuncs {
				s.show = 1
			}
			s.push(query, t, k)
			continue
		}
		if s.show != 0 {
			// SHOW WARNINGS and the like read the session's own state.
			state, more := false, false
			if t.kind == tWord {
				state, more = showsSessionState(query[t.start:t.end], s.show == 2)
			}
			if state {
				return write(ReasonFunction, t)
			}
			s.show = 0
			if more {
				s.show = 2
			}
		}
		if s.explain {
			switch {
			case k == kwAnalyze, k == kwVerbose, k == kwExtended, k == kwPartitions, k == kwFormat:
				s.push(query, t, k)
				continue
			case t.kind == tPunct && query[t.start] == '=' && s.prevKw == kwFormat:
				s.push(query, t, kwNone)
				continue
			case t.kind == tWord && k == kwNone && s.prev.kind == tPunct:
				continue // FORMAT=JSON
			case t.kind == tLParen && s.prevKw == kwExplain:
				// PostgreSQL's option list: EXPLAIN (ANALYZE, BUFFERS) …
				if !skipParens(l) {
					return write(ReasonUnparsable, t)
				}
				s.push(query, token{kind: tRParen, start: l.pos - 1, end: l.pos}, kwNone)
				continue
			}
			s.explain = false
			switch {
			case k == kwSelect, k == kwWith, k == kwValues, k == kwTable, t.kind == tLParen:
			case t.kind == tQuotedIdent, t.kind == tString, t.kind == tWord && k == kwNone:
				// MySQL's EXPLAIN tbl / DESCRIBE tbl. A "quoted" name is a
				// string to MySQL; both kinds are treated alike so that the
				// two families cannot disagree.
			default:
				return write(ReasonNotRead, t)
			}
		}
		if r, blamePrev := c.checkToken(query, &s, t, k, l); r != 0 {
			if blamePrev {
				t = s.prev
			}
			return Decision{Kind: Write, Reason: r, Offset: t.start, Function: s.fn}, l.flags
		}
		s.push(query, t, k)
	}
}

// checkToken applies the rules for a token inside a read statement. It
// returns the reason the token makes the statement a write, or zero, and
// whether the token before it is to blame.
func (c *Classifier) checkToken(query string, s *stmt, t token, k kw, l *lexer) (Reason, bool) {
	if s.prevKw == kwReplace && t.kind != tLParen {
		return ReasonModifies, true // REPLACE INTO, not the REPLACE() function
	}
	mysqlFuncs := l.mode.funcs&(fMySQL|fMaria) != 0
	if s.userVar {
		s.userVar = false
		if t.kind == tPunct && query[t.start] == '@' {
			return 0, false // "@@": a system variable follows; sysvar stays set
		}
		// "@name", "@'name'", "@`name`": a user variable, which the session
		// that set it has and a replica's session has not.
		if s.userVarAt == 0 {
			s.userVarAt = s.prev.start + 1
		}
	}
	if mysqlFuncs && s.prev.kind == tPunct && query[s.prev.start] == '.' && isSequencePseudoColumn(query, t, k) {
		return ReasonSequence, false
	}
	if k != kwNone {
		switch k {
		case kwUpdate, kwShare, kwNo, kwKey:
			if s.prevKw == kwFor {
				return ReasonLocks, true
			}
			if k == kwUpdate {
				return ReasonModifies, false
			}
		case kwInsert, kwDelete, kwMerge, kwTruncate:
			return ReasonModifies, false
		case kwInto:
			return ReasonInto, false
		case kwLock:
			return ReasonLocks, false
		case kwValue:
			if s.prevKw == kwNext || s.prevKw == kwPrevious {
				return ReasonSequence, true
			}
		}
	}
	switch t.kind {
	case tAssign:
		return ReasonAssign, false
	case tLParen:
		if r := c.checkCall(query, s, t, l); r != 0 {
			return r, true
		}
	case tWord, tQuotedIdent, tString:
		// @@last_insert_id, @@session.identity, @@`last_gtid`: values only
		// the writing session has.
		if s.sysvar {
			name := query[t.start:t.end]
			if t.kind != tWord && len(name) >= 2 {
				name = name[1 : len(name)-1]
			}
			if isSessionVariable(name) {
				return ReasonFunction, false
			}
			return 0, false // keep sysvar for @@session.name
		}
	case tPunct:
		switch query[t.start] {
		case '@':
			if !s.sysvar {
				// Not after a user name: 'user'@'host' (SHOW GRANTS FOR).
				s.userVar = mysqlFuncs && s.prev.kind != tString && s.prev.kind != tQuotedIdent
			}
			s.sysvar = true
			return 0, false
		case '.':
			if s.sysvar {
				return 0, false
			}
		}
	}
	s.sysvar = false
	return 0, false
}

// checkCall applies the rules for a "(" that may open a function call named
// by the tokens before it. It returns ReasonFunction for a function that
// must run on the primary, ReasonUnknownFunction (naming it in s.fn) for one
// not known to be read-only, and zero for a read-only function or a "(" that
// opens no call.
func (c *Classifier) checkCall(query string, s *stmt, lp token, l *lexer) Reason {
	mode := &l.mode
	name := s.prev
	quoted := false
	switch name.kind {
	case tWord:
	case tQuotedIdent:
		quoted = true
	case tString:
		if query[name.start] != '"' {
			// 'text'( is no call, but U&"name" UESCAPE '!'( is.
			if p := l.tokenAt(s.prev2At); p.kind == tWord && eqFold(query[p.start:p.end], "uescape") {
				return ReasonUnknownFunction
			}
			return 0
		}
		quoted = true // an identifier under ANSI_QUOTES
	default:
		return 0
	}
	raw := query[name.start:name.end]
	if quoted {
		if len(raw) < 2 {
			return 0
		}
		raw = raw[1 : len(raw)-1]
	}
	qualified := false
	var qual token
	if s.prev2At > 0 && query[s.prev2At-1] == '.' {
		if p := l.tokenAt(s.prev2At); p.kind == tPunct { // not a number such as .5
			qualified = true
			qual = l.tokenAt(s.qualAt)
		}
	}
	var buf [maxFuncName]byte
	lower, ok := lowerASCII(&buf, raw)
	if ok && c.write != nil && hasName(c.write, lower) {
		return ReasonFunction
	}
	if len(lower) == 2 && !quoted && !qualified {
		switch string(lower) {
		case "in", "as", "on", "or": // syntax in every dialect: IN (…), AS (…)
			return 0
		}
	}
	// A quoted name is a function's exact name, never a keyword: on
	// PostgreSQL "lower"(…) is lower(…); on MySQL `if`(…) names a stored
	// function, so a quoted name matches no MySQL built-in.
	if ok && (!quoted || mode.funcs == fPG && string(lower) == raw) {
		bits := builtinFuncs[string(lower)]
		if quoted {
			bits &= bPGFunc
		}
		if bits != 0 && builtinAllows(bits, mode.funcs, qualified,
			qualified && isPGCatalog(query, qual), lp.start == name.end) {
			return 0 // no read-only built-in is a known writer (TestBuiltinListsAgree)
		}
	}
	if !qualified {
		// ") name(" is an alias's column list, OVER (…), FILTER (…) or
		// AGAINST (…); "AS name(" a column list or a type's modifier;
		// "WITH name(" a CTE's columns; "TABLESAMPLE name(" a sampling method.
		if p := l.tokenAt(s.prev2At); p.kind == tRParen {
			return 0
		} else if p.kind == tWord {
			w := query[p.start:p.end]
			if eqFold(w, "as") || eqFold(w, "with") || eqFold(w, "recursive") || eqFold(w, "tablesample") {
				return 0
			}
		}
	}
	if ok && isBuiltinWriteFunc(lower) {
		return ReasonFunction
	}
	var full [2*maxFuncName + 1]byte
	resolved, ok := resolveName(&full, query, qual, raw, quoted, qualified, mode.mysql)
	if ok && c.read != nil && hasName(c.read, resolved) {
		s.declared = true
		return 0
	}
	if ok {
		s.fn = nameString(query, qual, name, qualified, resolved)
	}
	return ReasonUnknownFunction
}

func hasName(m map[string]struct{}, name []byte) bool {
	_, found := m[string(name)]
	return found
}

// builtinAllows reports whether a built-in's bits let a call keep a
// statement a read in every dialect of funcs. A qualified call matches only
// PostgreSQL's pg_catalog functions. On MySQL and MariaDB a name that is
// not a reserved word names the built-in only when "(" follows it at once:
// with white space between, and without sql_mode IGNORE_SPACE, it names a
// stored function.
func builtinAllows(bits, funcs uint8, qualified, pgCatalog, adjacent bool) bool {
	if qualified {
		return pgCatalog && funcs == fPG && bits&bPGFunc != 0
	}
	if funcs&fPG != 0 && bits&(bPGFunc|bPGSyntax) == 0 {
		return false
	}
	if funcs&fMySQL != 0 && bits&bMySQLSyntax == 0 && (!adjacent || bits&bMySQLFunc == 0) {
		return false
	}
	if funcs&fMaria != 0 && bits&bMariaSyntax == 0 && (!adjacent || bits&bMariaFunc == 0) {
		return false
	}
	return true
}

// isPGCatalog reports whether t spells the schema pg_catalog.
func isPGCatalog(query string, t token) bool {
	switch t.kind {
	case tWord:
		return eqFold(query[t.start:t.end], "pg_catalog")
	case tQuotedIdent:
		return query[t.start:t.end] == `"pg_catalog"`
	}
	return false
}

// resolveName writes into buf the name the server resolves a call to: the
// qualifier, if any, a dot and the function name. PostgreSQL folds unquoted
// names to lower case and keeps quoted ones; MySQL folds function names
// and keeps database names. ok is false when the qualifier is not a name or
// the result does not fit.
func resolveName(buf *[2*maxFuncName + 1]byte, query string, q token, raw string, quoted, qualified, mysql bool) ([]byte, bool) {
	n := 0
	if qualified {
		var qs string
		switch {
		case q.kind == tWord:
			qs = query[q.start:q.end]
		case (q.kind == tQuotedIdent || q.kind == tString && query[q.start] == '"') && q.end-q.start >= 2:
			qs = query[q.start+1 : q.end-1]
		default:
			return nil, false
		}
		if len(qs) > maxFuncName {
			return nil, false
		}
		fold := q.kind == tWord && !mysql
		for i := 0; i < len(qs); i++ {
			buf[n] = foldByte(qs[i], fold)
			n++
		}
		buf[n] = '.'
		n++
	}
	if len(raw) > maxFuncName {
		return nil, false
	}
	fold := !quoted || mysql
	for i := 0; i < len(raw); i++ {
		buf[n] = foldByte(raw[i], fold)
		n++
	}
	return buf[:n], true
}

func foldByte(c byte, fold bool) byte {
	if fold && c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// nameString returns resolved as a string, sharing the query's bytes when
// the query spells it exactly so.
func nameString(query string, qual, name token, qualified bool, resolved []byte) string {
	start := name.start
	if qualified {
		start = qual.start
	}
	if text := query[start:name.end]; text == string(resolved) {
		return text
	}
	return string(resolved)
}

// skipParens consumes tokens up to the ")" that matches a "(" just read. It
// returns false at the end of input or on an invalid token.
func skipParens(l *lexer) bool {
	depth := 1
	for {
		switch l.next().kind {
		case tLParen:
			depth++
		case tRParen:
			depth--
			if depth == 0 {
				return true
			}
		case tEOF, tInvalid, tSemicolon:
			return false
		}
	}
}
