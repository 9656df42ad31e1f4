package replica

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"reflect"
	"time"

	"github.com/sqlreplica/sqlreplica/consistency"
	"github.com/sqlreplica/sqlreplica/internal/redact"
	"github.com/sqlreplica/sqlreplica/router"
)

// SQLDB returns a *sql.DB whose every statement this DB routes, by the same
// decision as its own methods: reads to the replicas, anything that may
// write, lock or change session state to the primary, sessions, tokens,
// hints and [CausalReads] honoured. It is for code that wants a *sql.DB:
// sqlx, GORM, bun, ent, goose, otelsql, sqlc. It returns the same value at
// every call, and [DB.Close] closes it.
//
// Its connections are virtual (see [DriverConn]): each statement takes a
// real connection from the pool of the node it is routed to, and gives it
// back when it is done (when its rows are closed), so the nodes' pools keep
// their limits and are shared with the DB's own methods. What database/sql
// holds on one connection stays on one real connection:
//
//   - A transaction runs wholly on one node: on a replica, begun read only,
//     when sql.TxOptions.ReadOnly is set (or the context has [WithReplica]),
//     refusing statements that may write with [ErrWriteOnReplica]
//     (savepoints are allowed); on the primary otherwise, savepoints
//     included.
//   - A *sql.Conn, from its first statement that may write or change
//     session state (an INSERT, SET, a temporary table, an advisory lock,
//     PREPARE, USE, …) or its first read-write transaction, runs every later
//     statement on that same primary connection, so that session state
//     (LAST_INSERT_ID, lastval, temporary tables, locks, settings) is where
//     the next statement runs. When database/sql takes the connection back
//     (Conn.Close, the end of a statement or transaction of the *sql.DB
//     itself) the real connection returns to the primary's pool; one whose
//     session state a statement may have changed (SET, a temporary table,
//     a lock, PREPARE, a write that calls a function or uses a user
//     variable, …) is closed instead, so that the state does not leak into
//     another caller's statements. What a trigger does to the session is
//     not seen: as with any *sql.DB, it stays with the pooled connection.
//     Session state set by a statement of the *sql.DB itself, outside a
//     *sql.Conn or transaction, is therefore gone by the next statement:
//     set it in a *sql.Conn, a transaction, or the DSN. Like a driver's
//     connection, a *sql.Conn runs one statement at a time: one run while
//     an earlier statement's rows are open fails with a "conn busy" error.
//   - A prepared *sql.Stmt is prepared lazily, on whichever node runs it,
//     and routed at each execution: a read spreads over the replicas, and
//     in a session it honours the session. On PostgreSQL pgx caches the
//     prepared statement per connection; go-sql-driver/mysql prepares, runs
//     and closes it at each execution unless interpolateParams is set, as
//     for any query with arguments.
//
// Arguments reach the real driver untouched (pgx.NamedArgs, query exec
// modes, driver.Valuer): the real connection's CheckNamedValue converts
// them. sql.ErrNoRows, LastInsertId, RowsAffected, column types and the Go
// types a Scan into *any gives are the real driver's.
//
// Setting the returned *sql.DB's pool limits limits the virtual
// connections only; set the nodes' limits with [DB.SetMaxOpenConns] and the
// like.
func (db *DB) SQLDB() *sql.DB {
	db.sqldbMu.Lock()
	defer db.sqldbMu.Unlock()
	if db.sqldb == nil {
		db.sqldb = sql.OpenDB(db.Connector())
		if db.closed.Load() {
			db.sqldb.Close()
		}
	}
	return db.sqldb
}

// Connector returns the driver.Connector behind [DB.SQLDB], for code that
// opens its own *sql.DB with sql.OpenDB or wraps the connector (otelsql's
// WrapConnector, for one). Its connections are [DriverConn]s.
func (db *DB) Connector() driver.Connector { return connector{db: db} }

type connector struct{ db *DB }

// Connect returns a new virtual connection; it takes no real connection
// until a statement runs.
func (c connector) Connect(context.Context) (driver.Conn, error) {
	if c.db.closed.Load() {
		return nil, ErrClosed
	}
	return &DriverConn{db: c.db}, nil
}

