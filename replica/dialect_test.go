package replica_test

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sqlreplica/sqlreplica/consistency"
	"github.com/sqlreplica/sqlreplica/internal/fakedb"
	"github.com/sqlreplica/sqlreplica/replica"
	"github.com/sqlreplica/sqlreplica/router"
)

// newVersioned is newFake with servers that answer "SELECT version()" with
// version from the first query on (the fake driver's type tells the DB
// nothing, as a wrapped driver's does not).
func newVersioned(t *testing.T, version string, replicas int, opts ...replica.Option) *fakeCluster {
	t.Helper()
	fc := &fakeCluster{primary: fakedb.NewServer("primary")}
	fc.primary.SetVersion(version)
	p := fc.primary.DB()
	t.Cleanup(func() { p.Close() })
	var rs []*sql.DB
	for i := 0; i < replicas; i++ {
		s := fakedb.NewServer("replica" + string(rune('1'+i)))
		s.SetVersion(version)
		fc.replicas = append(fc.replicas, s)
		r := s.DB()
		t.Cleanup(func() { r.Close() })
		rs = append(rs, r)
	}
	db, err := replica.New(p, rs, append([]replica.Option{replica.CheckInterval(time.Hour)}, opts...)...)
	require.NoError(t, err)
	fc.db = db
	t.Cleanup(func() { require.NoError(t, db.Close()) })
	return fc
}

// versionQueries counts the version probes every server of fc received.
func (fc *fakeCluster) versionQueries() int64 {
	n := fc.primary.VersionQueries()
	for _, r := range fc.replicas {
		n += r.VersionQueries()
	}
	return n
}

// TestDialectFromServerVersion: a driver whose type says nothing gets its
// dialect from the server's answer to SELECT version(); an answer that is
// none of the three leaves it unknown, and the question is not asked again;
// a bare version number that the server does not confirm as MySQL's leaves
// it unknown, and is asked again.
func TestDialectFromServerVersion(t *testing.T) {
	t.Parallel() // fakes of its own
	tests := []struct {
		name, version string
		want          router.Dialect
	}{
		{"PostgreSQL", "PostgreSQL 15.14 (Debian 15.14-0+deb12u1) on x86_64-pc-linux-gnu, compiled by gcc", router.PostgreSQL},
		{"MariaDB", "10.11.14-MariaDB-0+deb12u2-log", router.MariaDB},
		{"CockroachDB", "CockroachDB CCL v23.1.11 (x86_64-pc-linux-gnu, built 2023/09/27)", 0},
		{"ClickHouse", "24.3.1.1", 0}, // digits, but it does not answer what MySQL's probes ask
		{"empty", "", 0},              // the fake then answers its name
		{"postgres lower case", "postgresql 15", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel() // fakes of its own
			fc := newVersioned(t, tt.version, 1)
			if tt.want != 0 {
				require.Eventually(t, func() bool { return fc.db.Dialect() == tt.want }, 5*time.Second, time.Millisecond)
				return
			}
			require.Eventually(t, func() bool { return fc.versionQueries() > 0 }, 5*time.Second, time.Millisecond)
			if tt.name == "ClickHouse" {
				// Looks like MySQL but fails the confirmation: not settled,
				// asked again, and unknown meanwhile.
				require.Eventually(t, func() bool { return fc.versionQueries() >= 2 }, 5*time.Second, time.Millisecond)
			} else {
				// Answered with no dialect: settled, never asked again (the
				// first retry would come after 250 ms).
				time.Sleep(600 * time.Millisecond)
				require.EqualValues(t, 1, fc.versionQueries(), "an answer that is no dialect was asked again")
			}
			require.Equal(t, router.Dialect(0), fc.db.Dialect())
		})
	}
}

