package health_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"sort"
	"time"

	"github.com/sqlreplica/sqlreplica/health"
	"github.com/sqlreplica/sqlreplica/replica"
	"github.com/sqlreplica/sqlreplica/router"
)

// Print what the last checks found about every node of a DB.
func ExampleSnapshot() {
	db, err := replica.Open("pgx", "postgres://app@primary.internal/app",
		[]string{"postgres://app@replica1.internal/app", "postgres://app@replica2.internal/app"})
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	s := db.CheckNow(context.Background()) // or db.Status(): the last round, without waiting
	for _, n := range s.Nodes {
		switch {
		case !n.Reachable:
			fmt.Printf("%s: not answering: %s\n", n.Name, n.LastError)
		case !n.Lag.Known:
			fmt.Printf("%s: %s, lag unknown\n", n.Name, n.Role)
		default:
			fmt.Printf("%s: %s, in rotation %v, %v (%d bytes) behind\n", n.Name, n.Role, n.Healthy, n.Lag.Time, n.Lag.Bytes)
		}
	}
	if s.SplitBrain {
		fmt.Println("split brain: writes are refused")
	}
}

// fixedStatus is a Source whose status never changes; a *replica.DB is the
// Source in your code.
type fixedStatus health.Snapshot

func (f fixedStatus) Status() health.Snapshot { return health.Snapshot(f) }

// Serve the nodes' status as JSON for a load balancer: 200 while a writable
// primary is known, 503 otherwise.
func ExampleHandler() {
	src := fixedStatus{
		Writer:      0,
		WriterKnown: true,
		Nodes: []health.Status{
			{Name: "primary", Role: health.Primary, Healthy: true, Reachable: true, Writable: true,
				Lag: health.Lag{Known: true}, Latency: 800 * time.Microsecond},
			{Name: "replica1", Role: health.Replica, Reachable: false,
				LastError: "dial tcp 10.0.0.2:5432: connect: connection refused"},
		},
	}
	// In your code: http.Handle("/healthz", health.Handler(db)).
	srv := httptest.NewServer(health.Handler(src))
	defer srv.Close()

	resp, err := http.Get(srv.URL)
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Primary  string `json:"primary"`
		Writable bool   `json:"writable_primary"`
		Nodes    []struct {
			Name      string `json:"name"`
			Healthy   bool   `json:"healthy"`
			LastError string `json:"last_error"`
		} `json:"nodes"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		log.Fatal(err)
	}
	fmt.Println(resp.StatusCode, "primary:", body.Primary, "writable:", body.Writable)
	for _, n := range body.Nodes {
		fmt.Printf("%s healthy=%v last_error=%q\n", n.Name, n.Healthy, n.LastError)
	}
	// Output:
	// 200 primary: primary writable: true
	// primary healthy=true last_error=""
	// replica1 healthy=false last_error="dial tcp 10.0.0.2:5432: connect: connection refused"
}

// Report risky settings and broken replication. Here the nodes are
// stand-ins whose settings say fsync is off on the primary and
// hot_standby_feedback off on the replica; in your code, Audit takes the
// *replica.DB:
//
//	findings, err := health.Audit(ctx, db)
func ExampleAudit() {
	target := auditTarget{
		snapshot: health.Snapshot{Nodes: []health.Status{
			{Name: "primary", Role: health.Primary, Reachable: true, Writable: true},
			{Name: "replica1", Role: health.Replica, Reachable: true},
		}},
		pools: []*sql.DB{
			sql.OpenDB(settings{"wal_level": "replica", "fsync": "off", "max_wal_senders": "10"}),
			sql.OpenDB(settings{"wal_level": "replica", "fsync": "on", "hot_standby_feedback": "off"}),
		},
	}
	defer target.pools[0].Close()
	defer target.pools[1].Close()

	findings, err := health.Audit(context.Background(), target)
	if err != nil {
		log.Fatal(err)
	}
	for _, f := range findings {
		fmt.Printf("%s %s: %s = %q: %s\n", f.Severity, f.Node, f.Setting, f.Value, f.Advice)
	}
	// Output:
	// critical primary: fsync = "off": a crash can corrupt the database; never run production with fsync off
	// warning replica1: hot_standby_feedback = "off": long reads on this replica may be cancelled by conflicts with recovery
}

// auditTarget is a stand-in for a *replica.DB: a snapshot and a pool per
// node.
type auditTarget struct {
	snapshot health.Snapshot
	pools    []*sql.DB
}

func (a auditTarget) Status() health.Snapshot { return a.snapshot }
func (a auditTarget) Dialect() router.Dialect { return router.PostgreSQL }
func (a auditTarget) Pools() []*sql.DB        { return a.pools }

// settings is a stand-in for a PostgreSQL server, opened with
// sql.OpenDB(settings{...}) (no driver is registered): every query returns
// its settings as (name, setting) rows, as pg_settings would.
type settings map[string]string

func (s settings) Connect(context.Context) (driver.Conn, error) { return settingsConn{s}, nil }
func (s settings) Driver() driver.Driver                        { return settingsDriver{} }

type settingsDriver struct{}

func (settingsDriver) Open(string) (driver.Conn, error) {
	return nil, errors.New("example: open with sql.OpenDB(settings{...})")
}

type settingsConn struct{ s settings }

func (c settingsConn) Prepare(string) (driver.Stmt, error) {
	return nil, errors.New("example: not supported")
}
func (c settingsConn) Close() error              { return nil }
func (c settingsConn) Begin() (driver.Tx, error) { return nil, errors.New("example: not supported") }

func (c settingsConn) QueryContext(context.Context, string, []driver.NamedValue) (driver.Rows, error) {
	names := make([]string, 0, len(c.s))
	for k := range c.s {
		names = append(names, k)
	}
	sort.Strings(names)
	return &settingsRows{s: c.s, names: names}, nil
}

type settingsRows struct {
	s     settings
	names []string
}

func (r *settingsRows) Columns() []string { return []string{"name", "setting"} }
func (r *settingsRows) Close() error      { return nil }

func (r *settingsRows) Next(dest []driver.Value) error {
	if len(r.names) == 0 {
		return io.EOF
	}
	dest[0], dest[1] = r.names[0], r.s[r.names[0]]
	r.names = r.names[1:]
	return nil
}