// Driver returns a driver whose Open always fails: the connector is the
// only way to a connection.
func (connector) Driver() driver.Driver { return routingDriver{} }

type routingDriver struct{}

func (routingDriver) Open(string) (driver.Conn, error) {
	return nil, errors.New("replica: the routing driver opens connections only through DB.Connector")
}

// DriverConn is a connection of [DB.SQLDB]: what (*sql.Conn).Raw hands to
// its function. It holds no real connection of its own between statements;
// see [DB.SQLDB] for where its statements run. Like any driver connection,
// database/sql uses it from one goroutine at a time.
type DriverConn struct {
	db  *DB
	pin realConn // the primary connection this checkout keeps (see DB.SQLDB); zero: none
	// sticky: a statement changed pin's session state: it is closed, not
	// pooled, when the checkout ends.
	sticky bool
	tx     *connTx // the open transaction, if any
	open   int     // rows handed out and not closed yet
}

// errConnBusy is what a connection with rows still open answers, as a
// plain driver connection does: it runs one statement at a time.
var errConnBusy = errors.New("replica: conn busy: the rows of an earlier statement of this connection are still open")

// realConn is a connection of a node's pool, held for a statement, a
// transaction or a checkout.
type realConn struct {
	n    *node
	sc   *sql.Conn
	dc   driver.Conn
	uses int // statements it served since it was taken from the pool (see spares)
}

var errNotDriverConn = errors.New("replica: a pool's connection is not a driver.Conn")

// borrow takes a connection of n's pool. The driver connection is used
// after Raw returns, which database/sql's documentation forbids: it is safe
// here because the *sql.Conn is held, unused, until release, so database/sql
// neither touches nor closes the driver connection in between (a pool
// closes an in-use connection only once it is returned). Taking the real
// connection from the node's pool, rather than from a connector of our own,
// keeps one set of limits per node, shared with the DB's own methods, and
// needs no DSN ([New] is given pools).
func borrow(ctx context.Context, n *node) (realConn, error) {
	if r, ok := n.spare.take(ctx); ok {
		return r, nil
	}
	sc, err := n.db.Conn(ctx)
	if err != nil {
		return realConn{}, err
	}
	var dc driver.Conn
	err = sc.Raw(func(c any) error {
		var ok bool
		if dc, ok = c.(driver.Conn); !ok {
			return errNotDriverConn
		}
		return nil
	})
	if err != nil {
		sc.Close()
		return realConn{}, err
	}
	return realConn{n: n, sc: sc, dc: dc}, nil
}

// release gives r back (see spares), or closes it when discard is set.
func (r realConn) release(discard bool) {
	if discard {
		discardConn(r.sc)
	} else if r.n.spare.put(r) {
		return
	}
	r.sc.Close()
}

// bad reports whether err says the connection cannot be used again.
func bad(err error) bool { return errors.Is(err, driver.ErrBadConn) }

// keep makes r the checkout's primary connection: it ran a statement that
// may write, and the next statements of the checkout run where its effects
// on the session are.
func (c *DriverConn) keep(r realConn, changes bool, err error) {
	if bad(err) {
		r.release(true)
		return
	}
	if c.pin.sc == nil {
		c.pin = r
	} else if c.pin.sc != r.sc {
		r.release(false) // cannot happen: a pinned checkout does not route
	}
	if changes {
		c.sticky = true
	}
}

// endCheckout returns the checkout's primary connection to its pool (closed
// if its session state changed).
func (c *DriverConn) endCheckout() {
	if c.pin.sc != nil {
		c.pin.release(c.sticky)
		c.pin, c.sticky = realConn{}, false
	}
}

