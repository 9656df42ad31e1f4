package replica

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/singleflight"

	"github.com/sqlreplica/sqlreplica/consistency"
	"github.com/sqlreplica/sqlreplica/internal/dbvars"
	"github.com/sqlreplica/sqlreplica/router"
)

// defaultWait bounds a read's wait for a replica to apply its token.
const defaultWait = time.Second

// errNoPositions is returned by position reads on an unknown dialect.
var errNoPositions = errors.New("replica: replication positions need a known dialect")

// pgPosition reads where the primary's WAL insertion is: always past the
// commit record of a committed write (pg_current_wal_lsn can be behind it
// with synchronous_commit = off), with what identifies the cluster and the
// timeline, and the WAL's page and segment sizes.
const pgPosition = `SELECT pg_current_wal_insert_lsn()::text,
	('x' || substr(pg_walfile_name(pg_current_wal_insert_lsn()), 1, 8))::bit(32)::int,
	(SELECT system_identifier FROM pg_control_system())::text,
	current_setting('wal_block_size')::int,
	(SELECT setting::bigint FROM pg_settings WHERE name = 'wal_segment_size')`

// position reads the replication position node n has reached now.
func (db *DB) position(ctx context.Context, n *node) (consistency.Token, error) {
	switch db.Dialect() {
	case router.PostgreSQL:
		var lsnText, system string
		var tli, block, segment int64
		if err := n.positions().QueryRowContext(ctx, pgPosition).Scan(&lsnText, &tli, &system, &block, &segment); err != nil {
			return consistency.Token{}, err
		}
		lsn, err := consistency.ParseLSN(lsnText)
		if err != nil {
			return consistency.Token{}, err
		}
		sys, _ := strconv.ParseUint(system, 10, 64)
		return consistency.PostgresToken(sys, uint32(tli), pageStart(lsn, block, segment)), nil
	case router.MySQL, router.MariaDB:
		vars, err := dbvars.Read(ctx, n.positions(), "SHOW GLOBAL VARIABLES WHERE Variable_name IN ('version', 'gtid_executed', "+dbvars.GaleraVars+")")
		if err != nil {
			return consistency.Token{}, err
		}
		if list, galera := dbvars.GaleraGTID(vars); galera {
			// Only the Galera domain: what the other nodes apply.
			return consistency.MariaDBToken(list)
		}
		if strings.Contains(strings.ToLower(vars["version"]), "mariadb") {
			return consistency.MariaDBToken(vars["gtid_binlog_pos"])
		}
		return consistency.MySQLToken(vars["gtid_executed"])
	}
	return consistency.Token{}, errNoPositions
}

// positions returns the pool to read n's replication position from: its
// own small pool when it has one, so that the read never waits for a
// connection the caller holds.
func (n *node) positions() *sql.DB {
	if n.aside != nil {
		return n.aside
	}
	return n.db
}

// pageStart moves an insert position that sits just past a WAL page header
// back to the page's start: the last record ended there, and a replica that
// has replayed it reports the page's start, not the position past a header
// that only the next record will fill.
func pageStart(lsn uint64, block, segment int64) uint64 {
	const short, long = 24, 40 // SizeOfXLogShortPHD, SizeOfXLogLongPHD
	if segment > 0 && lsn%uint64(segment) == long {
		return lsn - long
	}
	if block > 0 && lsn%uint64(block) == short {
		return lsn - short
	}
	return lsn
}

// primaryPos caches the position last read on a writer, read at most once
// at a time.
type primaryPos struct {
	mu    sync.Mutex // guards node, pos and at
	node  *node      // where pos was read
	pos   consistency.Token
	at    time.Time // when the read of pos began
	group singleflight.Group
}

type posAt struct {
	pos consistency.Token
	at  time.Time
}

// primaryPosition returns the position writer n reached, as read by a query
// that began at or after since: it covers every write that completed before
// since. Concurrent callers share one query.
func (db *DB) primaryPosition(ctx context.Context, n *node, since time.Time) (consistency.Token, error) {
	pp := &db.pp
	for attempt := 0; attempt < 3; attempt++ {
		pp.mu.Lock()
		if pp.node == n && !pp.at.IsZero() && !pp.at.Before(since) {
			p := pp.pos
			pp.mu.Unlock()
			return p, nil
		}
		pp.mu.Unlock()
		if err := ctx.Err(); err != nil {
			// The caller's context has ended: it gets its error, not
			// whichever of that and the shared read's result the wait
			// below would pick.
			return consistency.Token{}, err
		}
		// The shared read is bounded by its own timeout and by Close, not by
		// the first caller's context: one hurried caller must not fail the
		// others. Each caller waits no longer than its own context allows.
		ch := pp.group.DoChan(n.name, func() (any, error) {
			rctx, cancel := context.WithTimeout(db.life, positionTimeout)
			defer cancel()
			start := time.Now()
			t, err := db.position(rctx, n)
			if err != nil {
				return nil, err
			}
			pp.mu.Lock()
			if pp.node != n || start.After(pp.at) {
				pp.node, pp.pos, pp.at = n, t, start
			}
			pp.mu.Unlock()
			return posAt{t, start}, nil
		})
		var res singleflight.Result
		select {
		case res = <-ch:
		case <-ctx.Done():
			return consistency.Token{}, ctx.Err()
		}
		if res.Err != nil {
			return consistency.Token{}, res.Err
		}
		if r := res.Val.(posAt); !r.at.Before(since) {
			return r.pos, nil
		}
	}
	return consistency.Token{}, errors.New("replica: the primary's position could not be read fresh")
}

// positionTimeout bounds one read of a node's replication position.
const positionTimeout = 5 * time.Second

