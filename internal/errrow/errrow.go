// Package errrow makes *sql.Row values that carry an error of the library's
// own (replica.ErrClosed, replica.ErrSplitBrain, …), for QueryRowContext
// paths that never reach a node. database/sql has no constructor for such a
// Row: Row hands it a done context's Err before it takes a connection, from a
// pool that never connects and is never closed, so that it works even after
// every node's pool has been closed.
package errrow

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"sync"
	"time"
)

var (
	once sync.Once
	pool *sql.DB // never connects; never closed (one database/sql goroutine for the process)
)

// Row returns a *sql.Row whose Err and Scan return err.
func Row(err error) *sql.Row {
	once.Do(func() { pool = sql.OpenDB(noConnector{}) })
	return pool.QueryRowContext(doneCtx{err: err}, "")
}

type noConnector struct{}

var errNoConn = errors.New("errrow: this pool never connects")

func (noConnector) Connect(context.Context) (driver.Conn, error) { return nil, errNoConn }
func (noConnector) Driver() driver.Driver                        { return noDriver{} }

type noDriver struct{}

func (noDriver) Open(string) (driver.Conn, error) { return nil, errNoConn }

// Ctx returns a context that is already done with err: database/sql hands
// its Err to whatever it was asked to do (Tx.StmtContext's sticky error).
func Ctx(err error) context.Context { return doneCtx{err: err} }

// doneCtx is a context that is already done with err.
type doneCtx struct{ err error }

var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

func (doneCtx) Deadline() (time.Time, bool) { return time.Time{}, false }
func (doneCtx) Done() <-chan struct{}       { return closedChan }
func (c doneCtx) Err() error                { return c.err }
func (doneCtx) Value(any) any               { return nil }
