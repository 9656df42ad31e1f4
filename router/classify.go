package router

import (
	"errors"
	"fmt"
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
	// writing session (nextval, pg_advisory_lock, GET_LOCK, LAST_INSERT_ID, a user list).
	ReasonFunction
	// ReasonSequence: NEXT VALUE FOR / PREVIOUS VALUE FOR.
	ReasonSequence
	// ReasonAssign: a := assignment.
	ReasonAssign
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
}

// Classifier classifies statements of one dialect. The zero value is ready
// to use and classifies without a known dialect, as [Classify] does. A
// Classifier is safe for concurrent use.
type Classifier struct {
	dialect    Dialect
	writeFuncs map[string]struct{}
}

// ErrBadFunctionName is returned by [NewClassifier] for a function name that
// is empty or holds characters no unquoted SQL identifier has.
var ErrBadFunctionName = errors.New("router: bad function name")

// NewClassifier returns a classifier for dialect d (zero for unknown: the
// query must be a read under every dialect's rules) that also sends calls to
// the named functions to the primary. Names match without regard to ASCII
// case and without a schema qualifier.
func NewClassifier(d Dialect, writeFunctions ...string) (*Classifier, error) {
	if d > MariaDB {
		return nil, fmt.Errorf("router: unknown dialect %d", d)
	}
	c := &Classifier{dialect: d}
	for _, name := range writeFunctions {
		var buf [maxFuncName]byte
		lower, ok := lowerASCII(&buf, name)
		if !ok || len(name) == 0 || !isIdentStart(name[0]) {
			return nil, fmt.Errorf("%w: %q", ErrBadFunctionName, name)
		}
		for i := 0; i < len(name); i++ {
			if !isIdentChar(name[i]) {
				return nil, fmt.Errorf("%w: %q", ErrBadFunctionName, name)
			}
		}
		if c.writeFuncs == nil {
			c.writeFuncs = make(map[string]struct{})
		}
		c.writeFuncs[string(lower)] = struct{}{}
	}
	return c, nil
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
		return c.interpretations(query, false, false)
	case MySQL, MariaDB:
		return c.interpretations(query, true, false)
	}
	return c.interpretations(query, false, true)
}

// interpretations classifies query under the given family and, where the
// lexer met something another reading would tokenise differently, under
// those readings too. The first Write wins.
func (c *Classifier) interpretations(query string, mysql, anyDialect bool) Decision {
	// MySQL's default is backslash escapes on; PostgreSQL's is off.
	d, flags := c.run(query, lexMode{mysql: mysql, backslash: mysql})
	if d.Kind == Write {
		return d
	}
	if flags&flagBackslash != 0 {
		if d2, _ := c.run(query, lexMode{mysql: mysql, backslash: !mysql}); d2.Kind == Write {
			return d2
		}
	}
	if anyDialect && flags&(flagDialect|flagBackslash) != 0 {
		d2, f2 := c.run(query, lexMode{mysql: true, backslash: true})
		if d2.Kind == Write {
			return d2
		}
		if f2&flagBackslash != 0 {
			if d3, _ := c.run(query, lexMode{mysql: true}); d3.Kind == Write {
				return d3
			}
		}
	}
	return d
}

// stmt is the state of the statement being classified.
type stmt struct {
	started bool // the statement's verb has been seen
	explain bool // skipping EXPLAIN options; the explained verb comes next
	sysvar  bool // after "@": the words that follow may name a system variable
	prev    token
	prevKw  kw
}

// run classifies query under one set of lexical rules.
func (c *Classifier) run(query string, mode lexMode) (Decision, uint8) {
	l := lexer{q: query, mode: mode}
	var s stmt
	statements := 0
	write := func(r Reason, t token) (Decision, uint8) {
		return Decision{Kind: Write, Reason: r, Offset: t.start}, l.flags
	}
	for {
		if s.started && !s.explain && !s.sysvar && s.prevKw != kwReplace && l.skim(&s.prev) {
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
			if t.kind == tEOF {
				if statements == 0 {
					return Decision{Kind: Write, Reason: ReasonEmpty, Offset: -1}, l.flags
				}
				return Decision{Kind: Read, Reason: ReasonRead, Offset: -1}, l.flags
			}
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
			s.prev, s.prevKw = t, k
			continue
		}
		if s.explain {
			switch {
			case k == kwAnalyze, k == kwVerbose, k == kwExtended, k == kwPartitions, k == kwFormat:
				s.prev, s.prevKw = t, k
				continue
			case t.kind == tPunct && query[t.start] == '=' && s.prevKw == kwFormat:
				s.prev, s.prevKw = t, kwNone
				continue
			case t.kind == tWord && k == kwNone && s.prev.kind == tPunct:
				continue // FORMAT=JSON
			case t.kind == tLParen && s.prevKw == kwExplain:
				// PostgreSQL's option list: EXPLAIN (ANALYZE, BUFFERS) …
				if !skipParens(&l) {
					return write(ReasonUnparsable, t)
				}
				s.prev, s.prevKw = token{kind: tRParen}, kwNone
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
		if r, blamePrev := c.checkToken(query, &s, t, k); r != 0 {
			if blamePrev {
				return write(r, s.prev)
			}
			return write(r, t)
		}
		s.prev, s.prevKw = t, k
	}
}

// checkToken applies the rules for a token inside a read statement. It
// returns the reason the token makes the statement a write, or zero, and
// whether the token before it is to blame.
func (c *Classifier) checkToken(query string, s *stmt, t token, k kw) (Reason, bool) {
	if s.prevKw == kwReplace && t.kind != tLParen {
		return ReasonModifies, true // REPLACE INTO, not the REPLACE() function
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
		if c.isWriteFunc(query, s.prev) {
			return ReasonFunction, true
		}
	case tWord:
		// @@last_insert_id, @@session.identity, @@last_gtid: values only the
		// writing session has.
		if s.sysvar && isSessionVariable(query[t.start:t.end]) {
			return ReasonFunction, false
		}
		return 0, false // keep sysvar for @@session.name
	case tPunct:
		switch query[t.start] {
		case '@':
			s.sysvar = true
			return 0, false
		case '.':
			return 0, false
		}
	}
	s.sysvar = false
	return 0, false
}

// isWriteFunc reports whether the token before a "(" names a function that
// must run on the primary.
func (c *Classifier) isWriteFunc(query string, prev token) bool {
	name := query[prev.start:prev.end]
	switch prev.kind {
	case tWord:
	case tQuotedIdent, tString:
		// "nextval"(…) in PostgreSQL; a string to MySQL, treated alike.
		if len(name) < 2 {
			return false
		}
		name = name[1 : len(name)-1]
	default:
		return false
	}
	var buf [maxFuncName]byte
	lower, ok := lowerASCII(&buf, name)
	if !ok {
		return false
	}
	if isBuiltinWriteFunc(lower) {
		return true
	}
	if c.writeFuncs != nil {
		_, found := c.writeFuncs[string(lower)]
		return found
	}
	return false
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
