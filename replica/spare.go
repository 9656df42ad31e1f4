package replica

import (
	"context"
	"database/sql/driver"
	"sync"
	"time"
)

// Spare connections: a statement of the routing *sql.DB takes a connection
// of its node's pool and gives it back when done. Going through the pool
// each time (sql.DB.Conn, then Raw) costs about as much as the statement
// itself on a fast driver, so a connection given back is first kept aside,
// for the next statement to take at the cost of a lock. It stays there
// briefly: the pool's other users (the DB's own methods, the caller's own
// use of a pool given to New) wait at most twice spareIdle for it, and a
// connection goes back through the pool at least every spareUses
// statements, so that the pool's lifetime limits and session checks still
// apply. Nothing here reads the clock: on some machines that costs as much
// as the rest of the cache.
const (
	spareIdle = 5 * time.Millisecond // a spare connection unused for one to two of these goes back
	spareUses = 1000                 // statements a connection serves between two trips through the pool
	spareMax  = 4                    // spare connections kept per node
)

// spares holds one node's spare connections. It is safe for concurrent use.
type spares struct {
	mu     sync.Mutex
	conns  []spareConn // the newest last
	timer  *time.Timer // ticks every spareIdle while conns is not empty
	tick   uint64      // the timer's ticks
	armed  bool
	closed bool
	wait   time.Duration // how long a connection waits unused; 0: spareIdle (tests set it)
}

// idleFor is how long a connection waits unused.
func (s *spares) idleFor() time.Duration {
	if s.wait > 0 {
		return s.wait
	}
	return spareIdle
}

type spareConn struct {
	r    realConn
	tick uint64 // the tick it was put aside in
}

// take returns a spare connection, if there is one. It resets it first,
// as database/sql does with a connection it takes from its pool (so that a
// driver checks a connection the server may have ended meanwhile, and a
// pgx reset hook runs); one that fails is closed, and the next is tried.
func (s *spares) take(ctx context.Context) (realConn, bool) {
	for {
		s.mu.Lock()
		n := len(s.conns)
		if n == 0 {
			s.mu.Unlock()
			return realConn{}, false
		}
		r := s.conns[n-1].r
		s.conns[n-1] = spareConn{}
		s.conns = s.conns[:n-1]
		s.mu.Unlock()
		if rs, ok := r.dc.(driver.SessionResetter); ok {
			if err := rs.ResetSession(ctx); err != nil {
				discardConn(r.sc)
				continue
			}
		}
		return r, true
	}
}

// put keeps r aside, and reports whether it did; if not, the caller
// returns r to its pool. A connection that has gone round long enough,
// that its driver no longer finds valid, or whose pool is at its limit of
// open connections, is not kept.
func (s *spares) put(r realConn) bool {
	if r.uses >= spareUses {
		return false
	}
	r.uses++
	if v, ok := r.dc.(driver.Validator); ok && !v.IsValid() {
		return false
	}
	// A pool at its limit may have callers waiting for a connection: one
	// kept aside would go to the next routed statement ahead of them, for
	// as long as routed statements keep coming (up to spareUses).
	if st := r.n.db.Stats(); st.MaxOpenConnections > 0 && st.OpenConnections >= st.MaxOpenConnections {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || len(s.conns) >= spareMax {
		return false
	}
	s.conns = append(s.conns, spareConn{r: r, tick: s.tick})
	if !s.armed {
		s.armed = true
		if s.timer == nil {
			s.timer = time.AfterFunc(s.idleFor(), s.expire)
		} else {
			s.timer.Reset(s.idleFor())
		}
	}
	return true
}

// expire returns to their pool the connections put aside before the last
// tick, idle for at least spareIdle.
func (s *spares) expire() {
	s.mu.Lock()
	var old []realConn
	kept := s.conns[:0]
	for _, c := range s.conns {
		if c.tick != s.tick {
			old = append(old, c.r)
		} else {
			kept = append(kept, c)
		}
	}
	clear(s.conns[len(kept):])
	s.conns = kept
	s.tick++
	if len(kept) > 0 && !s.closed {
		s.timer.Reset(s.idleFor())
	} else {
		s.armed = false
	}
	s.mu.Unlock()
	for _, r := range old {
		r.sc.Close()
	}
}

// close returns every spare connection to its pool and keeps none after.
func (s *spares) close() {
	s.mu.Lock()
	s.closed = true
	conns := s.conns
	s.conns = nil
	if s.timer != nil {
		s.timer.Stop()
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.r.sc.Close()
	}
}
