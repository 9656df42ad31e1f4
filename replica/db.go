package replica

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/sqlreplica/sqlreplica/health"
	"github.com/sqlreplica/sqlreplica/internal/dbvars"
	"github.com/sqlreplica/sqlreplica/internal/redact"
	"github.com/sqlreplica/sqlreplica/router"
)

// DB is a primary database pool and its read replicas behind the API of
// *sql.DB. Each statement goes to the primary or a replica by its class
// ([router.Classify]) or a context hint ([WithPrimary], [WithReplica]).
//
// A DB is safe for concurrent use by multiple goroutines.
type DB struct {
	primary  *node   // the node given as primary: writes go there until checks say otherwise
	replicas []*node // the nodes given as replicas
	all      []*node // primary then replicas; node.idx indexes it
	owned    bool    // Close closes the pools (the DB opened them)

	cls      atomic.Pointer[classCache]
	dialect  atomic.Uint32 // router.Dialect
	view     atomic.Pointer[view]
	checker  *health.Checker
	balancer router.Balancer
	// countInFlight is set when the balancer reads Candidate.InFlight.
	countInFlight bool
	// limited is set when MaxLag or MaxLagBytes limit which replicas serve.
	limited bool
	// traced is set when a Tracer is (WithTracer): route reports to it.
	traced bool
	closed atomic.Bool
	log    *slog.Logger
	cfg    config

	funcs funcLearner        // catalog lookups of functions (functions.go)
	stmts stmtClasses        // what PrepareContext's statements are (stmts.go)
	life  context.Context    // ends when Close begins
	stop  context.CancelFunc // ends life: stops background goroutines
	// bgMu orders starting background work (wg.Add, read-locked) after
	// Close has set closed (write-locked), so that wg.Wait sees it all.
	bgMu     sync.RWMutex
	wg       sync.WaitGroup // background goroutines
	failover *failover      // nil unless a FailoverPolicy has After set
	pp       primaryPos     // the primary's position, for read-your-writes
	// watchStall bounds one read of a node's applied position (stallAfter).
	watchStall time.Duration
	causal     causalState // the DB's acknowledged writes, with CausalReads
	closeOnce  sync.Once
	closeErr   error

	sqldbMu sync.Mutex
	sqldb   *sql.DB // SQLDB's, made at its first call
}

// node is one pool and its name in errors and logs.
type node struct {
	name string
	db   *sql.DB
	// aside is a small pool of the node's own, apart from the
	// application's (the health checks'), for the library's short reads of
	// replication positions, so that they never wait for a connection the
	// caller holds; nil: db.
	aside    *sql.DB
	idx      int // in DB.all and in health snapshots
	inFlight atomic.Int64
	spare    spares                      // connections the routing *sql.DB gave back (spare.go)
	watch    [router.MariaDB + 1]watcher // reads of its applied position for waiting reads, by dialect (watch.go)
}

// Compile-time checks: DB and Tx serve where sqlc's generated code expects
// its DBTX interface.
var (
	_ DBTX = (*DB)(nil)
	_ DBTX = (*Tx)(nil)
)

