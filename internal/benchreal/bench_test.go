package benchreal

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sqlreplica/sqlreplica/consistency"
	"github.com/sqlreplica/sqlreplica/internal/testcluster"
	"github.com/sqlreplica/sqlreplica/replica"
)

const (
	rows    = 10000 // rows of the benchmark's table
	clients = 64    // BenchmarkClients64's client goroutines

	readSQL  = "SELECT v FROM bench_kv WHERE id = $1"
	writeSQL = "UPDATE bench_kv SET v = v + 1 WHERE id = $1"
)

// pgConf makes room for 64 clients per pool and turns pg_stat_statements
// on; every replica inherits the primary's configuration.
const pgConf = `max_connections = 200
shared_preload_libraries = 'pg_stat_statements'
pg_stat_statements.track = all
pg_stat_statements.max = 1000`

var (
	clusters = testcluster.Set{Options: func(testcluster.Kind) testcluster.Options {
		return testcluster.Options{Replicas: 2, PostgresConf: pgConf}
	}}
	env     envOnce
	results resultSet // BenchmarkClients64's figures, for the table and the chart
)

func TestMain(m *testing.M) {
	code := m.Run()
	env.close()
	clusters.Stop()
	results.print(os.Stdout)
	if path := os.Getenv("SQLREPLICA_BENCH_PNG"); path != "" && results.len() > 0 {
		if err := results.writePNG(path); err != nil {
			fmt.Fprintf(os.Stderr, "benchreal: chart: %v\n", err)
			if code == 0 {
				code = 1
			}
		}
	}
	os.Exit(code)
}

// BenchmarkClients64 runs 64 client goroutines, b.N statements among them,
// over plain pools (Pools=raw) and through a replica.DB (Pools=replica),
// reading only (Load=read) or nine reads for one write (Load=90-10, each
// client with its own session through replica.DB).
func BenchmarkClients64(b *testing.B) {
	for _, pools := range []string{"raw", "replica"} {
		for _, load := range []string{"read", "90-10"} {
			b.Run(fmt.Sprintf("Pools=%s/Load=%s", pools, load), func(b *testing.B) {
				benchClients(b, pools, load)
			})
		}
	}
}

func benchClients(b *testing.B, pools, load string) {
	e := env.get(b)
	var read, write func(ctx context.Context, key int) error
	sessions := false
	switch pools {
	case "raw":
		var rr atomic.Uint64
		read = func(ctx context.Context, key int) error {
			p := e.pools[1+int(rr.Add(1)%uint64(len(e.pools)-1))]
			var v int
			return p.QueryRowContext(ctx, readSQL, key).Scan(&v)
		}
		write = func(ctx context.Context, key int) error {
			_, err := e.pools[0].ExecContext(ctx, writeSQL, key)
			return err
		}
	case "replica":
		db := e.open(b, e.pools[1:])
		defer db.Close()
		read = func(ctx context.Context, key int) error {
			var v int
			return db.QueryRowContext(ctx, readSQL, key).Scan(&v)
		}
		write = func(ctx context.Context, key int) error {
			_, err := db.ExecContext(ctx, writeSQL, key)
			return err
		}
		sessions = load == "90-10"
	}
	// One write in ten, spread over the clients' sequences.
	isWrite := func(client, k int) bool { return load == "90-10" && (k+client)%10 == 0 }

	e.reset(b)
	b.ResetTimer()
	lat, took, err := runClients(clients, b.N, func(client int) func(k int) error {
		ctx := context.Background()
		if sessions {
			ctx = consistency.WithSession(ctx)
		}
		rng := rand.New(rand.NewPCG(uint64(client), 1))
		return func(k int) error {
			key := 1 + rng.IntN(rows)
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			if isWrite(client, k) {
				return write(cctx, key)
			}
			return read(cctx, key)
		}
	})
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	q := e.counts(b)
	r := result{
		Pools:   pools,
		Load:    load,
		N:       b.N,
		PerSec:  float64(b.N) / took.Seconds(),
		P50:     percentile(lat, 0.50),
		P99:     percentile(lat, 0.99),
		Primary: float64(q[0].total()) / float64(b.N),
		Replica: float64(sumTotal(q[1:])) / float64(b.N),
		Pos:     float64(sumOf(q, func(c queryCount) int64 { return c.pos })) / float64(b.N),
		Probe:   float64(sumOf(q, func(c queryCount) int64 { return c.probe })) / float64(b.N),
	}
	b.ReportMetric(r.PerSec, "stmts/s")
	b.ReportMetric(float64(r.P50.Microseconds()), "p50-µs")
	b.ReportMetric(float64(r.P99.Microseconds()), "p99-µs")
	b.ReportMetric(r.Primary, "primary-q/stmt")
	b.ReportMetric(r.Replica, "replica-q/stmt")
	b.ReportMetric(r.Pos, "pos-q/stmt")
	b.ReportMetric(r.Probe, "probe-q/stmt")
	results.add(r)
}

