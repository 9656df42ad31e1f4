// Package fakedb is an in-memory database/sql driver for unit tests and
// benchmarks: each fake server answers every query with one row holding its
// name, counts what it ran, and can be made to fail the way real servers do
// (refused connections, broken connections, read-only errors, any error).
// "SELECT version()" is the one exception: it answers the server's version
// (its name unless [Server.SetVersion] set one) and is counted apart, as
// the DB's own housekeeping, like a ping.
// Integration tests use real servers; see internal/testcluster.
package fakedb

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
)

// ErrReadOnly is what a read-only fake server returns for a statement that
// starts with a write verb: PostgreSQL's read_only_sql_transaction.
var ErrReadOnly error = &pgconn.PgError{Severity: "ERROR", Code: "25006", Message: "cannot execute statement in a read-only transaction"}

// Server is one fake database server. It is safe for concurrent use.
type Server struct {
	name string

	queries  atomic.Int64 // statements run
	versions atomic.Int64 // version probes received (not in queries)
	txs      atomic.Int64 // transactions begun
	roTxs    atomic.Int64 // read-only transactions begun

	mu          sync.Mutex // guards the fields below
	down        bool       // refuse connections; break open ones
	readOnly    bool       // reject statements that start with a write verb
	failQueries error      // returned by every statement but a ping while set
	failWith    error      // returned by every statement while set
	version     string     // what SELECT version() answers; "": name
	last        string     // last statement run
	gen         int        // bumped by SetDown(true): older connections are broken
	vars        map[string]string
	onVars      func(query string) // see OnVars
	answers     map[string]func(args []driver.NamedValue) (driver.Value, error)
}

// SetVars makes the server answer MySQL's "SHOW GLOBAL VARIABLES" and
// "SHOW GLOBAL STATUS" with name/value rows: those of vars whose name the
// statement quotes ('name'), as an IN list does, and "SHOW REPLICA STATUS"
// with no row. nil turns it off. Such statements are counted in
// [Server.Queries] but not remembered by [Server.Last]. The map is copied.
func (s *Server) SetVars(vars map[string]string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if vars == nil {
		s.vars = nil
		return
	}
	s.vars = make(map[string]string, len(vars))
	for k, v := range vars {
		s.vars[strings.ToLower(k)] = v
	}
}

// SetVar sets one variable of [Server.SetVars] (turning it on if needed).
func (s *Server) SetVar(name, value string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.vars == nil {
		s.vars = map[string]string{}
	}
	s.vars[strings.ToLower(name)] = value
}

// Row is an answer of several columns: [Server.Answer]'s f returns one
// for a row of len(Row) columns.
type Row []driver.Value

// Answer makes a query that starts with prefix (case-insensitively, with
// runs of spaces as one) answer one row of one column, f's value, or fail
// with f's error; an Exec of it runs f and fails with its error. A
// statement whose context ends before f returns fails with the context's
// error at once, as with a real driver. A nil f removes the answer.
func (s *Server) Answer(prefix string, f func(args []driver.NamedValue) (driver.Value, error)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.answers == nil {
		s.answers = map[string]func([]driver.NamedValue) (driver.Value, error){}
	}
	if f == nil {
		delete(s.answers, strings.ToLower(prefix))
		return
	}
	s.answers[strings.ToLower(prefix)] = f
}

// OnVars makes f run before the server answers a "SHOW GLOBAL VARIABLES"
// that [Server.SetVars] set up, with the statement (lower-case, spaces
// collapsed); f may block, count, or change the variables with
// [Server.SetVar], which the answer then shows. A nil f removes it.
func (s *Server) OnVars(f func(query string)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.onVars = f
}