// DBTX is the interface sqlc's generated code takes; both [DB] and [Tx]
// satisfy it.
type DBTX interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	PrepareContext(ctx context.Context, query string) (*sql.Stmt, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// New returns a DB over pools the caller already has. The caller keeps
// ownership: [DB.Close] stops the DB's own work but leaves the pools open for
// the caller to close. A nil primary or replica is an error; no replicas is
// valid, and then everything runs on the primary.
func New(primary *sql.DB, replicas []*sql.DB, opts ...Option) (*DB, error) {
	if primary == nil {
		return nil, fmt.Errorf("%w: primary", ErrNilPool)
	}
	db := &DB{primary: &node{name: "primary", db: primary}, watchStall: stallAfter}
	db.all = []*node{db.primary}
	for i, r := range replicas {
		if r == nil {
			return nil, fmt.Errorf("%w: replica %d", ErrNilPool, i)
		}
		n := &node{name: fmt.Sprintf("replica%d", i+1), db: r, idx: i + 1}
		db.replicas = append(db.replicas, n)
		db.all = append(db.all, n)
	}
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(&db.cfg); err != nil {
			return nil, err
		}
	}
	if n := db.cfg.names; n != nil {
		if len(n) != len(db.all) {
			return nil, badOption("NodeNames: %d node names for %d nodes", len(n), len(db.all))
		}
		for i, name := range n {
			db.all[i].name = name
		}
	}
	if len(db.cfg.weights) > len(replicas) {
		return nil, badOption("Weights: %d weights for %d replicas", len(db.cfg.weights), len(replicas))
	}
	if p := db.cfg.checkPools; p != nil && len(p) != len(db.all) {
		return nil, badOption("CheckPools: %d pools for %d nodes", len(p), len(db.all))
	}
	if db.cfg.fallback == 0 {
		db.cfg.fallback = FallbackPrimary
	}
	db.balancer = db.cfg.balancer
	if db.balancer == nil {
		db.balancer = router.RoundRobin()
	}
	db.countInFlight = router.UsesInFlight(db.balancer)
	db.limited = db.cfg.maxLag > 0 || db.cfg.maxLagBytes > 0
	db.traced = db.cfg.tracer != nil
	db.log = db.cfg.logger
	if db.log == nil {
		db.log = slog.New(slog.DiscardHandler)
	}
	d := db.cfg.dialect
	detect := false
	if d == 0 {
		d, detect = dialectOfDriver(primary.Driver())
	}
	if err := db.setDialect(d); err != nil {
		return nil, err
	}
	if db.cfg.causal {
		db.causal.on = len(db.replicas) > 0
		db.causal.base = time.Now()
	}
	if f := db.cfg.failover; f != nil {
		if len(f.Nodes) != len(db.all) {
			return nil, badOption("FailoverPolicy: %d nodes for %d", len(f.Nodes), len(db.all))
		}
		if f.After > 0 {
			db.failover = &failover{trigger: make(chan struct{}, 1)}
		}
	}
	hn := make([]health.Node, len(db.all))
	for i, n := range db.all {
		hn[i] = health.Node{Name: n.name, DB: n.db, Primary: i == 0}
		if db.cfg.checkPools != nil && db.cfg.checkPools[i] != nil {
			n.aside = db.cfg.checkPools[i]
		}
		if db.cfg.checkPools != nil {
			hn[i].Check = db.cfg.checkPools[i]
		}
	}
	hc := db.cfg.check
	hc.Dialect = db.Dialect
	hc.OnEvent = eventsTo(hc.OnEvent, db.cfg.tracer)
	hc.OnSnapshot = func(s *health.Snapshot) {
		db.buildView(s)
		db.watchWriter(s)
	}
	checker, err := health.NewChecker(hn, hc)
	if err != nil {
		return nil, fmt.Errorf("replica: %w", err)
	}
	db.checker = checker
	ctx, cancel := context.WithCancel(context.Background())
	db.life, db.stop = ctx, cancel
	db.startFunctionLookups(ctx)
	db.wg.Add(1)
	go func() {
		defer db.wg.Done()
		checker.Run(ctx)
	}()
	if detect {
		db.wg.Add(1)
		go db.detectDialect(ctx, d)
	}
	if db.failover != nil {
		db.wg.Add(1)
		go db.runFailovers(ctx)
	}
	return db, nil
}

// Open opens one pool per data source name with sql.Open and returns a DB
// that owns them: [DB.Close] closes them. driverName is "pgx" for
// PostgreSQL (github.com/jackc/pgx/v5/stdlib) or "mysql" for MySQL and
// MariaDB (github.com/go-sql-driver/mysql); importing this package imports
// both drivers, which register those names, and nothing else. Another
// registered driver (an instrumenting wrapper, say) works too: the dialect
// then comes from the server. Like sql.Open, Open does not connect: the
// first health checks, started at once in the background, and the first
// statements do; [DB.PingContext] checks every node now. Unless [CheckPools] is given, it
// also opens for each node a small pool for the health checks alone (at most
// two connections, one kept idle), so that the application's load never
// delays a check; Close closes those too.
//
// An error never holds text from a data source name: a DSN the driver
// cannot parse gives an error wrapping [ErrInvalidDSN] whose text says
// only which node's DSN it was.
func Open(driverName, primaryDSN string, replicaDSNs []string, opts ...Option) (*DB, error) {
	var pre config // the options as New will see them, to know if CheckPools is given
	for _, o := range opts {
		if o != nil {
			if err := o(&pre); err != nil {
				return nil, err
			}
		}
	}
	registered := slices.Contains(sql.Drivers(), driverName)
	dsns := append([]string{primaryDSN}, replicaDSNs...)
	var pools, checks []*sql.DB
	closeAll := func() {
		for _, p := range append(pools, checks...) {
			p.Close()
		}
	}
	open := func(i int, dsn string) (*sql.DB, error) {
		p, err := sql.Open(driverName, dsn)
		if err != nil {
			name := "primary"
			if i > 0 {
				name = fmt.Sprintf("replica%d", i)
			}
			if registered {
				err = redact.Config(err) // the driver's OpenConnector parsed the DSN
			}
			return nil, fmt.Errorf("replica: open %s: %w", name, err)
		}
		return p, nil
	}
	for i, dsn := range dsns {
		p, err := open(i, dsn)
		if err != nil {
			closeAll()
			return nil, err
		}
		pools = append(pools, p)
	}
	if pre.checkPools == nil {
		for i, dsn := range dsns {
			p, err := open(i, dsn)
			if err != nil {
				closeAll()
				return nil, err
			}
			p.SetMaxOpenConns(2)
			p.SetMaxIdleConns(1)
			p.SetConnMaxIdleTime(30 * time.Second)
			checks = append(checks, p)
		}
		opts = append(opts, func(c *config) error {
			c.checkPools, c.ownsCheckPools = checks, true
			return nil
		})
	}
	db, err := New(pools[0], pools[1:], opts...)
	if err != nil {
		closeAll()
		return nil, err
	}
	db.owned = true
	return db, nil
}

