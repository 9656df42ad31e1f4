package replica

import (
	"runtime"
	"sync"
	"weak"

	"database/sql"
)

// stmtClasses remembers what the statements [DB.PrepareContext] returned
// are, so that a transaction routed as a read can refuse one that may
// write ([Tx.StmtContext]). An entry goes when its statement is collected.
// It is safe for concurrent use.
type stmtClasses struct {
	m sync.Map // weak.Pointer[sql.Stmt] → decisionInput
}

func (c *stmtClasses) add(st *sql.Stmt, in decisionInput) {
	k := weak.Make(st)
	c.m.Store(k, in)
	runtime.AddCleanup(st, func(k weak.Pointer[sql.Stmt]) { c.m.Delete(k) }, k)
}

// of returns what st is; ok is false for a statement the DB did not prepare.
func (c *stmtClasses) of(st *sql.Stmt) (in decisionInput, ok bool) {
	v, ok := c.m.Load(weak.Make(st))
	if !ok {
		return decisionInput{}, false
	}
	return v.(decisionInput), true
}
