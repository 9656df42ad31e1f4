package replica

import (
	"runtime"
	"sync"
	"weak"

	"database/sql"
)

// stmtClasses remembers the text of the statements [DB.PrepareContext]
// returned, so that [Tx.StmtContext] can prepare one on the transaction's
// node, and a transaction routed as a read refuse one that may write. An
// entry goes when its statement is collected. It is safe for concurrent
// use.
type stmtClasses struct {
	m sync.Map // weak.Pointer[sql.Stmt] → string
}

func (c *stmtClasses) add(st *sql.Stmt, query string) {
	k := weak.Make(st)
	c.m.Store(k, query)
	runtime.AddCleanup(st, func(k weak.Pointer[sql.Stmt]) { c.m.Delete(k) }, k)
}

// of returns st's text; ok is false for a statement the DB did not prepare.
func (c *stmtClasses) of(st *sql.Stmt) (query string, ok bool) {
	v, ok := c.m.Load(weak.Make(st))
	if !ok {
		return "", false
	}
	return v.(string), true
}
