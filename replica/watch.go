package replica

import (
	"context"
	"database/sql"
	"errors"
	"sync"
	"time"

	"github.com/sqlreplica/sqlreplica/consistency"
	"github.com/sqlreplica/sqlreplica/router"
)

// pollInterval is the least time between two reads of a node's applied
// position while reads wait for it to apply a token: however many reads
// wait, the node runs at most one such query per interval.
const pollInterval = 2 * time.Millisecond

// stallAfter (a DB's watchStall; tests change it) bounds one read of a
// node's applied position: a read that has not answered by then (a
// connection to a peer that vanished, a stalled server) is given up and the
// next one starts, on another connection, while the waiters go on waiting
// within their own bounds.
const stallAfter = 250 * time.Millisecond

// errNotReplaying is returned by a read of the replay position on a
// PostgreSQL node that is not in recovery.
var errNotReplaying = errors.New("replica: the node is not replaying WAL")

// watcher reads one node's applied position, in one dialect, for every read
// that waits on it, and wakes each waiter whose token it has reached. Its
// goroutine runs only while someone waits: the first waiter starts it (at
// once when the last read is older than pollInterval), and it ends when no
// one waits or the DB closes. A node has one watcher per dialect, so that a
// token of another dialect (forged, or from another cluster) fails its own
// waits and no one else's.
type watcher struct {
	mu      sync.Mutex           // guards the fields below
	waiters map[*waiter]struct{} // who waits; each is answered once
	running bool                 // the goroutine runs
	last    consistency.Token    // the last position read while running
	lastAt  time.Time            // when the last read began
}

// waiter is one read waiting for its node to apply need.
type waiter struct {
	need consistency.Token
	done chan bool // buffered: the answer, sent once
}

// watch waits up to d (and no longer than ctx allows) until node n has
// applied need, sharing n's position reads with every other read that waits
// on n. It reports whether n has.
func (db *DB) watch(ctx context.Context, n *node, need consistency.Token, d time.Duration) bool {
	d0 := need.Dialect()
	if int(d0) >= len(n.watch) {
		return false
	}
	w := &n.watch[d0]
	me := &waiter{need: need, done: make(chan bool, 1)}
	w.mu.Lock() // before db.bgMu, never after
	if w.running {
		if db.reached(n, w.last, need) {
			w.mu.Unlock()
			return true
		}
	} else {
		db.bgMu.RLock()
		if db.closed.Load() {
			db.bgMu.RUnlock()
			w.mu.Unlock()
			return false
		}
		db.wg.Add(1)
		db.bgMu.RUnlock()
		w.running, w.last = true, consistency.Token{}
		go db.watchLoop(n, d0)
	}
	if w.waiters == nil {
		w.waiters = make(map[*waiter]struct{})
	}
	w.waiters[me] = struct{}{}
	w.mu.Unlock()

	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case ok := <-me.done:
		return ok
	case <-timer.C:
	case <-ctx.Done():
	}
	w.mu.Lock()
	_, waiting := w.waiters[me]
	delete(w.waiters, me)
	w.mu.Unlock()
	if !waiting {
		return <-me.done // answered meanwhile
	}
	return false
}

// watchLoop reads n's applied position in dialect d every pollInterval and
// answers the waiters it covers, until no one waits or the DB closes. A
// read that fails answers every waiter no: each read goes where its policy
// sends it when its node cannot tell whether it has the token. A read that
// stalls is given up (stallAfter) and the waiters wait on.
func (db *DB) watchLoop(n *node, d router.Dialect) {
	defer db.wg.Done()
	w := &n.watch[d]
	for {
		w.mu.Lock()
		wait := time.Until(w.lastAt.Add(pollInterval))
		w.mu.Unlock()
		if wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-db.life.Done():
				t.Stop()
			}
		}
		start := time.Now()
		var pos consistency.Token
		err := db.life.Err()
		if err == nil {
			pos, err = db.applied(n, d)
		}
		stalled := err != nil && db.life.Err() == nil && errors.Is(err, context.DeadlineExceeded)
		w.mu.Lock()
		w.lastAt = start
		if err == nil {
			w.last = pos
		}
		for me := range w.waiters {
			if !stalled && (err != nil || db.reached(n, w.last, me.need)) {
				me.done <- err == nil
				delete(w.waiters, me)
			}
		}
		if len(w.waiters) == 0 || db.life.Err() != nil {
			for me := range w.waiters {
				me.done <- false
				delete(w.waiters, me)
			}
			w.running = false
			w.mu.Unlock()
			return
		}
		w.mu.Unlock()
	}
}