// ExecContext runs a statement that returns no rows where the routing
// decision sends it.
func (c *DriverConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	db := c.db
	if db.closed.Load() {
		return nil, ErrClosed
	}
	if c.tx != nil {
		return c.tx.exec(ctx, query, args)
	}
	if c.pin.sc != nil {
		return c.execPinned(ctx, query, args)
	}
	if c.open > 0 {
		return nil, errConnBusy
	}
	var res driver.Result
	err := db.route(ctx, query, db.classOf(callStatement, query), captureByFn, func(ctx context.Context, n *node, q querier) error {
		return retryBad(func() error { return c.execOn(ctx, n, q, query, args, &res) })
	})
	return res, err
}

// execOn runs a statement on a connection of n's pool.
func (c *DriverConn) execOn(ctx context.Context, n *node, q querier, query string, args []driver.NamedValue, res *driver.Result) error {
	db := c.db
	r, err := borrow(ctx, n)
	if err != nil {
		return err
	}
	*res, err = r.exec(ctx, query, args)
	if q.write {
		c.keep(r, db.cls.Load().changesSession(query), err)
		if err == nil {
			db.recordWriteHeld(ctx, q.session, n, time.Now())
		}
		return err
	}
	r.release(err != nil && (q.isolate || bad(err)))
	return err
}

// badConnTries is how many connections a statement of the routing *sql.DB
// tries while its driver finds each bad before sending it.
const badConnTries = 3

// retryBad runs f, which takes a connection of its own and closes it when
// it fails, again while it fails with driver.ErrBadConn: the driver's word
// that the statement never reached the server (a pooled connection the
// server ended). database/sql retries its own pools' statements likewise;
// the node is not at fault.
func retryBad(f func() error) error {
	var err error
	for range badConnTries {
		if err = f(); !errors.Is(err, driver.ErrBadConn) {
			return err
		}
	}
	return err
}

// QueryContext runs a statement that returns rows where the routing
// decision sends it. The real connection goes back to its pool when the
// rows are closed.
func (c *DriverConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	db := c.db
	if db.closed.Load() {
		return nil, ErrClosed
	}
	if c.tx != nil {
		return c.tx.query(ctx, query, args)
	}
	if c.pin.sc != nil {
		return c.queryPinned(ctx, query, args)
	}
	if c.open > 0 {
		return nil, errConnBusy
	}
	var out *rows
	err := db.route(ctx, query, db.classOf(callStatement, query), captureByFn, func(ctx context.Context, n *node, q querier) error {
		return retryBad(func() error { return c.queryOn(ctx, n, q, query, args, &out) })
	})
	if err != nil {
		return nil, err
	}
	c.open++
	out.owner = c
	return out, nil
}

// queryOn runs a query on a connection of n's pool; its rows go to *out.
func (c *DriverConn) queryOn(ctx context.Context, n *node, q querier, query string, args []driver.NamedValue, out **rows) error {
	r, err := borrow(ctx, n)
	if err != nil {
		return err
	}
	rs, st, err := r.query(ctx, query, args)
	if q.write {
		c.keep(r, c.db.cls.Load().changesSession(query), err)
		if err != nil {
			return err
		}
		*out = &rows{rs: rs, st: st}
		(*out).recordAtClose(c.db, q.session, n)
		return nil
	}
	if err != nil {
		r.release(q.isolate || bad(err))
		return err
	}
	*out = &rows{rs: rs, st: st, conn: r}
	return nil
}

// pinnedDecision decides for a statement on the checkout's primary
// connection.
func (c *DriverConn) pinnedDecision(in decisionInput) decision {
	in.caller, in.split = callPinned, c.db.view.Load().split
	return decide(in)
}

// execPinned runs a statement on the checkout's primary connection.
func (c *DriverConn) execPinned(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	db := c.db
	d := c.pinnedDecision(db.classOf(callStatement, query))
	if d.target == refuse {
		return nil, refusal(d)
	}
	res, err := c.pin.exec(ctx, query, args)
	c.afterPinned(ctx, d, query, err, false)
	if err != nil {
		return nil, redact.Error(err)
	}
	return res, nil
}