// dialectOfDriver names the dialect a driver speaks. detect is true when
// the server's version must settle it: MySQL or MariaDB, or a driver of a
// type it does not know (one wrapped by instrumentation, say), which gives 0.
func dialectOfDriver(d driver.Driver) (dialect router.Dialect, detect bool) {
	switch d.(type) {
	case *stdlib.Driver:
		return router.PostgreSQL, false
	case *mysql.MySQLDriver, mysql.MySQLDriver:
		return router.MySQL, true
	}
	if t := fmt.Sprintf("%T", d); strings.HasPrefix(t, "*pq.") {
		return router.PostgreSQL, false // lib/pq
	}
	return 0, true // unknown: classify under every dialect's rules until the server says
}

func (db *DB) setDialect(d router.Dialect) error {
	db.funcs.mu.Lock()
	defer db.funcs.mu.Unlock()
	return db.setDialectLocked(d)
}

// setDialectLocked builds the classifier for d, with the functions declared
// by options and those learnt from the catalog. db.funcs.mu must be held.
func (db *DB) setDialectLocked(d router.Dialect) error {
	read := db.cfg.readFuncs
	if len(db.funcs.learnt) > 0 {
		read = append(append([]string(nil), read...), db.funcs.learnt...)
	}
	write := db.cfg.writeFuncs
	if len(db.funcs.writers) > 0 {
		write = append(append([]string(nil), write...), db.funcs.writers...)
	}
	cls, err := router.NewClassifier(d, router.Functions{Read: read, Write: write})
	if err != nil {
		return fmt.Errorf("replica: %w", err)
	}
	cc := newClassCache(cls)
	cc.learn = db.learnFunction
	db.cls.Store(cc)
	db.dialect.Store(uint32(d))
	return nil
}

// versionQuery asks a server what it is. It is valid on PostgreSQL,
// MySQL and MariaDB alike.
const versionQuery = "SELECT version()"

// mysqlConfirm reads global variables as the MySQL and MariaDB health
// probes and position reads do: a server whose version looks like MySQL's
// is taken for MySQL only if it answers it.
const mysqlConfirm = "SHOW GLOBAL VARIABLES WHERE Variable_name IN ('version', 'read_only')"