// pgReplay reads a standby's replay position and the timeline its WAL
// receiver streams (NULL without one, or for a role without
// pg_read_all_stats: the position then has no timeline, and only its LSN
// is compared).
const pgReplay = `SELECT pg_last_wal_replay_lsn()::text, (SELECT received_tli FROM pg_stat_wal_receiver)`

// reached reports whether position p, read on node n by its watcher, shows
// that n has applied need. A PostgreSQL position read there has no system
// identifier, and no timeline when its WAL receiver's is hidden or gone:
// those of n's last check stand in for them, so that a node found on another
// cluster or timeline (a standby left following the old primary after a
// fail-over can replay past a token's LSN without having its write) does
// not count, while a check during the wait that finds it on the token's
// timeline lets the wait succeed.
func (db *DB) reached(n *node, p, need consistency.Token) bool {
	if !p.Covers(need) {
		return false
	}
	if need.Dialect() != router.PostgreSQL {
		return true
	}
	s := db.checker.Snapshot()
	if n.idx >= len(s.Nodes) || s.Nodes[n.idx].Position.IsZero() {
		return true // not checked yet: the LSN (and timeline, if read) decide
	}
	lsn, system, tli := s.Nodes[n.idx].Position.LSN()
	if _, _, own := p.LSN(); own != 0 {
		tli = 0 // the watcher's timeline, fresher than the check's, was compared
	}
	return consistency.PostgresToken(system, tli, lsn).SameOrigin(need)
}

// applied reads the position node n has applied, in dialect d: its replay
// position on PostgreSQL, with the timeline it follows when it can be seen
// (a standby left following an old primary after a fail-over can be past a
// token's LSN on another timeline; see reached); the GTIDs it has executed
// on MySQL (gtid_executed, what WAIT_FOR_EXECUTED_GTID_SET waits for); what
// it has applied from its primary on MariaDB (gtid_slave_pos, what
// MASTER_GTID_WAIT waits for: gtid_current_pos would count a transaction of
// its own with a higher sequence number in the token's domain), or a
// multi-primary writer's binary log.
func (db *DB) applied(n *node, d router.Dialect) (consistency.Token, error) {
	ctx, cancel := context.WithTimeout(db.life, db.watchStall)
	defer cancel()
	var s sql.NullString
	switch d {
	case router.PostgreSQL:
		var tli sql.NullInt64
		if err := n.positions().QueryRowContext(ctx, pgReplay).Scan(&s, &tli); err != nil {
			return consistency.Token{}, err
		}
		if !s.Valid {
			return consistency.Token{}, errNotReplaying
		}
		lsn, err := consistency.ParseLSN(s.String)
		if err != nil {
			return consistency.Token{}, err
		}
		return consistency.PostgresToken(0, uint32(tli.Int64), lsn), nil
	case router.MariaDB:
		q := "SELECT @@GLOBAL.gtid_slave_pos"
		if db.view.Load().writer == n {
			// A writer of a multi-primary pair, waited on when writes move
			// to it: its own transactions are in its binary log, and in
			// gtid_slave_pos only once they came back round the ring.
			q = "SELECT @@GLOBAL.gtid_binlog_pos"
		}
		if err := n.positions().QueryRowContext(ctx, q).Scan(&s); err != nil {
			return consistency.Token{}, err
		}
		return consistency.MariaDBToken(s.String)
	case router.MySQL:
		if err := n.positions().QueryRowContext(ctx, "SELECT @@GLOBAL.gtid_executed").Scan(&s); err != nil {
			return consistency.Token{}, err
		}
		return consistency.MySQLToken(s.String)
	}
	return consistency.Token{}, errNoPositions
}