// BenchmarkWriteCapture runs single-row UPDATEs through a replica.DB from
// 1, 8 or 64 writers, each with a session of its own, and reports the
// position reads the primary ran per write: what read-your-writes costs a
// write.
func BenchmarkWriteCapture(b *testing.B) {
	for _, writers := range []int{1, 8, 64} {
		b.Run(fmt.Sprintf("Writers=%d", writers), func(b *testing.B) {
			e := env.get(b)
			db := e.open(b, e.pools[1:])
			defer db.Close()
			e.reset(b)
			b.ResetTimer()
			lat, took, err := runClients(writers, b.N, func(w int) func(int) error {
				ctx := consistency.WithSession(context.Background())
				rng := rand.New(rand.NewPCG(uint64(w), 2))
				return func(int) error {
					cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
					defer cancel()
					_, err := db.ExecContext(cctx, writeSQL, 1+rng.IntN(rows))
					return err
				}
			})
			b.StopTimer()
			if err != nil {
				b.Fatal(err)
			}
			q := e.counts(b)
			b.ReportMetric(float64(b.N)/took.Seconds(), "writes/s")
			b.ReportMetric(float64(percentile(lat, 0.99).Microseconds()), "p99-µs")
			b.ReportMetric(float64(q[0].pos)/float64(b.N), "pos-q/write")
			b.ReportMetric(float64(q[0].stmt)/float64(b.N), "primary-stmt/write")
		})
	}
}

// BenchmarkTokenWait pauses replay on a replica, writes, and makes 1 or 64
// goroutines read with the write's token through a replica.DB whose only
// replica is the paused one, each read waiting up to 500 ms for it before
// it goes to the primary. One operation is one such read by every
// goroutine at once. It reports the replay-position queries the paused
// replica ran per second of waiting (replay-q/s) and per waiting read
// (replay-q/read).
func BenchmarkTokenWait(b *testing.B) {
	const wait = 500 * time.Millisecond
	for _, waiters := range []int{1, 64} {
		b.Run(fmt.Sprintf("Waiters=%d", waiters), func(b *testing.B) {
			e := env.get(b)
			const paused = 2 // e.pools index of the paused replica
			// Checked once, at New: the snapshot keeps the replica usable
			// and its position from before the write.
			db := e.open(b, e.pools[paused:paused+1], replica.CheckInterval(time.Hour))
			defer db.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			db.CheckNow(ctx)
			resume := e.pauseReplay(b, paused)
			defer resume()

			sctx := consistency.WithSession(ctx)
			if _, err := db.ExecContext(sctx, writeSQL, 1); err != nil {
				b.Fatal(err)
			}
			tok := consistency.SessionFrom(sctx).Token()
			if tok.IsZero() {
				b.Fatal("the session's write left no token")
			}
			rctx := consistency.WithPolicy(consistency.WithToken(context.Background(), tok), consistency.Policy{Wait: wait})

			e.reset(b)
			b.ResetTimer()
			_, took, err := runClients(waiters, b.N*waiters, func(int) func(int) error {
				return func(int) error {
					cctx, cancel := context.WithTimeout(rctx, 10*wait)
					defer cancel()
					var v int
					return db.QueryRowContext(cctx, readSQL, 1).Scan(&v)
				}
			})
			b.StopTimer()
			if err != nil {
				b.Fatal(err)
			}
			q := e.counts(b)
			replays := q[paused].replay
			b.ReportMetric(float64(replays)/took.Seconds(), "replay-q/s")
			b.ReportMetric(float64(replays)/float64(b.N*waiters), "replay-q/read")
			b.ReportMetric(float64(took.Milliseconds())/float64(b.N), "ms/round")
		})
	}
}

