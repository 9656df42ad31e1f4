package replica

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/sqlreplica/sqlreplica/consistency"
)

// CausalReads makes every read through the DB see every write the DB
// acknowledged before the read began, without a session in the context:
// for code that cannot carry one (an ORM, a migration tool, another
// library). A write is acknowledged when [DB.ExecContext] returns, when the
// rows of a write run through [DB.QueryContext] or [DB.QueryRowContext]
// (INSERT … RETURNING) are closed, and when a read-write [Tx] commits.
//
// It is an implicit [consistency.WithToken] of everything the DB wrote: each
// acknowledged write's position is merged into one DB-wide position, and a
// read goes to a replica known to have applied it, else to the most advanced
// replica given the [ReadYourWrites] policy's bounded wait, else to the
// primary (or fails with [consistency.ErrNotReplicated] under a ReplicaOnly
// policy). Reads are not pinned to a replica and get no monotonic floor:
// once the replicas have caught up with the DB's writes, reads spread over
// them as without the option. Sessions and tokens in a read's context still
// apply on top: the read honours both.
//
// What it costs: each write reads the primary's position once it has
// completed (one round trip, shared by concurrent writes, as a session's
// writes do). A read costs nothing more while no write is in progress and
// the replicas' last known positions cover the DB's writes. While a write
// run through QueryContext or QueryRowContext still has its rows open,
// reads do not wait for it but run on the primary: it cannot be told apart
// from one whose rows were closed an instant before the read began. A
// write whose outcome is unknown (its connection failed) makes the next
// read read the primary's position first; if that fails, the read runs on
// the primary.
//
// It covers both faces of the DB: its own methods, and [DB.SQLDB] with the
// statements and connections of [DB.PrepareContext] and [DB.Conn]. Writes
// that bypass the DB (a pool of the primary's used directly, a driver
// connection from [DriverConn.Primary], another process) are not seen:
// call [DB.RecordWrite] after them. With no replica configured the option
// does nothing. Positions are read in the DB's dialect: until it is known
// (a wrapped driver's is learnt from the server; the [Dialect] option fixes
// it), a read after a write runs on the primary.
func CausalReads() Option {
	return func(c *config) error { c.causal = true; return nil }
}

// causalState is the DB-wide position of the DB's acknowledged writes
// (CausalReads). Reads load it without a lock: writers merge into it with
// compare-and-swap, so that it never goes back but for a fail-over (see
// settleWriter).
type causalState struct {
	on bool // CausalReads, with replicas to read from
	// pos is the merge of the acknowledged writes' positions; nil: none yet.
	pos atomic.Pointer[consistency.Token]
	// open counts writes whose rows are still open (QueryContext,
	// QueryRowContext): reads run on the primary meanwhile.
	open atomic.Int64
	// unread is when the latest acknowledged write whose position is still
	// to be read completed (or, for a write whose outcome is unknown, when
	// its failure was seen), as nanoseconds since base; 0: none. A position
	// the primary reached after it covers every such write.
	unread atomic.Int64
	base   time.Time // monotonic origin of unread
}

// merge adds position t to the DB-wide position.
func (c *causalState) merge(t consistency.Token) {
	if t.IsZero() {
		return
	}
	for {
		old := c.pos.Load()
		var next consistency.Token
		if old == nil {
			next = t
		} else {
			next = old.Merge(t)
			if next.Covers(*old) && old.Covers(next) {
				return // nothing new
			}
		}
		if c.pos.CompareAndSwap(old, &next) {
			return
		}
	}
}

// later notes an acknowledged write, or one whose outcome is unknown, whose
// position the primary reached at or after at: the next read that needs it
// reads the primary's position first.
func (c *causalState) later(at time.Time) {
	d := max(int64(at.Sub(c.base)), 1)
	for {
		old := c.unread.Load()
		if old >= d || c.unread.CompareAndSwap(old, d) {
			return
		}
	}
}

// settled returns the DB-wide position (nil: no write yet) when nothing is
// in progress or still to be read, without a lock or an allocation.
func (c *causalState) settled() (*consistency.Token, bool) {
	// The order matters: a write's rows are counted closed only once its
	// completion is in unread, and unread is cleared only once pos covers
	// it.
	if c.open.Load() != 0 || c.unread.Load() != 0 {
		return nil, false
	}
	return c.pos.Load(), true
}