// queryPinned runs a query on the checkout's primary connection.
func (c *DriverConn) queryPinned(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	db := c.db
	d := c.pinnedDecision(db.classOf(callStatement, query))
	if d.target == refuse {
		return nil, refusal(d)
	}
	rs, st, err := c.pin.query(ctx, query, args)
	out := c.afterPinned(ctx, d, query, err, true)
	if err != nil {
		return nil, redact.Error(err)
	}
	out.rs, out.st = rs, st
	return out, nil
}

// afterPinned does what a statement on the pinned connection means for the
// checkout and the session: one that may write records its position (when
// it has completed: now, or once its rows are closed), one that failed with
// an unknown outcome makes the session read the primary's position later,
// and a read raises the session's floor to what the primary had.
func (c *DriverConn) afterPinned(ctx context.Context, d decision, query string, err error, hasRows bool) *rows {
	db, n := c.db, c.pin.n
	s := consistency.SessionFrom(ctx)
	out := &rows{}
	if bad(err) {
		c.pin.release(true)
		c.pin, c.sticky = realConn{}, false
	} else if d.write && c.db.cls.Load().changesSession(query) {
		c.sticky = true
	}
	switch {
	case d.write && err != nil:
		db.writeFailed(ctx, n, s, err)
	case d.write && hasRows:
		out.recordAtClose(db, s, n)
	case d.write:
		db.recordWriteHeld(ctx, s, n, time.Now())
	case err == nil && s != nil:
		db.readOnPrimary(s, n, time.Now())
	}
	return out
}

// PrepareContext returns a statement prepared lazily: each execution is
// routed, and prepared by the real driver on the connection that runs it.
func (c *DriverConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	if c.db.closed.Load() {
		return nil, ErrClosed
	}
	return &connStmt{c: c, query: query}, nil
}

// Prepare is PrepareContext with context.Background.
func (c *DriverConn) Prepare(query string) (driver.Stmt, error) {
	return c.PrepareContext(context.Background(), query)
}

// CheckNamedValue accepts every argument as it is: the real connection
// that runs the statement converts it.
func (c *DriverConn) CheckNamedValue(*driver.NamedValue) error { return nil }

// Begin starts a read-write transaction; see BeginTx.
func (c *DriverConn) Begin() (driver.Tx, error) {
	return c.BeginTx(context.Background(), driver.TxOptions{})
}