// runClients runs n statements among g goroutines, each calling the
// function newClient returns for it with the statement's index in its own
// sequence, and returns every statement's latency, the wall time, and the
// first error.
func runClients(g, n int, newClient func(client int) func(k int) error) ([]time.Duration, time.Duration, error) {
	lats := make([][]time.Duration, g)
	errs := make([]error, g)
	fns := make([]func(int) error, g)
	for i := range g {
		fns[i] = newClient(i)
	}
	var wg sync.WaitGroup
	start := time.Now()
	for i := range g {
		share := n / g
		if i < n%g {
			share++
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			l := make([]time.Duration, 0, share)
			for k := range share {
				t0 := time.Now()
				if err := fns[i](k); err != nil {
					errs[i] = fmt.Errorf("client %d, statement %d: %w", i, k, err)
					return
				}
				l = append(l, time.Since(t0))
			}
			lats[i] = l
		}()
	}
	wg.Wait()
	took := time.Since(start)
	var all []time.Duration
	for i := range g {
		if errs[i] != nil {
			return nil, took, errs[i]
		}
		all = append(all, lats[i]...)
	}
	return all, took, nil
}

// envOnce sets the benchmarks' environment up on first use.
type envOnce struct {
	once sync.Once
	e    *benchEnv
	err  error
}

func (o *envOnce) get(b *testing.B) *benchEnv {
	b.Helper()
	if os.Getenv("SQLREPLICA_BENCH_REAL") == "" {
		// `make bench` runs every package's benchmarks: these start
		// servers and take a minute, so only `make bench-real` runs them.
		b.Skip("real-server benchmark: run it with make bench-real (SQLREPLICA_BENCH_REAL=1)")
	}
	c := clusters.Get(b, testcluster.Postgres)
	o.once.Do(func() { o.e, o.err = setup(c) })
	if o.err != nil {
		b.Fatal(o.err)
	}
	return o.e
}

func (o *envOnce) close() {
	if o.e != nil {
		o.e.close()
	}
}

// benchEnv is the cluster with its table, pools for the clients (primary
// first) and one-connection pools for the benchmarks' own queries.
type benchEnv struct {
	c     *testcluster.Cluster
	pools []*sql.DB
	admin []*sql.DB
}

// open returns a replica.DB over the primary's pool and replicas, once
// every node has answered a ping; the caller closes it.
func (e *benchEnv) open(b *testing.B, replicas []*sql.DB, opts ...replica.Option) *replica.DB {
	b.Helper()
	db, err := replica.New(e.pools[0], replicas, opts...)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		b.Fatal(err)
	}
	return db
}