// causalNeed returns what a read beginning now must see of the DB's writes:
// the DB-wide position, after reading the primary's for writes whose
// position is still to be read. inProgress is set while a write's rows are
// open; unsure when a position could not be read. Either sends the read to
// the primary.
func (db *DB) causalNeed(ctx context.Context, v *view) (need consistency.Token, inProgress, unsure bool) {
	c := &db.causal
	if c.open.Load() != 0 {
		return consistency.Token{}, true, false
	}
	if d := c.unread.Load(); d != 0 {
		t, err := db.primaryPosition(ctx, v.writer, c.base.Add(time.Duration(d)))
		if err != nil {
			return consistency.Token{}, false, true
		}
		c.merge(t)
		c.unread.CompareAndSwap(d, 0) // a later write's stays to be read
	}
	if p := c.pos.Load(); p != nil {
		need = db.settleWriter(ctx, v.writer, *p)
	}
	return need, false, false
}

// settleWriter returns need, the DB-wide position, when writer n has it.
// When n does not (a fail-over lost the newest writes, or moved to another
// timeline: no replica will ever have them), it replaces the DB-wide
// position with n's own and returns that, so that reads do not all go to
// the primary until the next write. If n's position cannot be read, need is
// returned: the read's own check sends it to the primary.
func (db *DB) settleWriter(ctx context.Context, n *node, need consistency.Token) consistency.Token {
	if need.IsZero() || db.primaryHadIt(n, need) {
		return need
	}
	c := &db.causal
	old := c.pos.Load()
	p, err := db.primaryPosition(ctx, n, time.Now())
	if err != nil || p.Covers(need) {
		return need
	}
	if old != nil && old.Covers(need) && need.Covers(*old) && c.pos.CompareAndSwap(old, &p) {
		db.log.Debug("replica: the primary lacks writes the DB acknowledged (a fail-over?); causal reads start from its position", "node", n.name)
		return p
	}
	return need
}

// readCausal routes a read of the statement kind (no session, token or hint
// in its context) on a DB with CausalReads. With nothing in progress, a
// replica the balancer picks among those known to have the DB's writes
// serves it, at no cost beyond the plain read's; else it is routed as a
// read with a token.
func (db *DB) readCausal(ctx context.Context, v *view, in decisionInput, d decision, when capture, fn runFn) error {
	if need, ok := db.causal.settled(); ok && !d.isolate && !db.limited {
		if n := len(v.readers); n > 0 {
			if db.traced {
				ctx = db.traceDecided(ctx, v, in, d)
			}
			start := db.pick(v.readers)
			for i := 0; i < n; i++ {
				j := start + i
				if j >= n {
					j -= n
				}
				nd := v.rnodes[j]
				if need != nil && !applied(v.snap, nd.idx, *need) {
					if db.traced {
						db.traceFallback(ctx, CauseLacksToken, nd, nil)
					}
					continue
				}
				err := db.call(ctx, nd, fn)
				if err == nil {
					return nil
				}
				a := attempt{last: nd}
				if out, err := db.afterFailure(ctx, nd, err, &a); out != moveOn {
					return db.afterReplicas(ctx, v, in, nil, nil, when, fn, &a, out, err)
				}
				break // the way below goes on
			}
		}
	}
	r := readState{consistent: true, pol: db.policy(nil)}
	r.tok, in.inProgress, in.unsure = db.causalNeed(ctx, v)
	in.replicaOnly = r.pol.ReplicaOnly
	d = decide(in)
	if db.traced {
		ctx = db.traceDecided(ctx, v, in, d)
	}
	return db.carryOut(ctx, v, in, d, nil, &r, when, fn)
}

// causalRead adds the DB's writes to what a read with values in its context
// (r) must honour.
func (db *DB) causalRead(ctx context.Context, v *view, in *decisionInput, o *queryOpts, r *readState) {
	need, inProgress, unsure := db.causalNeed(ctx, v)
	if !r.consistent {
		r.consistent = true
		r.pol = db.policy(o)
		in.replicaOnly = r.pol.ReplicaOnly
	}
	r.tok = r.tok.Merge(need)
	in.inProgress = in.inProgress || inProgress
	in.unsure = in.unsure || unsure
}

// recordWrite records the position of a write on n that completed at done
// (or, for RecordWrite, of everything before done) in session s, if any,
// and in the DB-wide position with CausalReads: read now if it can be, else
// before the next read that needs it. It returns the error of reading the
// position. Every path that completes a write on the primary records it
// here, or through writeFailed or startWrite, so that every face of the DB
// (its methods, [Tx], [DB.SQLDB]) keeps both.
func (db *DB) recordWrite(ctx context.Context, s *consistency.Session, n *node, done time.Time) error {
	if s == nil && !db.causal.on {
		return nil
	}
	t, err := db.primaryPosition(ctx, n, done)
	if err != nil {
		db.recordUnknown(s, n, done)
		return err
	}
	if s != nil {
		s.Record(t)
	}
	if db.causal.on {
		db.causal.merge(t)
	}
	return nil
}

