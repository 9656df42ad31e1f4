package replica

import (
	"context"
	"database/sql"
	"sync"
	"time"

	"github.com/sqlreplica/sqlreplica/consistency"
	"github.com/sqlreplica/sqlreplica/router"
)

// pollInterval is the least time between two reads of a node's applied
// position while reads wait for it to apply a token: however many reads
// wait, the node runs at most one such query per interval.
const pollInterval = 2 * time.Millisecond

// watcher reads one node's applied position for every read that waits on
// it, and wakes each waiter whose token the node has reached. Its goroutine
// runs only while someone waits: the first waiter starts it (at once when
// the last read is older than pollInterval), and it ends when no one waits
// or the DB closes.
type watcher struct {
	mu      sync.Mutex           // guards the fields below
	waiters map[*waiter]struct{} // who waits; each is answered once
	running bool                 // the goroutine runs
	dialect router.Dialect       // of the waits while running
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
	w := &n.watch
	me := &waiter{need: need, done: make(chan bool, 1)}
	w.mu.Lock()
	if w.running {
		if need.Dialect() != w.dialect {
			w.mu.Unlock()
			return false
		}
		if w.last.Covers(need) {
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
		w.running, w.dialect, w.last = true, need.Dialect(), consistency.Token{}
		go db.watchLoop(n)
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

// watchLoop reads n's applied position every pollInterval and answers the
// waiters it covers, until no one waits or the DB closes. A read that fails
// answers every waiter no: each read goes where its policy sends it when
// its node cannot tell whether it has the token.
func (db *DB) watchLoop(n *node) {
	defer db.wg.Done()
	w := &n.watch
	for {
		w.mu.Lock()
		wait := time.Until(w.lastAt.Add(pollInterval))
		dialect := w.dialect
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
			pos, err = db.applied(n, dialect)
		}
		w.mu.Lock()
		w.lastAt = start
		if err == nil {
			w.last = pos
		}
		for me := range w.waiters {
			if err != nil || w.last.Covers(me.need) {
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

// applied reads the position node n has applied, in dialect d: its replay
// position on PostgreSQL (with no cluster or timeline: only the LSN is
// compared), the GTIDs it has executed on MySQL and MariaDB.
func (db *DB) applied(n *node, d router.Dialect) (consistency.Token, error) {
	ctx, cancel := context.WithTimeout(db.life, positionTimeout)
	defer cancel()
	var s sql.NullString
	switch d {
	case router.PostgreSQL:
		if err := n.positions().QueryRowContext(ctx, "SELECT pg_last_wal_replay_lsn()::text").Scan(&s); err != nil {
			return consistency.Token{}, err
		}
		if !s.Valid {
			return consistency.Token{}, errNotReplaying
		}
		lsn, err := consistency.ParseLSN(s.String)
		if err != nil {
			return consistency.Token{}, err
		}
		return consistency.PostgresToken(0, 0, lsn), nil
	case router.MariaDB:
		if err := n.positions().QueryRowContext(ctx, "SELECT @@GLOBAL.gtid_current_pos").Scan(&s); err != nil {
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