// primaryHas reports whether writer n has reached need: a token it has not
// reached is forged, or from another cluster or timeline, and no replica can
// be trusted with it.
func (db *DB) primaryHas(ctx context.Context, n *node, need consistency.Token) bool {
	if db.primaryHadIt(n, need) {
		return true
	}
	fresh, err := db.primaryPosition(ctx, n, time.Now())
	return err == nil && fresh.Covers(need)
}

// primaryHadIt reports whether writer n is known, by the last check or the
// last read of its position, to have reached need.
func (db *DB) primaryHadIt(n *node, need consistency.Token) bool {
	if p := db.checker.Snapshot(); p.WriterKnown && db.all[p.Writer] == n && p.Nodes[p.Writer].Position.Covers(need) {
		return true
	}
	db.pp.mu.Lock()
	cached, same := db.pp.pos, db.pp.node == n
	db.pp.mu.Unlock()
	return same && cached.Covers(need)
}

// policy returns the read-your-writes policy for a statement with values o.
func (db *DB) policy(o *queryOpts) consistency.Policy {
	var p consistency.Policy
	ok := false
	if o != nil {
		p, ok = o.Policy.(consistency.Policy)
	}
	if !ok {
		p = db.cfg.policy
	}
	if p.Wait == 0 {
		p.Wait = defaultWait
	}
	return p
}

// waitFor makes node n wait up to d until it has applied need, and
// reports whether it has. Every read waiting on n shares one read of its
// position per poll interval (watch.go); a Galera node waits on the server
// side instead (waitGalera).
func (db *DB) waitFor(ctx context.Context, n *node, need consistency.Token, d time.Duration) bool {
	if d <= 0 || need.IsZero() {
		return false // no time, or a token of no dialect: nothing to wait for
	}
	if need.Dialect() == router.MariaDB && db.isGalera(n) {
		ctx, cancel := context.WithTimeout(ctx, d+500*time.Millisecond)
		defer cancel()
		return waitGalera(ctx, n, need, d)
	}
	return db.watch(ctx, n, need, d)
}

// isGalera reports whether the last check found n to be a Galera node.
func (db *DB) isGalera(n *node) bool {
	s := db.checker.Snapshot()
	return n.idx < len(s.Nodes) && s.Nodes[n.idx].Galera != nil
}

// waitGalera makes Galera node n wait up to d (rounded up to whole
// seconds, the function's unit; ctx ends it sooner) until it has committed
// need, on one connection: WSREP_SYNC_WAIT_UPTO_GTID returns 1 once the
// node has applied it (at once if it had), an error (ER_LOCK_WAIT_TIMEOUT)
// when the time is up. On MariaDB 10.11 it was seen to return 1 before the
// commit was visible to other connections (2 reads in 500 right after it
// missed the row), so a causal read follows on the same connection (SELECT 1
// with wsrep_sync_wait = 1, which waits until the node has committed what
// the cluster had ordered; 0 stale reads in 1,000 after both), and
// wsrep_sync_wait is set back to 0 before the connection returns to the
// pool. If that reset fails, the connection is closed instead.
func waitGalera(ctx context.Context, n *node, need consistency.Token, d time.Duration) bool {
	conn, err := n.db.Conn(ctx)
	if err != nil {
		return false
	}
	defer conn.Close()
	secs := int64(math.Ceil(d.Seconds()))
	var r int
	if err := conn.QueryRowContext(ctx, "SELECT WSREP_SYNC_WAIT_UPTO_GTID(?, ?)", need.GTID(), secs).Scan(&r); err != nil || r != 1 {
		return false
	}
	if _, err := conn.ExecContext(ctx, "SET SESSION wsrep_sync_wait = 1"); err != nil {
		discardConn(conn) // it may be set
		return false
	}
	err = conn.QueryRowContext(ctx, "SELECT 1").Scan(&r)
	if _, rerr := conn.ExecContext(context.WithoutCancel(ctx), "SET SESSION wsrep_sync_wait = 0"); rerr != nil {
		discardConn(conn) // never pool a connection that may still wait
		return false
	}
	return err == nil
}

// WaitReplicated returns once at least n replicas have applied tok: the
// playbooks' semi-synchronous (n = 1) and synchronous (n = all) guarantees
// on top of asynchronous replication. It waits until ctx's deadline, or the
// DB's read-your-writes wait (one second by default) when ctx has none,
// and then returns an error wrapping [consistency.ErrNotReplicated].
func (db *DB) WaitReplicated(ctx context.Context, tok consistency.Token, n int) error {
	if db.closed.Load() {
		return ErrClosed
	}
	if n <= 0 || tok.IsZero() {
		return nil
	}
	if n > len(db.replicas) {
		return fmt.Errorf("replica: %d replicas cannot apply a token %d times", len(db.replicas), n)
	}
	wait := db.policy(optsFrom(ctx)).Wait
	if dl, ok := ctx.Deadline(); ok {
		wait = time.Until(dl)
	}
	if wait <= 0 {
		return fmt.Errorf("%w: no time left", consistency.ErrNotReplicated)
	}
	var (
		mu   sync.Mutex
		done int
	)
	g, gctx := errgroup.WithContext(ctx)
	enough := errors.New("enough replicas")
	for _, r := range db.all {
		if r == db.view.Load().writer {
			continue
		}
		g.Go(func() error {
			if !db.waitFor(gctx, r, tok, wait) {
				return nil
			}
			mu.Lock()
			defer mu.Unlock()
			done++
			if done >= n {
				return enough // stops the other waits
			}
			return nil
		})
	}
	if err := g.Wait(); errors.Is(err, enough) {
		return nil
	}
	return fmt.Errorf("%w: %d of the %d replicas asked for applied the token within %v", consistency.ErrNotReplicated, done, n, wait.Round(time.Millisecond))
}
