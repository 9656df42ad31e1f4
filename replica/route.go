package replica

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sqlreplica/sqlreplica/consistency"
	"github.com/sqlreplica/sqlreplica/health"
	"github.com/sqlreplica/sqlreplica/internal/dberr"
	"github.com/sqlreplica/sqlreplica/router"
)

// view is what routing needs from a health snapshot, built once per
// snapshot and read without a lock.
type view struct {
	writer  *node // never nil: the configured primary until checks find another
	split   bool  // split brain: writes are refused
	readers []router.Candidate
	rnodes  []*node // rnodes[i] serves readers[i]
}

// buildView turns a health snapshot into the routing view. The checker calls
// it, in order, for every snapshot it publishes.
func (db *DB) buildView(s *health.Snapshot) {
	v := &view{writer: db.primary, split: s.SplitBrain}
	if s.Writer >= 0 && s.Writer < len(db.all) {
		v.writer = db.all[s.Writer]
	}
	for i, st := range s.Nodes {
		n := db.all[i]
		if n == v.writer || !st.Healthy || st.Writable || st.Role != health.Replica {
			continue
		}
		w := 1
		if r := i - 1; r >= 0 && r < len(db.cfg.weights) {
			w = db.cfg.weights[r]
		}
		v.readers = append(v.readers, router.Candidate{
			Name: st.Name, Weight: w, Latency: st.Latency,
			Lag: st.Lag.Time, LagBytes: st.Lag.Bytes, LagKnown: st.Lag.Known,
			InFlight: &n.inFlight,
		})
		v.rnodes = append(v.rnodes, n)
	}
	db.view.Store(v)
}

// isRead reports whether a statement goes to the replicas: by the context's
// hint if it has one, by its class otherwise.
func (db *DB) isRead(o *queryOpts, query string) bool {
	if len(db.replicas) == 0 {
		return false
	}
	if o != nil {
		switch o.Hint {
		case hintPrimary:
			return false
		case hintReplica:
			return true
		}
	}
	return db.cls.Load().classify(query) == router.Read
}

// fresh reports whether a candidate is within the lag limits for o. Unknown
// lag is never fresh where there is a limit.
func (db *DB) fresh(o *queryOpts, c *router.Candidate) bool {
	maxLag, limited := db.cfg.maxLag, db.cfg.maxLag > 0
	if o != nil && o.HasMaxLag {
		maxLag, limited = o.MaxLag, true
	}
	if limited && (!c.LagKnown || c.Lag > maxLag) {
		return false
	}
	return db.cfg.maxLagBytes == 0 || c.LagKnown && c.LagBytes <= db.cfg.maxLagBytes
}

// onReplica runs fn on a replica the balancer picks among those fresh
// enough. While a node cannot serve (its connection fails, it is shutting
// down, a recovery conflict cancelled the statement), fn moves on to the
// next replica and finally the primary, and the failed node leaves rotation
// at once; a replica that refuses the statement as a write sends it straight
// to the primary, the only node that can run it. Any other error is the
// statement's own and is returned as it is.
//
// fn must not have returned rows to the caller when it fails: a read is
// retried only before any row came back.
func (db *DB) onReplica(ctx context.Context, o *queryOpts, fn func(*node) error) error {
	if o != nil && (o.Session != nil || o.Token != nil) {
		return db.onReplicaConsistent(ctx, o, consistency.SessionFrom(ctx), fn)
	}
	v := db.view.Load()
	var failed []error
	if n := len(v.readers); n > 0 {
		limited := db.cfg.maxLag > 0 || db.cfg.maxLagBytes > 0 || o != nil && o.HasMaxLag
		start := db.balancer.Pick(v.readers)
		tried := false
		for i := 0; i < n; i++ {
			j := start + i
			if j >= n {
				j -= n
			}
			if limited && !db.fresh(o, &v.readers[j]) {
				continue
			}
			tried = true
			nd := v.rnodes[j]
			err := db.call(nd, fn)
			if err == nil {
				return nil
			}
			done, toPrimary := db.readFailed(ctx, nd, err, &failed)
			if done {
				return err
			}
			if toPrimary {
				break
			}
		}
		if !tried && db.cfg.fallback == FallbackLeastLagging {
			if j := leastLagging(v.readers); j >= 0 {
				nd := v.rnodes[j]
				err := db.call(nd, fn)
				if err == nil {
					return nil
				}
				if done, _ := db.readFailed(ctx, nd, err, &failed); done {
					return err
				}
			}
		}
	}
	err := db.call(v.writer, fn)
	if err == nil || classifyFailure(ctx, err) == failFinal {
		return err
	}
	db.nodeFailed(v.writer, err)
	if failed == nil {
		return err
	}
	failed = append(failed, &NodeError{Node: v.writer.name, Err: err})
	return fmt.Errorf("replica: no node could serve the read: %w", errors.Join(failed...))
}