// recordWriteHeld is recordWrite for a write whose connection the caller
// still holds (the routing *sql.DB keeps it for the checkout): the position
// is read now only from a pool of the library's own; from the node's pool,
// whose every connection the caller may hold, it is read before the next
// read that needs it, once the connection is free.
func (db *DB) recordWriteHeld(ctx context.Context, s *consistency.Session, n *node, done time.Time) {
	if n.aside != nil {
		db.recordWrite(ctx, s, n, done)
		return
	}
	db.recordUnknown(s, n, done)
}

// recordUnknown records in s, if any, and in the DB-wide position with
// CausalReads, a write on n that may have been applied by at (its
// connection failed), or whose position could not be read: the position the
// primary reached after at is read before the next read that needs it.
func (db *DB) recordUnknown(s *consistency.Session, n *node, at time.Time) {
	if s != nil {
		s.RecordLater(func(ctx context.Context) (consistency.Token, error) { return db.primaryPosition(ctx, n, at) })
	}
	if db.causal.on {
		db.causal.later(at)
	}
}

// openWrite is a write whose rows are still open (INSERT … RETURNING run
// through QueryContext): it completes once they are closed.
type openWrite struct {
	db   *DB
	s    *consistency.Session
	n    *node
	done chan struct{}
	at   time.Time // when the rows were closed; read once done is closed
}

// startWrite records the start of a write with session s (nil: none) on n
// whose rows will stay open: with CausalReads, reads run on the primary
// until it ends (see [CausalReads]). Call [openWrite.sent] once its rows are
// handed out, [openWrite.closed] once they are closed, or
// [openWrite.failed] if the statement failed.
func (db *DB) startWrite(s *consistency.Session, n *node) *openWrite {
	if db.causal.on {
		db.causal.open.Add(1)
	}
	return &openWrite{db: db, s: s, n: n, done: make(chan struct{})}
}

// sent records that the write's rows were handed out: the session's reads
// run on the primary until they are closed, and then read its position
// first.
func (w *openWrite) sent() {
	if w.s != nil {
		w.s.RecordAfter(w.done, func(ctx context.Context) (consistency.Token, error) {
			return w.db.primaryPosition(ctx, w.n, w.at)
		})
	}
}

// closed records that the write's rows were closed at at: it has completed.
func (w *openWrite) closed(at time.Time) {
	w.at = at
	if c := &w.db.causal; c.on {
		c.later(at) // first: see causalState.settled
		c.open.Add(-1)
	}
	close(w.done)
}

// failed handles the write's failure (see writeFailed); sent is false when
// the statement never reached the server.
func (w *openWrite) failed(ctx context.Context, sent bool, err error) error {
	s := w.s
	if !sent {
		s = nil // nothing reached the server
	}
	err = w.db.writeFailed(ctx, w.n, s, err) // first: see causalState.settled
	if w.db.causal.on {
		w.db.causal.open.Add(-1)
	}
	return err
}

// RecordWrite records that a write happened on the primary outside this DB
// (through a pool of the primary's used directly, a driver connection from
// [DriverConn.Primary], a stored procedure another service ran):
// it reads the primary's current position, which covers every write that
// completed before the call, and records it in the session in ctx, if any
// (its reads then see the write), and in the DB-wide position when the DB
// has [CausalReads] (every read then sees it). With neither it does
// nothing and returns nil.
//
// It waits for the position at most until ctx ends, and five seconds in
// any case. If the position cannot be read, it returns the error, and the
// session and the DB-wide position are marked so that the next read that
// needs them reads the position first, and runs on the primary if that
// fails too. After [DB.Close] it returns [ErrClosed]. It is safe for
// concurrent use.
func (db *DB) RecordWrite(ctx context.Context) error {
	if db.closed.Load() {
		return ErrClosed
	}
	if err := db.recordWrite(ctx, consistency.SessionFrom(ctx), db.view.Load().writer, time.Now()); err != nil {
		if errors.Is(err, ctx.Err()) {
			return err
		}
		return fmt.Errorf("replica: reading the primary's position: %w", err)
	}
	return nil
}
