package testcluster_test

import (
	"context"
	"database/sql"
	"fmt"
	"testing"
	"time"

	"github.com/sqlreplica/sqlreplica/internal/testcluster"
)

// waitRow waits, at most 20 seconds, until db sees the row id in table.
func waitRow(t *testing.T, db *sql.DB, table string, id int64) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var n int
		err := db.QueryRow(fmt.Sprintf("SELECT COUNT(*) FROM %s WHERE id = ?", table), id).Scan(&n)
		if err == nil && n == 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("row %d of %s not replicated: n=%d err=%v", id, table, n, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// insert writes a row with an auto-increment id through s's app user and
// returns the id.
func insert(t *testing.T, c *testcluster.Cluster, s *testcluster.Server, table string) int64 {
	t.Helper()
	db, err := c.Open(s)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	res, err := db.Exec(fmt.Sprintf("INSERT INTO %s (v) VALUES (?)", table), s.Name)
	if err != nil {
		t.Fatalf("insert on %s: %v", s.Name, err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// status reads one wsrep status variable of s.
func status(t *testing.T, c *testcluster.Cluster, s *testcluster.Server, name string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	m, err := c.WsrepStatus(ctx, s)
	if err != nil {
		t.Fatalf("%s: %v", s.Name, err)
	}
	return m[name]
}

// TestGalera checks the Galera harness: three Synced nodes of one cluster,
// every node writable through the app user and its writes reaching the
// others, and the helpers tests rely on: Desync, Isolate, Kill and Restart.
func TestGalera(t *testing.T) {
	t0 := time.Now()
	c := testcluster.Start(t, testcluster.Galera, testcluster.Options{})
	t.Logf("galera cluster ready in %v", time.Since(t0).Round(time.Millisecond))
	if len(c.Servers()) != 3 || c.DriverName() != "mysql" {
		t.Fatalf("%d servers, driver %q: want 3, mysql", len(c.Servers()), c.DriverName())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	uuid := ""
	for _, s := range c.Servers() {
		m, err := c.WsrepStatus(ctx, s)
		if err != nil {
			t.Fatal(s.Name, err)
		}
		if m["wsrep_local_state_comment"] != "Synced" || m["wsrep_cluster_size"] != "3" || m["wsrep_cluster_status"] != "Primary" {
			t.Fatalf("%s: state %s, size %s, status %s", s.Name, m["wsrep_local_state_comment"], m["wsrep_cluster_size"], m["wsrep_cluster_status"])
		}
		if uuid == "" {
			uuid = m["wsrep_cluster_state_uuid"]
		} else if m["wsrep_cluster_state_uuid"] != uuid {
			t.Fatalf("%s in cluster %s, node1 in %s", s.Name, m["wsrep_cluster_state_uuid"], uuid)
		}
	}
	p, err := c.OpenAdmin(c.Primary)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if _, err := p.Exec("CREATE TABLE g (id bigint AUTO_INCREMENT PRIMARY KEY, v varchar(20))"); err != nil {
		t.Fatal(err)
	}
	dbs := map[*testcluster.Server]*sql.DB{}
	for _, s := range c.Servers() {
		db, err := c.Open(s)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		dbs[s] = db
	}
	// Every node takes writes, and every write reaches every node.
	for _, s := range c.Servers() {
		id := insert(t, c, s, "g")
		for _, o := range c.Servers() {
			waitRow(t, dbs[o], "g", id)
		}
	}

	t.Run("Desync", func(t *testing.T) {
		r := c.Replicas[0]
		if err := c.Desync(ctx, r, true); err != nil {
			t.Fatal(err)
		}
		if got := status(t, c, r, "wsrep_local_state_comment"); got != "Donor/Desynced" {
			t.Errorf("desynced node reports %q", got)
		}
		if err := c.Desync(ctx, r, false); err != nil {
			t.Fatal(err)
		}
		if got := status(t, c, r, "wsrep_local_state_comment"); got != "Synced" {
			t.Errorf("node back in sync reports %q", got)
		}
	})

	t.Run("Isolate", func(t *testing.T) {
		r := c.Replicas[1]
		t1 := time.Now()
		if err := c.Isolate(ctx, r, true); err != nil {
			t.Fatal(err)
		}
		t.Logf("isolated in %v", time.Since(t1).Round(time.Millisecond))
		if got := status(t, c, r, "wsrep_cluster_status"); got == "Primary" {
			t.Errorf("isolated node is in the Primary component")
		}
		// The isolated node refuses queries; the others still take writes.
		if _, err := dbs[r].Exec("SELECT COUNT(*) FROM g"); err == nil {
			t.Errorf("isolated node answered a query")
		}
		id := insert(t, c, c.Primary, "g")
		waitRow(t, dbs[c.Replicas[0]], "g", id)
		t1 = time.Now()
		if err := c.Isolate(ctx, r, false); err != nil {
			t.Fatal(err)
		}
		t.Logf("back in after %v", time.Since(t1).Round(time.Millisecond))
		waitRow(t, dbs[r], "g", id)
	})

	t.Run("KillRestart", func(t *testing.T) {
		if err := c.Primary.Kill(); err != nil {
			t.Fatal(err)
		}
		// The others keep the quorum (2 of 3) and take writes.
		id := insert(t, c, c.Replicas[0], "g")
		waitRow(t, dbs[c.Replicas[1]], "g", id)
		t1 := time.Now()
		// node1 must rejoin, not found a cluster of its own.
		if err := c.Primary.Restart(ctx); err != nil {
			t.Fatal(err)
		}
		t.Logf("killed node1 synced again after %v", time.Since(t1).Round(time.Millisecond))
		waitRow(t, dbs[c.Primary], "g", id)
		for _, s := range c.Servers() {
			if got := status(t, c, s, "wsrep_cluster_size"); got != "3" {
				t.Errorf("%s: cluster size %s after restart", s.Name, got)
			}
			if got := status(t, c, s, "wsrep_cluster_state_uuid"); got != uuid {
				t.Errorf("%s: cluster %s after restart, want %s", s.Name, got, uuid)
			}
		}
	})

	t.Run("QuorumLost", func(t *testing.T) {
		// Two of three die at once: node1 is left without a quorum.
		for _, r := range c.Replicas {
			if err := r.Kill(); err != nil {
				t.Fatal(err)
			}
		}
		t1 := time.Now()
		deadline := time.Now().Add(20 * time.Second)
		for status(t, c, c.Primary, "wsrep_cluster_status") == "Primary" {
			if time.Now().After(deadline) {
				t.Fatal("node1 still in a Primary component 20 s after losing two of three nodes")
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Logf("node1 non-Primary %v after the kills", time.Since(t1).Round(time.Millisecond))
		if _, err := dbs[c.Primary].Exec("SELECT COUNT(*) FROM g"); err == nil {
			t.Errorf("node1 without a quorum answered a query")
		}
		if err := c.Bootstrap(ctx, c.Primary); err != nil {
			t.Fatal(err)
		}
		id := insert(t, c, c.Primary, "g")
		t1 = time.Now()
		for _, r := range c.Replicas {
			if err := r.Restart(ctx); err != nil {
				t.Fatal(err)
			}
			waitRow(t, dbs[r], "g", id)
		}
		t.Logf("both nodes back after %v", time.Since(t1).Round(time.Millisecond))
		for _, s := range c.Servers() {
			if got := status(t, c, s, "wsrep_cluster_size"); got != "3" {
				t.Errorf("%s: cluster size %s after the nodes' return", s.Name, got)
			}
		}
	})
}
