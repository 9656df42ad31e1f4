package replica

import (
	"context"
	"database/sql"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sqlreplica/sqlreplica/internal/redact"
	"github.com/sqlreplica/sqlreplica/router"
)

// A statement that calls a function the classifier does not know goes to the
// primary. The DB then looks the function up in the primary's catalog, once,
// in the background, and when the catalog says the function only reads, it
// rebuilds the classifier with the function declared read-only, so that
// later statements calling it may run on replicas.
//
// The catalog's word is the function author's: PostgreSQL's provolatile
// ('s' STABLE, 'i' IMMUTABLE: PostgreSQL refuses writes in SQL and PL/pgSQL
// functions so marked), MySQL's and MariaDB's SQL_DATA_ACCESS (NO SQL,
// READS SQL DATA: advisory only, the server does not enforce it). Declare a
// function that lies with [WriteFunctions]: it wins.
//
// On PostgreSQL a user function may also take a built-in's name: lower(1)
// calls a public.lower(int) rather than pg_catalog.lower(text), as an exact
// argument match wins, and count(id) a user aggregate count(int). The
// classifier cannot see that in the text, so the DB scans the primary's
// catalog at start-up and then every minute for the names of user functions
// and aggregates that may write (VOLATILE, or an aggregate with a VOLATILE
// support function) and declares them Write, which wins over the built-ins:
// a call by such a name goes to the primary, whatever its arguments. Until
// the first scan has settled, such calls may reach a replica.

const (
	// lookupTimeout bounds one catalog lookup.
	lookupTimeout = 5 * time.Second
	// maxVerdicts bounds the functions remembered, and maxLearnt those
	// declared read-only.
	maxVerdicts = 1024
	maxLearnt   = 256
	// negativeRetry is how long a function found not read-only, or whose
	// lookup failed, stays so before it may be looked up again.
	negativeRetry = time.Minute
	// lookupQueue bounds the lookups waiting; more are dropped and retried
	// when a statement calls the function again.
	lookupQueue = 64
	// writerScanInterval is how often the PostgreSQL catalog is scanned for
	// user functions that may write; maxWriters bounds the names kept,
	// those that shadow a built-in's name first.
	writerScanInterval = time.Minute
	maxWriters         = 10000
)

// funcLearner holds the lookups' state. Its zero value is ready; the
// goroutine that runs the lookups is started by [DB.runFunctionLookups].
type funcLearner struct {
	queue chan string // names waiting for a lookup; nil: no lookups

	// mu guards the fields below. setDialect holds it too, so that the
	// classifier is rebuilt by one goroutine at a time from the current
	// dialect and the functions learnt.
	mu       sync.Mutex
	verdicts map[string]funcVerdict
	learnt   []string      // functions found read-only, declared to the classifier
	retry    time.Duration // negativeRetry; tests shorten it
	// writers are the names of user functions that may write, from the last
	// catalog scan, declared Write to the classifier; scans counts the scans
	// that settled (tests wait on it).
	writers []string
	scans   int
}

type funcVerdict struct {
	pending  bool      // queued or being looked up
	readOnly bool      // the catalog says the function only reads
	at       time.Time // when the verdict was reached
}

