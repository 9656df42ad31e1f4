package testcluster

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"
)

// RequireEnv names the environment variable that turns a cluster that
// cannot start into a test failure instead of a skip. `make test` and CI set
// it.
const RequireEnv = "SQLREPLICA_REQUIRE_SERVERS"

// Set holds the clusters one test binary shares, each started on first
// use. Declare one in the test package and stop it from TestMain:
//
//	var clusters testcluster.Set
//
//	func TestMain(m *testing.M) { os.Exit(clusters.Run(m)) }
//
// A Set is safe for concurrent use.
type Set struct {
	// Options shapes the clusters the set starts; nil: [SharedOptions].
	Options func(Kind) Options

	mu sync.Mutex // guards m
	m  map[Kind]*shared
}

type shared struct {
	once    sync.Once
	cluster *Cluster
	err     error
}

// SharedOptions shape the clusters a [Set] starts: two PostgreSQL replicas,
// the second two seconds behind; three Galera nodes; one replica otherwise.
func SharedOptions(k Kind) Options {
	switch k {
	case Postgres:
		return Options{Replicas: 2, Delay: 2 * time.Second}
	case Galera:
		return Options{Replicas: 2}
	}
	return Options{Replicas: 1}
}

// Get returns the set's cluster of kind k, starting it on first use. Tests
// must not stop, kill or reconfigure its servers: use [Start] for that.
func (set *Set) Get(tb testing.TB, k Kind) *Cluster {
	tb.Helper()
	set.mu.Lock()
	if set.m == nil {
		set.m = map[Kind]*shared{}
	}
	s := set.m[k]
	if s == nil {
		s = &shared{}
		set.m[k] = s
	}
	set.mu.Unlock()
	s.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		opts := SharedOptions
		if set.Options != nil {
			opts = set.Options
		}
		s.cluster, s.err = start(ctx, k, opts(k))
	})
	if s.err != nil {
		unavailable(tb, k, s.err)
	}
	return s.cluster
}

// Run runs the package's tests and then stops the set's clusters.
func (set *Set) Run(m *testing.M) int {
	code := m.Run()
	set.Stop()
	return code
}

// Stop stops the clusters the set started. A package with more than one
// set calls it for the others from TestMain, after [Set.Run].
func (set *Set) Stop() {
	set.mu.Lock()
	defer set.mu.Unlock()
	for _, s := range set.m {
		if s.cluster != nil {
			_ = s.cluster.Stop()
		}
	}
}

// Start starts a private cluster of kind k that the test may kill, promote
// or reconfigure at will; it is stopped when the test ends.
func Start(tb testing.TB, k Kind, opts Options) *Cluster {
	tb.Helper()
	if opts.Logf == nil {
		opts.Logf = tb.Logf
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := start(ctx, k, opts)
	if err != nil {
		unavailable(tb, k, err)
	}
	tb.Cleanup(func() { _ = c.Stop() })
	return c
}

func start(ctx context.Context, k Kind, opts Options) (*Cluster, error) {
	switch k {
	case Postgres:
		return StartPostgres(ctx, opts)
	case MariaDB:
		return StartMariaDB(ctx, opts)
	case MySQL:
		return StartMySQL(ctx, opts)
	case Galera:
		return StartGalera(ctx, opts)
	case MasterMaster:
		return StartMasterMaster(ctx, opts)
	}
	return nil, fmt.Errorf("testcluster: unknown kind %d", k)
}

// unavailable fails the test when servers are required, and otherwise skips
// it with a message no one can miss.
func unavailable(tb testing.TB, k Kind, err error) {
	tb.Helper()
	// MySQL comes from a best-effort route that may break as Debian sid
	// changes: it never fails the run, it skips loudly.
	if os.Getenv(RequireEnv) != "" && k != MySQL {
		tb.Fatalf("cannot start a %s cluster (required by %s): %v", k, RequireEnv, err)
	}
	tb.Skipf("\n*** SKIPPING INTEGRATION TEST: cannot start a %s cluster: %v\n*** Run `make test` to install and start the servers.", k, err)
}
