package testcluster_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/sqlreplica/sqlreplica/internal/testcluster"
)

var clusters testcluster.Set

func TestMain(m *testing.M) { os.Exit(clusters.Run(m)) }

// TestClustersReplicate checks the harness itself: every server answers,
// replicas are replicas, and a row written on the primary reaches them.
func TestClustersReplicate(t *testing.T) {
	for _, k := range []testcluster.Kind{testcluster.Postgres, testcluster.MariaDB, testcluster.MySQL, testcluster.Galera, testcluster.MasterMaster} {
		t.Run(k.String(), func(t *testing.T) {
			t0 := time.Now()
			c := clusters.Get(t, k)
			t.Logf("%v cluster ready in %v", k, time.Since(t0))
			ctx := context.Background()
			for _, s := range c.Servers() {
				db, err := c.Open(s)
				if err != nil {
					t.Fatal(err)
				}
				var v string
				q := "SELECT pg_is_in_recovery()::text"
				if k != testcluster.Postgres {
					q = "SELECT CONCAT(@@server_id, ' read_only=', @@read_only)"
				}
				if err := db.QueryRowContext(ctx, q).Scan(&v); err != nil {
					t.Fatal(s.Name, err)
				}
				t.Logf("%s on port %d: %s", s.Name, s.Port, v)
				db.Close()
			}
			// A row written on the primary reaches the first replica.
			p, err := c.Open(c.Primary)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			r, err := c.Open(c.Replicas[0])
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			for _, q := range []string{"CREATE TABLE harness_check (id int)", "INSERT INTO harness_check VALUES (7)"} {
				if _, err := p.ExecContext(ctx, q); err != nil {
					t.Fatal(err)
				}
			}
			deadline := time.Now().Add(10 * time.Second)
			for {
				var id int
				err := r.QueryRowContext(ctx, "SELECT id FROM harness_check").Scan(&id)
				if err == nil && id == 7 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("row not replicated: %v", err)
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
}