// BeginTx starts a transaction on one node: see [DB.SQLDB].
func (c *DriverConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	db := c.db
	if db.closed.Load() {
		return nil, ErrClosed
	}
	if c.tx != nil {
		return nil, errors.New("replica: a transaction is already open on this connection")
	}
	if c.open > 0 && c.pin.sc == nil {
		return nil, errConnBusy
	}
	cls := router.Write
	if opts.ReadOnly {
		cls = router.Read
	}
	in := decisionInput{caller: callBegin, class: cls, hint: hintFrom(ctx)}
	read := !in.mayWrite()
	if c.pin.sc != nil {
		// The transaction runs where the checkout's session state is.
		d := c.pinnedDecision(decisionInput{class: cls})
		if d.target == refuse {
			return nil, refusal(d)
		}
		tx, err := begin(ctx, c.pin.dc, opts)
		if err != nil {
			if bad(err) {
				c.pin.release(true)
				c.pin, c.sticky = realConn{}, false
			}
			return nil, redact.Error(err)
		}
		c.tx = &connTx{c: c, r: c.pin, tx: tx, read: opts.ReadOnly, ctx: ctx}
		return c.tx, nil
	}
	if opts.Isolation == driver.IsolationLevel(sql.LevelSerializable) && read &&
		db.Dialect() != router.MySQL && db.Dialect() != router.MariaDB {
		in.serializableOnPG = true
	}
	err := db.route(ctx, "", in, captureByFn, func(ctx context.Context, n *node, q querier) error {
		return retryBad(func() error {
			r, err := borrow(ctx, n)
			if err != nil {
				return err
			}
			o := opts
			if read {
				o.ReadOnly = true
			}
			tx, err := begin(ctx, r.dc, o)
			if err != nil {
				r.release(bad(err))
				return err
			}
			c.tx = &connTx{c: c, r: r, tx: tx, read: read, ctx: ctx}
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return c.tx, nil
}

// ResetSession is called before database/sql reuses the connection.
func (c *DriverConn) ResetSession(context.Context) error {
	if c.db.closed.Load() {
		return driver.ErrBadConn
	}
	return nil
}

// IsValid is called when database/sql takes the connection back: the
// checkout ends, and its primary connection returns to the pool (or is
// closed, when its session state changed).
func (c *DriverConn) IsValid() bool {
	if c.tx == nil {
		c.endCheckout()
	}
	return !c.db.closed.Load()
}

// Ping checks the checkout's primary connection, or the writer's pool.
func (c *DriverConn) Ping(ctx context.Context) error {
	if c.db.closed.Load() {
		return ErrClosed
	}
	if c.pin.sc != nil {
		if p, ok := c.pin.dc.(driver.Pinger); ok {
			return redact.Error(p.Ping(ctx))
		}
		return nil
	}
	return redact.Error(c.db.view.Load().writer.db.PingContext(ctx))
}

// Close ends the connection: an open transaction is rolled back and the
// real connections go back to their pools.
func (c *DriverConn) Close() error {
	if t := c.tx; t != nil {
		_ = t.Rollback()
	}
	c.endCheckout()
	return nil
}

// Primary runs every later statement of the checkout on one primary
// connection, as a statement that may write does, and returns that
// connection's driver connection (for pgx, a *stdlib.Conn), for what only
// the driver's own API can do. Whatever runs on it is unknown to the DB:
// the connection is closed, not pooled, when the checkout ends, and a write
// is not recorded in the context's session (see [DB.RecordWrite]). It is
// refused with [ErrSplitBrain] in a split brain, and fails while a
// transaction is open.
func (c *DriverConn) Primary(ctx context.Context) (driver.Conn, error) {
	db := c.db
	if db.closed.Load() {
		return nil, ErrClosed
	}
	if c.tx != nil {
		return nil, errors.New("replica: Primary: a transaction is open on this connection")
	}
	if c.open > 0 && c.pin.sc == nil {
		return nil, errConnBusy
	}
	if c.pin.sc == nil {
		err := db.route(ctx, "", decisionInput{caller: callConn, class: router.Write}, captureNone, func(ctx context.Context, n *node, _ querier) error {
			r, err := borrow(ctx, n)
			if err != nil {
				return err
			}
			c.pin = r
			return nil
		})
		if err != nil {
			return nil, err
		}
	} else if d := c.pinnedDecision(decisionInput{class: router.Write}); d.target == refuse {
		return nil, refusal(d)
	}
	c.sticky = true
	return c.pin.dc, nil
}

// connTx is a transaction of a DriverConn, on one real connection.
type connTx struct {
	c       *DriverConn
	r       realConn
	tx      driver.Tx
	read    bool            // routed as a read: statements that may write are refused
	ctx     context.Context // BeginTx's: its session records the commit
	tainted bool            // a statement relying on a declared read-only function ran
	sticky  bool            // a statement changed the session state
	failed  bool            // the connection failed
}

// allowed returns nil when query may run in the transaction, and says
// whether it relies on functions declared read-only.
func (t *connTx) allowed(query string) (declared bool, err error) {
	if !t.read {
		if t.c.db.cls.Load().changesSession(query) {
			t.sticky = true
		}
		return false, nil
	}
	in := t.c.db.classOf(callInReplicaTx, query)
	in.savepoint = isSavepoint(query)
	d := decide(in)
	if d.target == refuse {
		return false, refusal(d)
	}
	return d.isolate, nil
}

func (t *connTx) exec(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	declared, err := t.allowed(query)
	if err != nil {
		return nil, err
	}
	res, err := t.r.exec(ctx, query, args)
	if err != nil {
		t.note(declared, err)
		return nil, redact.Error(err)
	}
	return res, nil
}

func (t *connTx) query(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	declared, err := t.allowed(query)
	if err != nil {
		return nil, err
	}
	if declared {
		t.tainted = true // its error may come with its rows, out of sight
	}
	rs, st, err := t.r.query(ctx, query, args)
	if err != nil {
		t.note(declared, err)
		return nil, redact.Error(err)
	}
	return &rows{rs: rs, st: st}, nil
}

func (t *connTx) note(declared bool, err error) {
	t.tainted = t.tainted || declared
	t.failed = t.failed || bad(err)
}

// Commit commits the transaction. The commit of a read-write transaction
// begun with a session in its context records its position there; when
// its outcome is unknown, the session reads the primary's position later.
func (t *connTx) Commit() error {
	err := t.tx.Commit()
	t.end(err)
	s := consistency.SessionFrom(t.ctx)
	if t.read || s == nil && !t.c.db.causal.on {
		return redact.Error(err)
	}
	db, n := t.c.db, t.r.n
	if err != nil {
		return db.writeFailed(t.ctx, n, s, redact.Error(err))
	}
	db.recordWriteHeld(t.ctx, s, n, time.Now())
	return nil
}

// Rollback aborts the transaction.
func (t *connTx) Rollback() error {
	err := t.tx.Rollback()
	t.end(err)
	return redact.Error(err)
}

// end hands the transaction's connection on: a read-write transaction's
// becomes the checkout's primary connection; a read-only one's returns to
// its pool (closed if a statement may have left something on it).
func (t *connTx) end(err error) {
	c := t.c
	c.tx = nil
	failed := t.failed || bad(err)
	switch {
	case t.r.sc == c.pin.sc:
		if failed {
			c.pin.release(true)
			c.pin, c.sticky = realConn{}, false
		} else if t.sticky {
			c.sticky = true
		}
	case t.read:
		t.r.release(failed || t.tainted)
	default:
		c.keep(t.r, t.sticky, err)
		if failed && c.pin.sc != nil {
			c.pin.release(true)
			c.pin, c.sticky = realConn{}, false
		}
	}
}

// connStmt is a statement prepared lazily: each execution runs on the
// connection's route, where the real driver prepares it.
type connStmt struct {
	c     *DriverConn
	query string
}

func (s *connStmt) Close() error  { return nil }
func (s *connStmt) NumInput() int { return -1 }

// CheckNamedValue accepts every argument as it is: see DriverConn.
func (s *connStmt) CheckNamedValue(*driver.NamedValue) error { return nil }

func (s *connStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	return s.c.ExecContext(ctx, s.query, args)
}

func (s *connStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	return s.c.QueryContext(ctx, s.query, args)
}

func (s *connStmt) Exec(args []driver.Value) (driver.Result, error) {
	return s.ExecContext(context.Background(), named(args))
}

func (s *connStmt) Query(args []driver.Value) (driver.Rows, error) {
	return s.QueryContext(context.Background(), named(args))
}

func named(args []driver.Value) []driver.NamedValue {
	nv := make([]driver.NamedValue, len(args))
	for i, v := range args {
		nv[i] = driver.NamedValue{Ordinal: i + 1, Value: v}
	}
	return nv
}

// exec runs query on r's driver connection as database/sql would: through
// ExecerContext, else prepared.
func (r realConn) exec(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	args, err := checkArgs(r.dc, args)
	if err != nil {
		return nil, err
	}
	if ex, ok := r.dc.(driver.ExecerContext); ok {
		res, err := ex.ExecContext(ctx, query, args)
		if !errors.Is(err, driver.ErrSkip) {
			return res, err
		}
	}
	st, err := prepare(ctx, r.dc, query)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	if se, ok := st.(driver.StmtExecContext); ok {
		return se.ExecContext(ctx, args)
	}
	vals, err := values(args)
	if err != nil {
		return nil, err
	}
	return st.Exec(vals) //nolint:staticcheck // the driver has nothing newer
}

// query runs query on r's driver connection as database/sql would: through
// QueryerContext, else prepared (st is then the statement, to close with the
// rows).
func (r realConn) query(ctx context.Context, query string, args []driver.NamedValue) (rs driver.Rows, st driver.Stmt, err error) {
	args, err = checkArgs(r.dc, args)
	if err != nil {
		return nil, nil, err
	}
	if qc, ok := r.dc.(driver.QueryerContext); ok {
		rs, err := qc.QueryContext(ctx, query, args)
		if !errors.Is(err, driver.ErrSkip) {
			return rs, nil, err
		}
	}
	st, err = prepare(ctx, r.dc, query)
	if err != nil {
		return nil, nil, err
	}
	if sq, ok := st.(driver.StmtQueryContext); ok {
		rs, err = sq.QueryContext(ctx, args)
	} else {
		var vals []driver.Value
		if vals, err = values(args); err == nil {
			rs, err = st.Query(vals) //nolint:staticcheck // the driver has nothing newer
		}
	}
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	return rs, st, nil
}

func prepare(ctx context.Context, dc driver.Conn, query string) (driver.Stmt, error) {
	if p, ok := dc.(driver.ConnPrepareContext); ok {
		return p.PrepareContext(ctx, query)
	}
	return dc.Prepare(query)
}

func begin(ctx context.Context, dc driver.Conn, opts driver.TxOptions) (driver.Tx, error) {
	if b, ok := dc.(driver.ConnBeginTx); ok {
		return b.BeginTx(ctx, opts)
	}
	if opts.ReadOnly || opts.Isolation != driver.IsolationLevel(sql.LevelDefault) {
		return nil, errors.New("replica: the driver supports no transaction options")
	}
	return dc.Begin() //nolint:staticcheck // the driver has nothing newer
}

func values(args []driver.NamedValue) ([]driver.Value, error) {
	vals := make([]driver.Value, len(args))
	for i, a := range args {
		if a.Name != "" {
			return nil, errors.New("replica: the driver does not support named arguments")
		}
		vals[i] = a.Value
	}
	return vals, nil
}

// checkArgs converts args as database/sql would for the real connection dc:
// its CheckNamedValue, else the default converter. args is converted in
// place; an argument the driver removes gives a new slice.
func checkArgs(dc driver.Conn, args []driver.NamedValue) ([]driver.NamedValue, error) {
	nvc, _ := dc.(driver.NamedValueChecker)
	var kept []driver.NamedValue // nil until the driver removes an argument
	for i := range args {
		nv := &args[i]
		err := driver.ErrSkip
		if nvc != nil {
			err = nvc.CheckNamedValue(nv)
		}
		switch {
		case err == nil:
		case errors.Is(err, driver.ErrRemoveArgument):
			if kept == nil {
				kept = append(make([]driver.NamedValue, 0, len(args)), args[:i]...)
			}
			continue
		case errors.Is(err, driver.ErrSkip):
			v, err := driver.DefaultParameterConverter.ConvertValue(nv.Value)
			if err != nil {
				return nil, argError(nv, err)
			}
			nv.Value = v
		default:
			return nil, argError(nv, err)
		}
		if kept != nil {
			kept = append(kept, *nv)
		}
	}
	if kept == nil {
		return args, nil
	}
	return kept, nil
}

func argError(nv *driver.NamedValue, err error) error {
	if nv.Name != "" {
		return fmt.Errorf("sql: converting argument %s type: %w", nv.Name, err)
	}
	return fmt.Errorf("sql: converting argument $%d type: %w", nv.Ordinal, err)
}

// recordAtClose records, in session s (nil: none) and with CausalReads in
// the DB-wide position, a write on n whose rows r are: it completes once
// they are closed.
func (r *rows) recordAtClose(db *DB, s *consistency.Session, n *node) {
	if s == nil && !db.causal.on {
		return
	}
	w := db.startWrite(s, n)
	w.sent()
	r.done = func() { w.closed(time.Now()) }
}

// rows are a statement's driver rows; closing them closes the prepared
// statement they came from, if any, returns the real connection to its pool
// (when the statement had one of its own), and records a write's position.
type rows struct {
	rs    driver.Rows
	st    driver.Stmt
	conn  realConn    // zero: the connection is the transaction's or the checkout's
	done  func()      // records a write's position once it has completed
	owner *DriverConn // counts the rows open of its routed statements; nil: none
}

func (r *rows) Columns() []string              { return r.rs.Columns() }
func (r *rows) Next(dest []driver.Value) error { return r.rs.Next(dest) }

func (r *rows) Close() error {
	if r.rs == nil {
		return nil
	}
	err := r.rs.Close()
	r.rs = closedRows{}
	if r.st != nil {
		r.st.Close()
		r.st = nil
	}
	if r.conn.sc != nil {
		r.conn.release(bad(err))
		r.conn = realConn{}
	}
	if d := r.done; d != nil {
		r.done = nil
		d()
	}
	if r.owner != nil {
		r.owner.open--
		r.owner = nil
	}
	return err
}

func (r *rows) HasNextResultSet() bool {
	n, ok := r.rs.(driver.RowsNextResultSet)
	return ok && n.HasNextResultSet()
}

func (r *rows) NextResultSet() error {
	if n, ok := r.rs.(driver.RowsNextResultSet); ok {
		return n.NextResultSet()
	}
	return errNoNextResultSet
}

var errNoNextResultSet = errors.New("replica: no next result set")

func (r *rows) ColumnTypeScanType(i int) reflect.Type {
	if t, ok := r.rs.(driver.RowsColumnTypeScanType); ok {
		return t.ColumnTypeScanType(i)
	}
	return reflect.TypeFor[any]()
}

func (r *rows) ColumnTypeDatabaseTypeName(i int) string {
	if t, ok := r.rs.(driver.RowsColumnTypeDatabaseTypeName); ok {
		return t.ColumnTypeDatabaseTypeName(i)
	}
	return ""
}

func (r *rows) ColumnTypeLength(i int) (int64, bool) {
	if t, ok := r.rs.(driver.RowsColumnTypeLength); ok {
		return t.ColumnTypeLength(i)
	}
	return 0, false
}

func (r *rows) ColumnTypeNullable(i int) (nullable, ok bool) {
	if t, ok := r.rs.(driver.RowsColumnTypeNullable); ok {
		return t.ColumnTypeNullable(i)
	}
	return false, false
}

func (r *rows) ColumnTypePrecisionScale(i int) (precision, scale int64, ok bool) {
	if t, ok := r.rs.(driver.RowsColumnTypePrecisionScale); ok {
		return t.ColumnTypePrecisionScale(i)
	}
	return 0, 0, false
}

// closedRows stands in for rows once closed.
type closedRows struct{}

func (closedRows) Columns() []string         { return nil }
func (closedRows) Close() error              { return nil }
func (closedRows) Next([]driver.Value) error { return errors.New("replica: rows are closed") }

// Compile-time checks of what database/sql looks for.
var (
	_ driver.Connector          = connector{}
	_ driver.Conn               = (*DriverConn)(nil)
	_ driver.ConnBeginTx        = (*DriverConn)(nil)
	_ driver.ConnPrepareContext = (*DriverConn)(nil)
	_ driver.ExecerContext      = (*DriverConn)(nil)
	_ driver.QueryerContext     = (*DriverConn)(nil)
	_ driver.NamedValueChecker  = (*DriverConn)(nil)
	_ driver.SessionResetter    = (*DriverConn)(nil)
	_ driver.Validator          = (*DriverConn)(nil)
	_ driver.Pinger             = (*DriverConn)(nil)
	_ driver.StmtExecContext    = (*connStmt)(nil)
	_ driver.StmtQueryContext   = (*connStmt)(nil)
	_ driver.NamedValueChecker  = (*connStmt)(nil)
	_ driver.RowsNextResultSet  = (*rows)(nil)

	_ driver.RowsColumnTypeScanType         = (*rows)(nil)
	_ driver.RowsColumnTypeDatabaseTypeName = (*rows)(nil)
	_ driver.RowsColumnTypeLength           = (*rows)(nil)
	_ driver.RowsColumnTypeNullable         = (*rows)(nil)
	_ driver.RowsColumnTypePrecisionScale   = (*rows)(nil)
)
