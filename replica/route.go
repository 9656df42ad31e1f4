package replica

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sqlreplica/sqlreplica/router"
)

// isRead reports whether a statement goes to the replicas: by the context's
// hint if it has one, by its class otherwise.
func (db *DB) isRead(ctx context.Context, query string) bool {
	if len(db.replicas) == 0 {
		return false
	}
	switch hintFrom(ctx) {
	case hintPrimary:
		return false
	case hintReplica:
		return true
	}
	return db.cls.Load().classify(query) == router.Read
}

// onReplica runs fn on a replica chosen round-robin. While a node cannot
// serve (its connection fails, it is shutting down, a recovery conflict
// cancelled the statement), fn moves on to the next replica and finally the
// primary; a replica that refuses the statement as a write sends it straight
// to the primary, which is the only node that can run it. Any other error is
// the statement's own and is returned as it is.
//
// fn must not have returned rows to the caller when it fails: a read is
// retried only before any row came back.
func (db *DB) onReplica(ctx context.Context, fn func(*node) error) error {
	n := len(db.replicas)
	start := int(uint32(db.rr.Add(1)-1) % uint32(n)) // 32-bit division is cheaper
	var failed []error
	for i := 0; i < n; i++ {
		nd := db.replicas[(start+i)%n]
		err := fn(nd)
		if err == nil {
			return nil
		}
		f := classifyFailure(ctx, err)
		if f == failFinal {
			return err
		}
		failed = append(failed, &NodeError{Node: nd.name, Err: err})
		if f == failReadOnly {
			db.log.Debug("replica: a replica refused a read as a write; running it on the primary", "node", nd.name, "err", err)
			break
		}
		db.log.Debug("replica: read failed on a node; trying the next", "node", nd.name, "err", err)
	}
	err := fn(db.primary)
	if err == nil || classifyFailure(ctx, err) == failFinal {
		return err
	}
	failed = append(failed, &NodeError{Node: db.primary.name, Err: err})
	return fmt.Errorf("replica: no node could serve the read: %w", errors.Join(failed...))
}

// closedCtx is a context that is already done with ErrClosed, so that
// QueryRowContext after Close can return a *sql.Row that carries ErrClosed.
type closedCtx struct{ context.Context }

var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

func (closedCtx) Done() <-chan struct{}       { return closedChan }
func (closedCtx) Err() error                  { return ErrClosed }
func (closedCtx) Deadline() (time.Time, bool) { return time.Time{}, false }