// learnFunction asks for the function name, which the classifier reported
// as not known to be read-only ([router.ReasonUnknownFunction]), to be looked
// up in the primary's catalog. It returns at once and never blocks: the
// lookup runs in the background, one at a time per name, and the statement
// that called the function goes to the primary meanwhile. A name is looked
// up once; a negative verdict may be retried after a minute. Names that are
// not unquoted identifiers in lower case ("f" or "schema.f"), such as quoted
// mixed-case PostgreSQL names, are never looked up: their statements stay on
// the primary. It does not allocate when the name is already known.
func (db *DB) learnFunction(name string) {
	l := &db.funcs
	if l.queue == nil || !learnable(name) {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	v, known := l.verdicts[name]
	if known && (v.pending || v.readOnly || time.Since(v.at) < l.retryLocked()) {
		return
	}
	if !known && len(l.verdicts) >= maxVerdicts {
		l.forgetNegativesLocked()
		if len(l.verdicts) >= maxVerdicts {
			return
		}
	}
	if l.verdicts == nil {
		l.verdicts = make(map[string]funcVerdict)
	}
	select {
	case l.queue <- name:
		l.verdicts[name] = funcVerdict{pending: true}
	default: // the queue is full: a later call asks again
	}
}

func (l *funcLearner) retryLocked() time.Duration {
	if l.retry > 0 {
		return l.retry
	}
	return negativeRetry
}

// forgetNegativesLocked drops every settled negative verdict, to make room.
func (l *funcLearner) forgetNegativesLocked() {
	for name, v := range l.verdicts {
		if !v.pending && !v.readOnly {
			delete(l.verdicts, name)
		}
	}
}

// learnable reports whether name is "f" or "schema.f" in unquoted lower-case
// identifiers of at most 64 bytes each, as the classifier folds the names it
// is given.
func learnable(name string) bool {
	start, dots := 0, 0
	for i := 0; i <= len(name); i++ {
		if i < len(name) && name[i] != '.' {
			c := name[i]
			letter := c >= 'a' && c <= 'z' || c == '_'
			if !letter && (i == start || !(c >= '0' && c <= '9' || c == '$')) {
				return false
			}
			continue
		}
		if i == start || i-start > 64 {
			return false
		}
		if i < len(name) {
			if dots++; dots > 1 {
				return false
			}
		}
		start = i + 1
	}
	return true
}

// startFunctionLookups starts the goroutine that runs the catalog lookups;
// New calls it once. The goroutine ends when ctx ends (Close).
func (db *DB) startFunctionLookups(ctx context.Context) {
	db.funcs.queue = make(chan string, lookupQueue)
	db.wg.Add(1)
	go db.runFunctionLookups(ctx)
	if db.Dialect() == router.PostgreSQL {
		db.wg.Add(1)
		go db.runWriterScans(ctx)
	}
}

// runWriterScans scans the PostgreSQL catalog for user functions that may
// write at once and then every writerScanInterval, until ctx ends (Close).
func (db *DB) runWriterScans(ctx context.Context) {
	defer db.wg.Done()
	tick := time.NewTicker(writerScanInterval)
	defer tick.Stop()
	for {
		names, err := db.scanWriters(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			db.log.Debug("replica: user function scan failed", "err", redact.Error(err))
		} else {
			db.settleWriters(names)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// writersQuery lists the user functions and aggregates that may write:
// VOLATILE ones, and aggregates (which PostgreSQL always marks IMMUTABLE)
// with a VOLATILE support function. Names that are also a built-in's come
// first, so that the limit drops others first.
const writersQuery = `
SELECT p.proname
FROM pg_catalog.pg_proc p
JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
LEFT JOIN pg_catalog.pg_aggregate a ON a.aggfnoid = p.oid
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND p.prokind IN ('f', 'a', 'w')
  AND (p.provolatile = 'v' OR p.prokind = 'a' AND EXISTS (
    SELECT 1 FROM pg_catalog.pg_proc s
    WHERE s.provolatile = 'v' AND s.oid IN (a.aggtransfn, a.aggfinalfn, a.aggcombinefn,
      a.aggserialfn, a.aggdeserialfn, a.aggmtransfn, a.aggminvtransfn, a.aggmfinalfn)))
GROUP BY p.proname
ORDER BY EXISTS (SELECT 1 FROM pg_catalog.pg_proc b
  WHERE b.pronamespace = 'pg_catalog'::regnamespace AND b.proname = p.proname) DESC, p.proname
LIMIT $1`

// scanWriters runs writersQuery on the primary. It keeps only the names a
// classifier can be given (unquoted lower-case identifiers, as the
// built-ins' are); a call to any other user function is unknown to the
// classifier and goes to the primary anyway.
func (db *DB) scanWriters(ctx context.Context) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	defer cancel()
	rows, err := db.primary.db.QueryContext(ctx, writersQuery, maxWriters)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, err
		}
		if learnable(name) && !strings.Contains(name, ".") {
			names = append(names, name)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(names) >= maxWriters {
		db.log.Warn("replica: too many user functions that may write; some are not declared Write", "limit", maxWriters)
	}
	return names, nil
}

// settleWriters declares names, the user functions that may write, to the
// classifier, rebuilding it when they changed.
func (db *DB) settleWriters(names []string) {
	l := &db.funcs
	l.mu.Lock()
	defer l.mu.Unlock()
	l.scans++
	if slices.Equal(l.writers, names) {
		return
	}
	old := l.writers
	l.writers = names
	if err := db.setDialectLocked(db.Dialect()); err != nil {
		l.writers = old
		db.log.Debug("replica: user functions not declared", "err", redact.Error(err))
		return
	}
	db.log.Debug("replica: user functions that may write declared", "count", len(names))
}

func (db *DB) runFunctionLookups(ctx context.Context) {
	defer db.wg.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case name := <-db.funcs.queue:
			readOnly, err := db.lookUpFunction(ctx, name)
			if err != nil {
				db.log.Debug("replica: function lookup failed", "function", name, "err", redact.Error(err))
			}
			db.settleFunction(name, readOnly && err == nil)
		}
	}
}

// settleFunction records a verdict and, for a read-only function, rebuilds
// the classifier with it declared.
func (db *DB) settleFunction(name string, readOnly bool) {
	l := &db.funcs
	l.mu.Lock()
	defer l.mu.Unlock()
	if readOnly && len(l.learnt) >= maxLearnt {
		readOnly = false
	}
	l.verdicts[name] = funcVerdict{readOnly: readOnly, at: time.Now()}
	if !readOnly {
		return
	}
	l.learnt = append(l.learnt, name)
	if err := db.setDialectLocked(db.Dialect()); err != nil {
		// The name passed learnable, so NewClassifier accepts it; keep the
		// classifier as it was if it ever does not.
		l.learnt = l.learnt[:len(l.learnt)-1]
		l.verdicts[name] = funcVerdict{at: time.Now()}
		db.log.Debug("replica: function not declared", "function", name, "err", redact.Error(err))
		return
	}
	db.log.Debug("replica: function found read-only", "function", name)
}

// lookUpFunction asks the primary's catalog whether every function the name
// may call only reads. A name with no function behind it is not read-only.
func (db *DB) lookUpFunction(ctx context.Context, name string) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	defer cancel()
	schema, fn, qualified := strings.Cut(name, ".")
	if !qualified {
		schema, fn = "", name
	}
	var query string
	var args []any
	switch db.Dialect() {
	case router.PostgreSQL:
		// An unqualified name may resolve to any schema on the search path:
		// every function of that name, in every schema, must only read.
		query = `SELECT count(*), count(*) FILTER (WHERE p.provolatile IN ('s', 'i') AND p.prokind = 'f')
			FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
			WHERE p.proname = $1 AND ($2 = '' OR n.nspname = $2)`
		args = []any{fn, schema}
	case router.MySQL, router.MariaDB:
		// An unqualified name is a function of the connection's database.
		query = `SELECT COUNT(*), COALESCE(SUM(SQL_DATA_ACCESS IN ('NO SQL', 'READS SQL DATA')), 0)
			FROM information_schema.ROUTINES
			WHERE ROUTINE_TYPE = 'FUNCTION' AND ROUTINE_NAME = ? AND ROUTINE_SCHEMA = COALESCE(NULLIF(?, ''), DATABASE())`
		args = []any{fn, schema}
	default:
		return false, nil // an unknown driver: no catalog to ask
	}
	var all, readOnly int
	if err := db.primary.db.QueryRowContext(ctx, query, args...).Scan(&all, &readOnly); err != nil {
		if err == sql.ErrNoRows {
			return false, nil
		}
		return false, err
	}
	return all > 0 && readOnly == all, nil
}