// TestDialectLearntLaterRebuildsTheClassifier: while the server cannot be
// asked, statements are classified under every dialect's rules; once it
// answers (on a retry), they are classified by its dialect's rules,
// functions found not read-only meanwhile (no catalog to ask) are forgotten,
// and on PostgreSQL the scans for user functions that write start.
func TestDialectLearntLaterRebuildsTheClassifier(t *testing.T) {
	tests := []struct {
		version string
		want    router.Dialect
		query   string // a write under some dialect, a read under want
	}{
		{"PostgreSQL 15.4 on x86_64-pc-linux-gnu", router.PostgreSQL, "SELECT $$ FOR UPDATE $$"},
		{"10.11.6-MariaDB", router.MariaDB, "SELECT 1 # FOR UPDATE"},
	}
	for _, tt := range tests {
		t.Run(tt.want.String(), func(t *testing.T) {
			fc := newVersioned(t, tt.version, 1)
			down := errors.New("the server is starting up")
			fc.primary.FailWith(down)
			fc.replicas[0].FailWith(down)
			require.Eventually(t, func() bool { return fc.versionQueries() >= 2 }, 5*time.Second, time.Millisecond)
			require.Equal(t, router.Dialect(0), fc.db.Dialect())
			require.Equal(t, router.Write, replica.ClassifyFor(fc.db, tt.query), "unknown dialect: any dialect's write wins")
			// A function looked up now has no catalog to ask: not read-only.
			_, _ = fc.db.Query("SELECT some_fn(1)")
			require.Eventually(t, func() bool { settled, _ := replica.FunctionVerdict(fc.db, "some_fn"); return settled },
				5*time.Second, time.Millisecond)

			fc.primary.FailWith(nil)
			fc.replicas[0].FailWith(nil)
			require.Eventually(t, func() bool { return fc.db.Dialect() == tt.want }, 5*time.Second, time.Millisecond)
			require.Equal(t, router.Read, replica.ClassifyFor(fc.db, tt.query))
			settled, _ := replica.FunctionVerdict(fc.db, "some_fn")
			require.False(t, settled, "a verdict reached with no catalog to ask outlived the dialect's detection")
			if tt.want == router.PostgreSQL {
				require.Eventually(t, func() bool { return replica.WriterScans(fc.db) > 0 }, 5*time.Second, time.Millisecond)
			}
		})
	}
}

// TestUnknownServerRoutesSafely: with a server that is none of the three,
// the dialect stays unknown and routing is as safe as before: writes and
// locking reads on the primary, plain reads on replicas, and a session's
// read after its write on the primary (no position can be read).
func TestUnknownServerRoutesSafely(t *testing.T) {
	fc := newVersioned(t, "CockroachDB CCL v23.1.11", 2)
	require.Eventually(t, func() bool { return fc.versionQueries() > 0 }, 5*time.Second, time.Millisecond)
	ctx := context.Background()
	fc.db.CheckNow(ctx)
	require.Equal(t, router.Dialect(0), fc.db.Dialect())

	_, err := fc.db.ExecContext(ctx, "UPDATE t SET a = 1")
	require.NoError(t, err)
	require.Equal(t, "UPDATE t SET a = 1", fc.primary.Last())
	require.Equal(t, "primary", who(t, fc.db, ctx, "SELECT a FROM t FOR UPDATE"))
	require.Equal(t, "primary", who(t, fc.db, ctx, "SELECT $$ FOR UPDATE $$"))
	require.Equal(t, "primary", who(t, fc.db, ctx, "SELECT 1 # FOR UPDATE"))
	require.True(t, strings.HasPrefix(who(t, fc.db, ctx, "SELECT a FROM t"), "replica"))

	s := consistency.WithSession(ctx)
	_, err = fc.db.ExecContext(s, "UPDATE t SET a = 2")
	require.NoError(t, err)
	require.Equal(t, "primary", who(t, fc.db, s, "SELECT a FROM t"), "a session read after its write reached a replica")
}

// TestDialectDetectionStopsOnClose: detection that keeps failing (every
// server refuses the question) retries with back-off and ends with Close:
// Close returns at once and leaves no goroutine behind.
func TestDialectDetectionStopsOnClose(t *testing.T) {
	fc := &fakeCluster{primary: fakedb.NewServer("primary")}
	r := fakedb.NewServer("replica1")
	fc.replicas = []*fakedb.Server{r}
	boom := errors.New("no such function: version")
	fc.primary.FailWith(boom)
	r.FailWith(boom)
	p, rp := fc.primary.DB(), r.DB()
	t.Cleanup(func() { p.Close(); rp.Close() })
	db, err := replica.New(p, []*sql.DB{rp}, replica.CheckInterval(time.Hour))
	require.NoError(t, err)
	// Each round asks every node; a second round is a retry.
	require.Eventually(t, func() bool { return fc.versionQueries() >= 4 }, 5*time.Second, time.Millisecond)
	require.Equal(t, router.Dialect(0), db.Dialect())

	closed := make(chan error, 1)
	go func() { closed <- db.Close() }()
	select {
	case err := <-closed:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("Close hung on dialect detection")
	}
	require.Zero(t, goroutinesRunning("replica.(*DB).detectDialect"), "dialect detection outlived Close")
	require.Eventually(t, func() bool { return countOurGoroutines() == 0 }, 5*time.Second, 10*time.Millisecond,
		"a goroutine of the DB outlived Close")
}