// special answers the statements SetVars and Answer set up; ok is false
// for any other.
func (c *conn) special(ctx context.Context, query string, args []driver.NamedValue) (r driver.Rows, ok bool, err error) {
	c.s.mu.Lock()
	if c.s.vars == nil && len(c.s.answers) == 0 {
		// Neither is set up: no cost, so that benchmarks on the fake
		// measure the code under test, not the fake.
		c.s.mu.Unlock()
		return nil, false, nil
	}
	lower := strings.ToLower(strings.Join(strings.Fields(query), " "))
	var f func([]driver.NamedValue) (driver.Value, error)
	for p, g := range c.s.answers {
		if strings.HasPrefix(lower, p) {
			f = g
		}
	}
	vars := c.s.vars
	var kv [][2]string
	isVars := vars != nil && (strings.HasPrefix(lower, "show global variables") || strings.HasPrefix(lower, "show global status"))
	isRepl := vars != nil && strings.HasPrefix(lower, "show replica status")
	if hook := c.s.onVars; isVars && f == nil && hook != nil {
		c.s.mu.Unlock()
		hook(lower)
		c.s.mu.Lock()
		vars = c.s.vars
	}
	if isVars {
		for k, v := range vars {
			if strings.Contains(lower, "'"+k+"'") {
				kv = append(kv, [2]string{k, v})
			}
		}
	}
	bad := c.s.down || c.gen != c.s.gen
	fail := c.s.failWith
	c.s.mu.Unlock()
	if f == nil && !isVars && !isRepl {
		return nil, false, nil
	}
	if bad {
		return nil, true, driver.ErrBadConn
	}
	if fail != nil {
		return nil, true, fail
	}
	c.s.queries.Add(1)
	switch {
	case f != nil:
		v, err := answer(ctx, f, args)
		if err != nil {
			return nil, true, err
		}
		if row, ok := v.(Row); ok {
			cols := make([]string, len(row))
			for i := range cols {
				cols[i] = fmt.Sprintf("answer%d", i+1)
			}
			return &table{cols: cols, vals: [][]driver.Value{row}}, true, nil
		}
		return &table{cols: []string{"answer"}, vals: [][]driver.Value{{v}}}, true, nil
	case isRepl:
		return &table{cols: []string{"Slave_IO_Running"}}, true, nil
	}
	t := &table{cols: []string{"Variable_name", "Value"}}
	for _, p := range kv {
		t.vals = append(t.vals, []driver.Value{p[0], p[1]})
	}
	return t, true, nil
}

