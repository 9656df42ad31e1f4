package replica

import (
	"context"
	"errors"
	"fmt"
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

// capture says when a write's position is recorded in its session.
type capture uint8

const (
	captureNone  capture = iota
	captureNow           // the write is committed when the call returns (Exec, Commit)
	captureLater         // committed once its rows are read (Query, QueryRow)
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
		if err := n.db.QueryRowContext(ctx, pgPosition).Scan(&lsnText, &tli, &system, &block, &segment); err != nil {
			return consistency.Token{}, err
		}
		lsn, err := consistency.ParseLSN(lsnText)
		if err != nil {
			return consistency.Token{}, err
		}
		sys, _ := strconv.ParseUint(system, 10, 64)
		return consistency.PostgresToken(sys, uint32(tli), pageStart(lsn, block, segment)), nil
	case router.MySQL, router.MariaDB:
		vars, err := dbvars.Read(ctx, n.db, "SHOW GLOBAL VARIABLES WHERE Variable_name IN ('version', 'gtid_executed', 'gtid_binlog_pos')")
		if err != nil {
			return consistency.Token{}, err
		}
		if strings.Contains(strings.ToLower(vars["version"]), "mariadb") {
			return consistency.MariaDBToken(vars["gtid_binlog_pos"])
		}
		return consistency.MySQLToken(vars["gtid_executed"])
	}
	return consistency.Token{}, errNoPositions
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

// record records a write made on n in ctx's session, if it has one.
func (db *DB) record(ctx context.Context, n *node, when capture) {
	s := consistency.SessionFrom(ctx)
	if s == nil || when == captureNone {
		return
	}
	later := func(ctx context.Context) (consistency.Token, error) { return db.position(ctx, n) }
	if when == captureNow {
		if t, err := db.position(ctx, n); err == nil {
			s.Record(t)
			return
		}
	}
	s.RecordLater(later)
}

// primaryPos caches the primary's position, read at most once at a time.
type primaryPos struct {
	mu    sync.Mutex // guards pos and at
	pos   consistency.Token
	at    time.Time // when the read of pos began
	group singleflight.Group
}

type posAt struct {
	pos consistency.Token
	at  time.Time
}

// primaryPosition returns the primary's position as read at or after since.
func (db *DB) primaryPosition(ctx context.Context, since time.Time) (consistency.Token, error) {
	pp := &db.pp
	for attempt := 0; attempt < 3; attempt++ {
		pp.mu.Lock()
		if !pp.at.IsZero() && !pp.at.Before(since) {
			p := pp.pos
			pp.mu.Unlock()
			return p, nil
		}
		pp.mu.Unlock()
		v, err, _ := pp.group.Do("primary", func() (any, error) {
			n := db.view.Load().writer
			start := time.Now()
			t, err := db.position(ctx, n)
			if err != nil {
				return nil, err
			}
			pp.mu.Lock()
			if start.After(pp.at) {
				pp.pos, pp.at = t, start
			}
			pp.mu.Unlock()
			return posAt{t, start}, nil
		})
		if err != nil {
			return consistency.Token{}, err
		}
		if r := v.(posAt); !r.at.Before(since) {
			return r.pos, nil
		}
	}
	return consistency.Token{}, errors.New("replica: the primary's position could not be read fresh")
}

// primaryHas reports whether the primary has reached need: a token it has
// not reached is forged, or from another cluster or timeline, and no replica
// can be trusted with it.
func (db *DB) primaryHas(ctx context.Context, need consistency.Token) bool {
	if p := db.checker.Snapshot(); p.WriterKnown && p.Nodes[p.Writer].Position.Covers(need) {
		return true
	}
	db.pp.mu.Lock()
	cached := db.pp.pos
	db.pp.mu.Unlock()
	if cached.Covers(need) {
		return true
	}
	fresh, err := db.primaryPosition(ctx, time.Now())
	return err == nil && fresh.Covers(need)
}

func (db *DB) policy(ctx context.Context) consistency.Policy {
	p, ok := consistency.PolicyFrom(ctx)
	if !ok {
		p = db.cfg.policy
	}
	if p.Wait == 0 {
		p.Wait = defaultWait
	}
	return p
}

// waitFor makes replica n wait up to d until it has applied need. It
// reports whether it has.
func (db *DB) waitFor(ctx context.Context, n *node, need consistency.Token, d time.Duration) bool {
	if d <= 0 {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, d+500*time.Millisecond)
	defer cancel()
	secs := d.Seconds()
	switch need.Dialect() {
	case router.PostgreSQL:
		// No released PostgreSQL can wait for an LSN on the server side:
		// poll the replay position.
		want, _, _ := need.LSN()
		deadline := time.Now().Add(d)
		for {
			var s *string
			if err := n.db.QueryRowContext(ctx, "SELECT pg_last_wal_replay_lsn()::text").Scan(&s); err != nil || s == nil {
				return false
			}
			if lsn, err := consistency.ParseLSN(*s); err == nil && lsn >= want {
				return true
			}
			if time.Now().After(deadline) {
				return false
			}
			select {
			case <-ctx.Done():
				return false
			case <-time.After(2 * time.Millisecond):
			}
		}
	case router.MariaDB:
		var r int
		err := n.db.QueryRowContext(ctx, "SELECT MASTER_GTID_WAIT(?, ?)", need.GTID(), secs).Scan(&r)
		return err == nil && r == 0 // -1: timed out
	case router.MySQL:
		var r int
		err := n.db.QueryRowContext(ctx, "SELECT WAIT_FOR_EXECUTED_GTID_SET(?, ?)", need.GTID(), secs).Scan(&r)
		return err == nil && r == 0 // 1: timed out
	}
	return false
}

// onReplicaConsistent routes a read that carries a session or a token: to a
// replica known to have applied what it needs, else to a replica given a
// bounded time to apply it, else to the primary (or ErrNotReplicated when
// the policy says replica only). The read never runs on a replica whose wait
// failed. A session's reads stay on one replica while it has what they need
// (monotonic reads); moving to another, the new one must have what the
// primary had at that moment.
func (db *DB) onReplicaConsistent(ctx context.Context, o *queryOpts, s *consistency.Session, fn func(*node) error) error {
	if s != nil {
		_ = s.Resolve(ctx) // a failure marks the session unsure
		if s.OnPrimary(time.Now()) {
			if s.Unsure() && db.policy(ctx).ReplicaOnly {
				return fmt.Errorf("%w: where the session's last write landed is not known", consistency.ErrNotReplicated)
			}
			return db.readOnPrimary(ctx, s, fn)
		}
	}
	need := consistency.TokenFrom(ctx)
	var floor consistency.Token
	pinned := ""
	if s != nil {
		w, f, p := s.Need()
		need, floor, pinned = need.Merge(w), f, p
	}
	pol := db.policy(ctx)
	if !need.IsZero() && !db.primaryHas(ctx, need) {
		if pol.ReplicaOnly {
			return fmt.Errorf("%w: the token is ahead of the primary, or from another cluster or timeline", consistency.ErrNotReplicated)
		}
		return db.readOnPrimary(ctx, s, fn)
	}
	v := db.view.Load()
	snap := db.checker.Snapshot()
	pos := func(n *node) consistency.Token { return snap.Nodes[n.idx].Position }
	limited := db.cfg.maxLag > 0 || db.cfg.maxLagBytes > 0 || o != nil && o.HasMaxLag
	usable := func(j int) bool { return !limited || db.fresh(o, &v.readers[j]) }
	var failed []error
	read := func(j int, raise consistency.Token) (done bool, err error) {
		n := v.rnodes[j]
		if err = db.call(n, fn); err == nil {
			if s != nil {
				s.ReadAt(n.name, raise)
			}
			return true, nil
		}
		done, _ = db.readFailed(ctx, n, err, &failed)
		return done, err
	}

	// 1. The pinned replica, while it has what the session needs.
	if pinned != "" {
		for j, n := range v.rnodes {
			if n.name == pinned && usable(j) && pos(n).Covers(need) {
				if done, err := read(j, consistency.Token{}); done {
					return err
				}
			}
		}
	}
	// Another replica must have what the pinned one may have shown: what
	// the primary has now.
	target := need.Merge(floor)
	var raise consistency.Token
	if pinned != "" {
		p, err := db.primaryPosition(ctx, time.Now())
		if err != nil {
			return db.readOnPrimary(ctx, s, fn)
		}
		raise = p
		target = target.Merge(p)
	}
	// 2. A replica known to have it.
	if n := len(v.readers); n > 0 {
		start := db.balancer.Pick(v.readers)
		for i := 0; i < n; i++ {
			j := (start + i) % n
			if usable(j) && pos(v.rnodes[j]).Covers(target) {
				if done, err := read(j, raise); done {
					return err
				}
			}
		}
		// 3. The most advanced replica, given a bounded time.
		best := -1
		var bestBehind uint64
		for j := range v.rnodes {
			if !usable(j) || !pos(v.rnodes[j]).SameOrigin(target) {
				continue
			}
			behind, ok := pos(v.rnodes[j]).Behind(target)
			if ok && (best < 0 || behind < bestBehind) {
				best, bestBehind = j, behind
			}
		}
		if best >= 0 && pol.Wait > 0 && db.waitFor(ctx, v.rnodes[best], target, pol.Wait) {
			if done, err := read(best, raise); done {
				return err
			}
		}
	}
	// 4. The primary.
	if pol.ReplicaOnly {
		return fmt.Errorf("%w: no replica applied the session's writes within %v", consistency.ErrNotReplicated, pol.Wait)
	}
	return db.readOnPrimary(ctx, s, fn)
}

// readOnPrimary runs a read of session s on the primary; a later read on a
// replica must see what the primary had then.
func (db *DB) readOnPrimary(ctx context.Context, s *consistency.Session, fn func(*node) error) error {
	start := time.Now()
	n := db.view.Load().writer // reads are not refused in a split brain, writes are
	if err := db.call(n, fn); err != nil {
		db.nodeFailed(n, err)
		return err
	}
	if s != nil {
		if p, err := db.primaryPosition(ctx, start); err == nil {
			s.ReadOnPrimary(p)
		} else {
			s.RecordLater(func(context.Context) (consistency.Token, error) { return consistency.Token{}, err })
		}
	}
	return nil
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
	wait := db.policy(ctx).Wait
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