// readFailed decides what a read's failure on n means: done when it is the
// statement's own error, to return as it is; toPrimary when only the primary
// can run it. Otherwise the node could not serve: it leaves rotation and the
// read moves on.
func (db *DB) readFailed(ctx context.Context, n *node, err error, failed *[]error) (done, toPrimary bool) {
	switch classifyFailure(ctx, err) {
	case failFinal:
		return true, false
	case failReadOnly:
		*failed = append(*failed, &NodeError{Node: n.name, Err: err})
		db.log.Debug("replica: a replica refused a read as a write; running it on the primary", "node", n.name, "err", err)
		return false, true
	}
	*failed = append(*failed, &NodeError{Node: n.name, Err: err})
	db.nodeFailed(n, err)
	db.log.Debug("replica: read failed on a node; trying the next", "node", n.name, "err", err)
	return false, false
}

// leastLagging returns the index of the replica with the smallest known lag,
// else the first, or -1 if there are none.
func leastLagging(c []router.Candidate) int {
	best := -1
	for i := range c {
		if best < 0 || c[i].LagKnown && (!c[best].LagKnown || c[i].Lag < c[best].Lag) {
			best = i
		}
	}
	return best
}

// call runs fn on n, counting it in flight when the balancer needs it.
func (db *DB) call(n *node, fn func(*node) error) error {
	if !db.countInFlight {
		return fn(n)
	}
	n.inFlight.Add(1)
	err := fn(n)
	n.inFlight.Add(-1)
	return err
}

// nodeFailed takes a node whose connection failed out of rotation at once
// (passive ejection) and asks for a check.
func (db *DB) nodeFailed(n *node, err error) {
	if dberr.IsConn(err) {
		db.checker.MarkDown(n.idx, err)
	}
}

// writer returns the node writes go to now.
func (db *DB) writer() (*node, error) {
	v := db.view.Load()
	if v.split {
		return nil, ErrSplitBrain
	}
	return v.writer, nil
}

// onPrimary runs a write on the primary, once. A write the node refuses as
// read-only (it was demoted, or another node was promoted) triggers a check
// at once and returns an error wrapping [ErrReadOnlyPrimary]: the write was
// not applied and is safe to retry. A failed connection takes the node out
// of rotation and asks for a check; the write is not retried, as it may or
// may not have been applied.
//
// A write made with a session in ctx records its position in the session,
// as when says.
func (db *DB) onPrimary(ctx context.Context, when capture, fn func(*node) error) error {
	n, err := db.writer()
	if err != nil {
		return err
	}
	if err = fn(n); err == nil {
		db.record(ctx, n, when)
		return nil
	}
	if dberr.IsReadOnly(err) {
		db.checker.Trigger()
		return fmt.Errorf("%w: %w", ErrReadOnlyPrimary, &NodeError{Node: n.name, Err: err})
	}
	if dberr.IsConn(err) {
		db.checker.MarkDown(n.idx, err)
	}
	return err
}

// closedCtx is a context that is already done with err, so that
// QueryRowContext can return a *sql.Row that carries an error of the
// library's own (ErrClosed, ErrSplitBrain): database/sql hands a done
// context's Err to the Row before it takes a connection.
type closedCtx struct {
	context.Context
	err error
}

var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

func (closedCtx) Done() <-chan struct{}       { return closedChan }
func (c closedCtx) Err() error                { return c.err }
func (closedCtx) Deadline() (time.Time, bool) { return time.Time{}, false }