// answer runs f, an answer of [Server.Answer], and returns its result, or
// ctx's error as soon as ctx ends, as a real driver gives up a query whose
// context ended (f then runs on, and its result is dropped).
func answer(ctx context.Context, f func([]driver.NamedValue) (driver.Value, error), args []driver.NamedValue) (driver.Value, error) {
	if ctx.Done() == nil {
		return f(args)
	}
	type result struct {
		v   driver.Value
		err error
	}
	ch := make(chan result, 1)
	go func() {
		v, err := f(args)
		ch <- result{v, err}
	}()
	select {
	case r := <-ch:
		return r.v, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// table is a result of any shape.
type table struct {
	cols []string
	vals [][]driver.Value
	i    int
}

func (t *table) Columns() []string { return t.cols }
func (t *table) Close() error      { return nil }

func (t *table) Next(dest []driver.Value) error {
	if t.i >= len(t.vals) {
		return io.EOF
	}
	copy(dest, t.vals[t.i])
	t.i++
	return nil
}

// NewServer returns a fake server that answers with name.
func NewServer(name string) *Server { return &Server{name: name} }

// Name returns the server's name.
func (s *Server) Name() string { return s.name }

// DB opens a pool on the server.
func (s *Server) DB() *sql.DB { return sql.OpenDB(connector{s}) }

// SetDown makes the server refuse connections and break open ones (true),
// or serve again (false).
func (s *Server) SetDown(down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = down
	if down {
		s.gen++
	}
}

// SetReadOnly makes the server reject statements starting with INSERT,
// UPDATE, DELETE, CREATE, DROP or ALTER with [ErrReadOnly].
func (s *Server) SetReadOnly(ro bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.readOnly = ro
}

// FailWith makes every statement fail with err until FailWith(nil).
func (s *Server) FailWith(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failWith = err
}

// FailQueriesWith makes every statement but a ping (a health check's)
// fail with err until FailQueriesWith(nil): a statement's own error, which
// says nothing of the server's health.
func (s *Server) FailQueriesWith(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failQueries = err
}

// Queries returns how many statements the server ran, version probes
// aside.
func (s *Server) Queries() int64 { return s.queries.Load() }

// SetVersion sets what "SELECT version()" answers; "" answers the name.
func (s *Server) SetVersion(v string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.version = v
}

// VersionQueries returns how many "SELECT version()" reached the server,
// failed ones ([Server.FailWith]) included.
func (s *Server) VersionQueries() int64 { return s.versions.Load() }

// Txs returns how many transactions, and read-only ones, the server began.
func (s *Server) Txs() (all, readOnly int64) { return s.txs.Load(), s.roTxs.Load() }

// Last returns the last statement the server ran.
func (s *Server) Last() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}

type connector struct{ s *Server }

func (c connector) Connect(context.Context) (driver.Conn, error) {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	if c.s.down {
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	}
	return &conn{s: c.s, gen: c.s.gen}, nil
}

func (c connector) Driver() driver.Driver { return drv{} }

type drv struct{}

func (drv) Open(string) (driver.Conn, error) {
	return nil, errors.New("fakedb: open pools with Server.DB")
}

type conn struct {
	s   *Server
	gen int
}

var (
	_ driver.QueryerContext     = (*conn)(nil)
	_ driver.ExecerContext      = (*conn)(nil)
	_ driver.ConnBeginTx        = (*conn)(nil)
	_ driver.Pinger             = (*conn)(nil)
	_ driver.ConnPrepareContext = (*conn)(nil)
)

// check decides how a statement on c fares.
func (c *conn) check(query string) error {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	if c.s.down || c.gen != c.s.gen {
		return driver.ErrBadConn
	}
	if c.s.failWith != nil {
		return c.s.failWith
	}
	if c.s.failQueries != nil && query != "" {
		return c.s.failQueries
	}
	if c.s.readOnly && isWrite(query) {
		return ErrReadOnly
	}
	if query != "" { // a ping is no statement
		c.s.last = query
	}
	return nil
}

func isWrite(q string) bool {
	for _, verb := range []string{"INSERT", "UPDATE", "DELETE", "CREATE", "DROP", "ALTER"} {
		if len(q) >= len(verb) && strings.EqualFold(q[:len(verb)], verb) {
			return true
		}
	}
	return false
}

// versionQuery is the DB's dialect probe.
const versionQuery = "SELECT version()"

// answerVersion answers the dialect probe, which fails as any statement
// does but is neither counted in queries nor remembered as the last.
func (c *conn) answerVersion() (driver.Rows, error) {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	if c.s.down || c.gen != c.s.gen {
		return nil, driver.ErrBadConn
	}
	c.s.versions.Add(1)
	if c.s.failWith != nil {
		return nil, c.s.failWith
	}
	v := c.s.version
	if v == "" {
		v = c.s.name
	}
	return &rows{name: v}, nil
}

func (c *conn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	if strings.EqualFold(query, versionQuery) {
		return c.answerVersion()
	}
	if r, ok, err := c.special(ctx, query, args); ok {
		return r, err
	}
	if err := c.check(query); err != nil {
		return nil, err
	}
	c.s.queries.Add(1)
	return &rows{name: c.s.name}, nil
}

func (c *conn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	if _, ok, err := c.special(ctx, query, args); ok {
		if err != nil {
			return nil, err
		}
		return driver.RowsAffected(0), nil
	}
	if err := c.check(query); err != nil {
		return nil, err
	}
	c.s.queries.Add(1)
	return driver.RowsAffected(1), nil
}

func (c *conn) PrepareContext(_ context.Context, query string) (driver.Stmt, error) {
	if err := c.check(""); err != nil {
		return nil, err
	}
	return &stmt{c: c, query: query}, nil
}

func (c *conn) Prepare(query string) (driver.Stmt, error) {
	return c.PrepareContext(context.Background(), query)
}

func (c *conn) BeginTx(_ context.Context, opts driver.TxOptions) (driver.Tx, error) {
	if err := c.check(""); err != nil {
		return nil, err
	}
	c.s.txs.Add(1)
	if opts.ReadOnly {
		c.s.roTxs.Add(1)
	}
	return tx{}, nil
}

func (c *conn) Begin() (driver.Tx, error) { return c.BeginTx(context.Background(), driver.TxOptions{}) }

func (c *conn) Ping(context.Context) error { return c.check("") }

func (c *conn) Close() error { return nil }

type tx struct{}

func (tx) Commit() error   { return nil }
func (tx) Rollback() error { return nil }

type stmt struct {
	c     *conn
	query string
}

func (st *stmt) Close() error  { return nil }
func (st *stmt) NumInput() int { return -1 }

func (st *stmt) Exec([]driver.Value) (driver.Result, error) {
	return st.c.ExecContext(context.Background(), st.query, nil)
}

func (st *stmt) Query([]driver.Value) (driver.Rows, error) {
	return st.c.QueryContext(context.Background(), st.query, nil)
}

type rows struct {
	name string
	done bool
}

func (r *rows) Columns() []string { return columns }

var columns = []string{"server"} // never modified
func (r *rows) Close() error     { return nil }

func (r *rows) Next(dest []driver.Value) error {
	if r.done {
		return io.EOF
	}
	r.done = true
	dest[0] = r.name
	return nil
}