func setup(c *testcluster.Cluster) (*benchEnv, error) {
	e := &benchEnv{c: c}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, s := range c.Servers() {
		p, err := c.Open(s)
		if err != nil {
			e.close()
			return nil, err
		}
		p.SetMaxIdleConns(clients + 8)
		a, err := c.OpenAdmin(s)
		if err != nil {
			p.Close()
			e.close()
			return nil, err
		}
		a.SetMaxOpenConns(1)
		e.pools, e.admin = append(e.pools, p), append(e.admin, a)
	}
	for _, q := range []string{
		"CREATE EXTENSION IF NOT EXISTS pg_stat_statements",
		"DROP TABLE IF EXISTS bench_kv",
		"CREATE TABLE bench_kv (id int PRIMARY KEY, v int NOT NULL, pad text NOT NULL)",
		fmt.Sprintf("INSERT INTO bench_kv SELECT i, 0, repeat('x', 80) FROM generate_series(1, %d) AS i", rows),
		"ANALYZE bench_kv",
	} {
		if _, err := e.admin[0].ExecContext(ctx, q); err != nil {
			e.close()
			return nil, fmt.Errorf("%s: %w", q, err)
		}
	}
	// Every replica has the table, and every pool keeps a connection per
	// client: none is opened while the clock runs.
	for i, p := range e.pools {
		if err := waitRows(ctx, p); err != nil {
			e.close()
			return nil, fmt.Errorf("%s: %w", c.Servers()[i].Name, err)
		}
		if err := warm(ctx, p, clients); err != nil {
			e.close()
			return nil, err
		}
	}
	// Every connection has run the read (and the primary's the write)
	// before the first benchmark, so that the one that runs first does not
	// pay for the others' warm-up.
	_, _, err := runClients(clients, 20*clients, func(client int) func(int) error {
		return func(k int) error {
			var v int
			for _, p := range e.pools {
				if err := p.QueryRowContext(ctx, readSQL, 1+(client*20+k)%rows).Scan(&v); err != nil {
					return err
				}
			}
			_, err := e.pools[0].ExecContext(ctx, writeSQL, 1+(client*20+k)%rows)
			return err
		}
	})
	if err != nil {
		e.close()
		return nil, fmt.Errorf("warming up: %w", err)
	}
	return e, nil
}

// waitRows waits until the benchmark's table is on p's server, complete.
func waitRows(ctx context.Context, p *sql.DB) error {
	for {
		var n int
		err := p.QueryRowContext(ctx, "SELECT count(*) FROM bench_kv").Scan(&n)
		if err == nil && n == rows {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the table did not replicate: %w (last error: %v)", ctx.Err(), err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// warm opens n connections in p and leaves them idle.
func warm(ctx context.Context, p *sql.DB, n int) error {
	conns := make([]*sql.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range n {
		c, err := p.Conn(ctx)
		if err != nil {
			return err
		}
		conns = append(conns, c)
	}
	return nil
}

func (e *benchEnv) close() {
	for _, p := range append(e.pools, e.admin...) {
		p.Close()
	}
}

// pauseReplay pauses WAL replay on server i (a replica) and waits until it
// is paused. The function it returns resumes replay; it is also called when
// the benchmark ends, and may be called more than once.
func (e *benchEnv) pauseReplay(b *testing.B, i int) func() {
	b.Helper()
	var once sync.Once
	resume := func() {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if _, err := e.admin[i].ExecContext(ctx, "SELECT pg_wal_replay_resume()"); err != nil {
				b.Errorf("resuming replay on %s: %v", e.c.Servers()[i].Name, err)
			}
		})
	}
	b.Cleanup(resume)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := e.admin[i].ExecContext(ctx, "SELECT pg_wal_replay_pause()"); err != nil {
		b.Fatalf("pausing replay: %v", err)
	}
	for {
		var state string
		if err := e.admin[i].QueryRowContext(ctx, "SELECT pg_get_wal_replay_pause_state()").Scan(&state); err != nil {
			b.Fatalf("replay pause state: %v", err)
		}
		if state == "paused" {
			return resume
		}
		select {
		case <-ctx.Done():
			b.Fatalf("replay not paused: %v (state %s)", ctx.Err(), state)
		case <-time.After(5 * time.Millisecond):
		}
	}
}