// detectDialect asks the nodes' servers for their version, in order, until
// one answers, retrying with back-off until one does or the DB closes.
// guess is the dialect the driver's type gave: MySQL (the answer tells
// MariaDB from it) or 0 (the answer settles it, or leaves it unknown). Until
// it is known, routing classifies under every dialect's rules, the health
// checks only ping and sessions' reads go to the primary: all safe. Once it
// is learnt, what depends on it follows (see learnDialect).
func (db *DB) detectDialect(ctx context.Context, guess router.Dialect) {
	defer db.wg.Done()
	backoff := 250 * time.Millisecond
	for {
		d, version, err := db.askDialect(ctx, guess)
		if err == nil {
			db.learnDialect(ctx, guess, d)
			db.log.Debug("replica: dialect detected", "dialect", db.Dialect().String(), "version", version)
			return
		}
		db.log.Debug("replica: dialect detection failed", "err", redact.Error(err), "retry_in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}

// askDialect asks each node in turn what server it is, each question
// bounded by positionTimeout, and returns the first answer: the dialect it
// shows (0: none the DB knows) and the version. err joins every node's
// error when none answered.
func (db *DB) askDialect(ctx context.Context, guess router.Dialect) (router.Dialect, string, error) {
	var errs []error
	for _, n := range db.all {
		qctx, cancel := context.WithTimeout(ctx, positionTimeout)
		d, version, err := askNode(qctx, n.positions(), guess)
		cancel()
		if err == nil {
			return d, version, nil
		}
		if ctx.Err() != nil {
			return 0, "", ctx.Err()
		}
		errs = append(errs, &NodeError{Node: n.name, Err: err})
	}
	return 0, "", errors.Join(errs...)
}

// askNode asks one server its version and names the dialect it shows.
func askNode(ctx context.Context, pool *sql.DB, guess router.Dialect) (router.Dialect, string, error) {
	var version string
	if err := pool.QueryRowContext(ctx, versionQuery).Scan(&version); err != nil {
		return 0, "", err
	}
	d := dialectOfVersion(version)
	if guess == 0 && d == router.MySQL {
		// Other servers (ClickHouse, say) answer a bare version number too:
		// only a server that answers what the MySQL probes ask is MySQL.
		vars, err := dbvars.Read(ctx, pool, mysqlConfirm)
		if err != nil {
			return 0, "", fmt.Errorf("replica: %q answers like MySQL: %w", version, err)
		}
		if vars["version"] == "" {
			d = 0
		}
	}
	if guess == router.MySQL && d != router.MariaDB {
		d = router.MySQL // the driver speaks MySQL's protocol: MySQL unless MariaDB
	}
	return d, version, nil
}

// dialectOfVersion names the dialect a version() answer shows:
// "PostgreSQL 15.4 on x86_64…", "10.11.6-MariaDB-0+deb12u1", "9.7.4" (MySQL:
// digits first, to be confirmed); 0 for any other.
func dialectOfVersion(v string) router.Dialect {
	switch {
	case strings.HasPrefix(v, "PostgreSQL "):
		return router.PostgreSQL
	case strings.Contains(strings.ToLower(v), "mariadb"):
		return router.MariaDB
	case len(v) > 0 && v[0] >= '0' && v[0] <= '9':
		return router.MySQL
	}
	return 0
}

// learnDialect sets d, learnt from the server, when the driver's type gave
// guess, and starts what depends on it: the classifier is rebuilt, functions
// found not read-only while no catalog could be asked may be looked up
// again, a health round runs at once, and on PostgreSQL the catalog scans
// for user functions that write start.
func (db *DB) learnDialect(ctx context.Context, guess, d router.Dialect) {
	if d == 0 || d == guess {
		return
	}
	db.funcs.mu.Lock()
	err := db.setDialectLocked(d)
	if err == nil && guess == 0 {
		// Functions looked up while the dialect was unknown had no catalog
		// to ask: let the next call look them up.
		db.funcs.forgetNegativesLocked()
	}
	db.funcs.mu.Unlock()
	if err != nil {
		db.log.Debug("replica: dialect not set", "dialect", d.String(), "err", redact.Error(err))
		return
	}
	if d == router.PostgreSQL && guess == 0 && ctx.Err() == nil {
		db.wg.Add(1) // this goroutine's count holds wg above zero: Close waits for it
		go db.runWriterScans(ctx)
	}
	db.checker.Trigger() // check with the dialect's queries now: roles, positions, lag
}

// Dialect returns the SQL dialect the DB classifies by: the one given with
// the [Dialect] option, or the one detected. Detection goes by the driver's
// type (pgx and lib/pq: PostgreSQL; go-sql-driver/mysql: MySQL until the
// server's version shows MariaDB) and, for a driver of another type (one
// wrapped by instrumentation, say), by the server's answer to
// "SELECT version()", asked of each node in turn in the background and
// asked again with back-off (up to 30 s) until one answers or the DB closes.
// A bare version number ("9.7.4") counts as MySQL only if the server also
// answers MySQL's SHOW GLOBAL VARIABLES. It is zero while unknown, and stays
// zero for a server that is none of the three: then statements are
// classified under every dialect's rules, the health checks only ping, lag
// is unknown, and a session's reads after a write whose position could not
// be read go to the primary until it writes again. It is safe for concurrent
// use.
func (db *DB) Dialect() router.Dialect { return router.Dialect(db.dialect.Load()) }

// Primary returns the pool writes go to now: the node given as primary, or
// the node that took over when an external fail-over promoted it.
func (db *DB) Primary() *sql.DB { return db.view.Load().writer.db }

// Replicas returns the pools of every node but [DB.Primary], in the order
// given.
func (db *DB) Replicas() []*sql.DB {
	w := db.view.Load().writer
	out := make([]*sql.DB, 0, len(db.all)-1)
	for _, n := range db.all {
		if n != w {
			out = append(out, n.db)
		}
	}
	return out
}

// Pools returns every node's pool, the given primary first, in the order of
// [DB.Status]'s nodes.
func (db *DB) Pools() []*sql.DB {
	out := make([]*sql.DB, len(db.all))
	for i, n := range db.all {
		out[i] = n.db
	}
	return out
}

// Status returns what the last health checks found about every node: role,
// health, lag, position, latency, replication state and last error. The
// result is a copy the caller may keep.
func (db *DB) Status() health.Snapshot {
	s := *db.checker.Snapshot()
	s.Nodes = append([]health.Status(nil), s.Nodes...)
	for i := range s.Nodes {
		if ss := s.Nodes[i].SemiSync; ss != nil {
			c := *ss // the caller may keep and change its copy
			s.Nodes[i].SemiSync = &c
		}
	}
	return s
}

// CheckNow runs a round of health checks at once and waits for it, for
// callers that must not wait for the next interval (tests, a deploy step).
func (db *DB) CheckNow(ctx context.Context) health.Snapshot {
	db.checker.Check(ctx)
	return db.Status()
}

// nodes returns every node, the given primary first.
func (db *DB) nodes() []*node { return db.all }

// Close stops the DB's background work and waits for it to end. If the DB
// was made by [Open], Close also closes its pools. After Close, every method
// returns [ErrClosed]. Close may be called more than once; later calls return
// what the first returned.
func (db *DB) Close() error {
	db.closeOnce.Do(func() {
		db.bgMu.Lock() // no background work starts once closed is set
		db.closed.Store(true)
		db.bgMu.Unlock()
		db.sqldbMu.Lock()
		if db.sqldb != nil {
			db.sqldb.Close() // its idle connections give back what they hold
		}
		db.sqldbMu.Unlock()
		for _, n := range db.all {
			n.spare.close()
		}
		db.stop()
		db.wg.Wait()
		if db.owned {
			var errs []error
			for _, n := range db.nodes() {
				if err := n.db.Close(); err != nil {
					errs = append(errs, &NodeError{Node: n.name, Err: err})
				}
			}
			if db.cfg.ownsCheckPools {
				for _, p := range db.cfg.checkPools {
					p.Close()
				}
			}
			db.closeErr = errors.Join(errs...)
		}
	})
	return db.closeErr
}

// PingContext checks every node at once and returns a [NodeError] for each
// node that did not answer, joined. An error from parsing a node's DSN is
// [ErrInvalidDSN], with no text of the DSN.
func (db *DB) PingContext(ctx context.Context) error {
	if db.closed.Load() {
		return ErrClosed
	}
	nodes := db.nodes()
	errs := make([]error, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := n.db.PingContext(ctx); err != nil {
				errs[i] = &NodeError{Node: n.name, Err: redact.Error(err)}
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Ping is [DB.PingContext] with context.Background.
func (db *DB) Ping() error { return db.PingContext(context.Background()) }

// Stats holds the pool statistics of every node.
type Stats struct {
	Primary  sql.DBStats
	Replicas []sql.DBStats // in the order given
}

// Stats returns the pool statistics of every node.
func (db *DB) Stats() Stats {
	s := Stats{Primary: db.primary.db.Stats(), Replicas: make([]sql.DBStats, len(db.replicas))}
	for i, n := range db.replicas {
		s.Replicas[i] = n.db.Stats()
	}
	return s
}

// SetMaxOpenConns sets the limit of open connections on every pool.
func (db *DB) SetMaxOpenConns(n int) {
	for _, nd := range db.nodes() {
		nd.db.SetMaxOpenConns(n)
	}
}

// SetMaxIdleConns sets the limit of idle connections on every pool.
func (db *DB) SetMaxIdleConns(n int) {
	for _, nd := range db.nodes() {
		nd.db.SetMaxIdleConns(n)
	}
}

// SetConnMaxLifetime sets the longest a connection is reused, on every pool.
func (db *DB) SetConnMaxLifetime(d time.Duration) {
	for _, nd := range db.nodes() {
		nd.db.SetConnMaxLifetime(d)
	}
}

// SetConnMaxIdleTime sets the longest a connection stays idle, on every
// pool.
func (db *DB) SetConnMaxIdleTime(d time.Duration) {
	for _, nd := range db.nodes() {
		nd.db.SetConnMaxIdleTime(d)
	}
}
