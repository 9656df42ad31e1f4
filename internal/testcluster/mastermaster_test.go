package testcluster_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/sqlreplica/sqlreplica/internal/testcluster"
)

// TestMasterMaster checks the master-master harness: both servers writable
// through the app user, each with its own GTID domain and auto-increment
// offset, writes flowing both ways, and a killed master catching up once
// restarted.
func TestMasterMaster(t *testing.T) {
	t0 := time.Now()
	c := testcluster.Start(t, testcluster.MasterMaster, testcluster.Options{})
	t.Logf("master-master pair ready in %v", time.Since(t0).Round(time.Millisecond))
	if len(c.Servers()) != 2 {
		t.Fatalf("%d servers, want 2", len(c.Servers()))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dbs := map[*testcluster.Server]*sql.DB{}
	for i, s := range c.Servers() {
		db, err := c.Open(s)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		dbs[s] = db
		var ro, dom, inc, off int
		if err := db.QueryRowContext(ctx, "SELECT @@read_only, @@gtid_domain_id, @@auto_increment_increment, @@auto_increment_offset").
			Scan(&ro, &dom, &inc, &off); err != nil {
			t.Fatal(err)
		}
		if ro != 0 || dom != i+1 || inc != 2 || off != i+1 {
			t.Fatalf("%s: read_only=%d gtid_domain_id=%d auto_increment_increment=%d offset=%d", s.Name, ro, dom, inc, off)
		}
	}
	p, err := c.OpenAdmin(c.Primary)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if _, err := p.Exec("CREATE TABLE mm (id bigint AUTO_INCREMENT PRIMARY KEY, v varchar(20))"); err != nil {
		t.Fatal(err)
	}
	waitTable := func(s *testcluster.Server) {
		deadline := time.Now().Add(10 * time.Second)
		for {
			if _, err := dbs[s].Exec("SELECT 1 FROM mm LIMIT 1"); err == nil {
				return
			} else if time.Now().After(deadline) {
				t.Fatalf("table not on %s: %v", s.Name, err)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitTable(c.Replicas[0])
	for round := 0; round < 3; round++ {
		for i, s := range c.Servers() {
			id := insert(t, c, s, "mm")
			if id%2 != int64(i+1)%2 {
				t.Errorf("%s handed out id %d", s.Name, id)
			}
			for _, o := range c.Servers() {
				waitRow(t, dbs[o], "mm", id)
			}
		}
	}
	var pos1, pos2 string
	if err := dbs[c.Primary].QueryRow("SELECT @@gtid_current_pos").Scan(&pos1); err != nil {
		t.Fatal(err)
	}
	t.Logf("master1 gtid_current_pos %s", pos1)

	// master1 dies; master2 takes writes; master1 comes back and catches up.
	if err := c.Primary.Kill(); err != nil {
		t.Fatal(err)
	}
	id := insert(t, c, c.Replicas[0], "mm")
	t1 := time.Now()
	if err := c.Primary.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if t.Failed() {
			t.Log(c.Primary.Log())
		}
	}()
	waitRow(t, dbs[c.Primary], "mm", id)
	t.Logf("killed master1 restarted and caught up in %v", time.Since(t1).Round(time.Millisecond))
	id = insert(t, c, c.Primary, "mm")
	waitRow(t, dbs[c.Replicas[0]], "mm", id)
	if err := dbs[c.Replicas[0]].QueryRow("SELECT @@gtid_current_pos").Scan(&pos2); err != nil {
		t.Fatal(err)
	}
	t.Logf("master2 gtid_current_pos %s", pos2)
}
