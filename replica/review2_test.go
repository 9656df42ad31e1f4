package replica_test

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sqlreplica/sqlreplica/health"
	"github.com/sqlreplica/sqlreplica/internal/fakedb"
	"github.com/sqlreplica/sqlreplica/replica"
	"github.com/sqlreplica/sqlreplica/router"
)

// TestReview2WeightsThatOverflowNeverPanic: Weights accepts any weight of at
// least 1, so weights whose sum overflows int must either be refused with
// ErrBadOption or be read with no panic.
func TestReview2WeightsThatOverflowNeverPanic(t *testing.T) {
	for _, w := range [][]int{{math.MaxInt, math.MaxInt}, {math.MaxInt, 1}} {
		t.Run(fmt.Sprint(w), func(t *testing.T) {
			p := newFakePools(t, 2)
			db, err := replica.New(p[0], p[1:], replica.Balance(router.Weighted()), replica.Weights(w...),
				replica.CheckInterval(time.Hour))
			if err != nil {
				require.ErrorIs(t, err, replica.ErrBadOption)
				return
			}
			t.Cleanup(func() { db.Close() })
			require.NotPanics(t, func() {
				var x string
				_ = db.QueryRowContext(context.Background(), "SELECT 1").Scan(&x)
			})
		})
	}
}

// TestReview2FailoverPolicyRejectsBadAddresses: a node address no server can
// listen at is a bad option, not an error at fail-over time.
func TestReview2FailoverPolicyRejectsBadAddresses(t *testing.T) {
	for _, n := range []health.FailoverNode{{Host: "h", Port: -1}, {Host: "h", Port: 70000}, {Host: "", Port: 5432}} {
		t.Run(fmt.Sprintf("%q:%d", n.Host, n.Port), func(t *testing.T) {
			p := newFakePools(t, 1)
			good := health.FailoverNode{Host: "h", Port: 5432}
			db, err := replica.New(p[0], p[1:], replica.CheckInterval(time.Hour),
				replica.FailoverPolicy(replica.FailoverConfig{Nodes: []health.FailoverNode{good, n}}))
			if err == nil {
				db.Close()
			}
			require.ErrorIs(t, err, replica.ErrBadOption)
		})
	}
}

// TestReview2PasswordParsedAsDatabaseNeverLeaks: a URL whose password holds
// an unescaped "/" after only digits, or starts with one, parses without
// error: the host is the user name, the port the digits, and the rest of the
// password becomes the database name, which pgconn's ConnectError prints.
// No text of the connection string's password may reach an error, a status,
// the handler's JSON, an event or a log line, through Open or New.
func TestReview2PasswordParsedAsDatabaseNeverLeaks(t *testing.T) {
	t.Parallel() // DBs of its own over addresses nothing listens on
	const secret = "Zq7Secret"
	for _, dsn := range []string{
		"postgres://app:/" + secret + "@127.0.0.1:5432/db",
		"postgres://app:1234/" + secret + "@127.0.0.1:5432/db",
	} {
		for _, how := range []string{"Open", "New"} {
			t.Run(how+" "+dsn, func(t *testing.T) {
				t.Parallel() // a DB of its own
				var mu sync.Mutex
				var texts []string
				var logs bytes.Buffer
				add := func(s string) { mu.Lock(); texts = append(texts, s); mu.Unlock() }
				log := slog.New(slog.NewTextHandler(lockedWriter{&mu, &logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))
				opts := []replica.Option{replica.Dialect(router.PostgreSQL), replica.CheckInterval(20 * time.Millisecond),
					replica.CheckTimeout(time.Second), replica.Logger(log),
					replica.OnEvent(func(e health.Event) { add(fmt.Sprintf("%+v", e)) })}
				var db *replica.DB
				var err error
				if how == "Open" {
					db, err = replica.Open("pgx", dsn, nil, opts...)
				} else {
					pool, perr := sql.Open("pgx", dsn)
					require.NoError(t, perr)
					t.Cleanup(func() { pool.Close() })
					db, err = replica.New(pool, nil, opts...)
				}
				if err != nil {
					require.NotContains(t, fmt.Sprintf("%v %+v", err, err), secret)
					return
				}
				t.Cleanup(func() { db.Close() })
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				if err := db.PingContext(ctx); err != nil {
					add(fmt.Sprintf("%v %+v", err, err))
				}
				var x int
				if err := db.QueryRowContext(ctx, "SELECT 1").Scan(&x); err != nil {
					add(fmt.Sprintf("%v %+v", err, err))
				}
				if _, err := db.ExecContext(ctx, "UPDATE t SET a = 1"); err != nil {
					add(fmt.Sprintf("%v %+v", err, err))
				}
				require.Eventually(t, func() bool { return db.Status().Nodes[0].LastError != "" }, 5*time.Second, 10*time.Millisecond)
				add(fmt.Sprintf("%+v", db.Status()))
				rec := httptest.NewRecorder()
				health.Handler(db).ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
				body, _ := io.ReadAll(rec.Body)
				add(string(body))
				mu.Lock()
				defer mu.Unlock()
				texts = append(texts, logs.String())
				var leaks []string
				for _, s := range texts {
					if strings.Contains(s, secret) {
						leaks = append(leaks, s)
					}
				}
				require.Empty(t, leaks, "the password reached these texts")
			})
		}
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// newFakePools returns a primary and n replicas on the fake driver.
func newFakePools(t *testing.T, n int) []*sql.DB {
	t.Helper()
	var out []*sql.DB
	for i := 0; i <= n; i++ {
		db := fakedb.NewServer(fmt.Sprintf("review2-%d", i)).DB()
		t.Cleanup(func() { db.Close() })
		out = append(out, db)
	}
	return out
}
