// Command galera starts a throwaway three-node MariaDB Galera cluster on
// loopback and shows sqlreplica on it: the cluster is recognised with no
// option, every write goes to one node and the reads to the others, each
// proven by asking the server that answered; a session reads its writes at
// once; and when the writing node is killed, writes move to another node.
//
// Run it with `make galera-demo`, which installs MariaDB (and Galera) first
// if they are missing. It takes about half a minute, most of it the
// cluster's start.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/sqlreplica/sqlreplica/consistency"
	"github.com/sqlreplica/sqlreplica/internal/testcluster"
	"github.com/sqlreplica/sqlreplica/replica"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "galera:", err)
		os.Exit(1)
	}
}

func run() error {
	// The driver logs every connection the kill breaks: the demo shows them
	// through its own errors.
	_ = mysql.SetLogger(log.New(io.Discard, "", 0))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	fmt.Println("Starting a three-node MariaDB Galera cluster on loopback…")
	t0 := time.Now()
	c, err := testcluster.StartGalera(ctx, testcluster.Options{Replicas: 2})
	if err != nil {
		return err
	}
	defer c.Stop()
	names := map[int]string{}
	var dsns []string
	for _, s := range c.Servers() {
		names[s.Port] = s.Name
		if s != c.Primary {
			dsns = append(dsns, c.DSN(s))
		}
	}
	fmt.Printf("Cluster up in %v: %s\n\n", time.Since(t0).Round(time.Second), nodeList(c))

	// Nothing Galera-specific: the nodes say what they are.
	db, err := replica.Open("mysql", c.DSN(c.Primary), dsns, replica.NodeNames("node1", "node2", "node3"))
	if err != nil {
		return err
	}
	defer db.Close()
	if err := waitServing(ctx, db, 3); err != nil {
		return err
	}
	printStatus(db)

	if _, err := db.ExecContext(ctx, "CREATE TABLE notes (id int AUTO_INCREMENT PRIMARY KEY, body varchar(100), node int)"); err != nil {
		return err
	}
	fmt.Println("\nTwenty writes and twenty reads in sessions (each read right after its write):")
	writes, reads := map[string]int{}, map[string]int{}
	stale := 0
	for i := 0; i < 20; i++ {
		sctx := consistency.WithSession(ctx)
		if _, err := db.ExecContext(sctx, "INSERT INTO notes (body, node) VALUES (?, @@port)", fmt.Sprint("note ", i)); err != nil {
			return err
		}
		var w int
		if err := db.QueryRowContext(sctx, "SELECT node FROM notes WHERE body = ?", fmt.Sprint("note ", i)).Scan(&w); err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				return err
			}
			stale++
			continue
		}
		var r int
		if err := db.QueryRowContext(sctx, "SELECT @@port").Scan(&r); err != nil {
			return err
		}
		writes[names[w]]++
		reads[names[r]]++
	}
	fmt.Printf("  writes: %s\n  reads:  %s\n  stale reads: %d\n", counts(writes), counts(reads), stale)

	fmt.Printf("\nKilling %s, the writer, and writing on…\n", c.Primary.Name)
	if err := c.Primary.Kill(); err != nil {
		return err
	}
	killed := time.Now()
	var first time.Duration
	after := map[string]int{}
	for i := 0; i < 20; {
		var port int
		wctx, wcancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := db.ExecContext(wctx, "INSERT INTO notes (body, node) VALUES (?, @@port)", fmt.Sprint("after ", i))
		if err == nil {
			err = db.QueryRowContext(wctx, "SELECT node FROM notes WHERE body = ?", fmt.Sprint("after ", i)).Scan(&port)
		}
		wcancel()
		if err != nil {
			if time.Since(killed) > time.Minute {
				return fmt.Errorf("writes did not move in a minute: %w", err)
			}
			fmt.Printf("  %6v  write failed, not retried by the library: %v\n", time.Since(killed).Round(time.Millisecond), firstLine(err))
			time.Sleep(200 * time.Millisecond)
			continue
		}
		if first == 0 {
			first = time.Since(killed)
		}
		after[names[port]]++
		i++
	}
	fmt.Printf("  first write acknowledged %v after the kill; 20 writes on: %s\n\n", first.Round(time.Millisecond), counts(after))
	db.CheckNow(ctx)
	printStatus(db)
	return nil
}

// waitServing waits until n nodes are in rotation.
func waitServing(ctx context.Context, db *replica.DB, n int) error {
	for {
		s := db.CheckNow(ctx)
		up := 0
		for _, st := range s.Nodes {
			if st.Healthy {
				up++
			}
		}
		if up >= n && s.WriterKnown {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the nodes did not all come into rotation: %w", ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func printStatus(db *replica.DB) {
	s := db.Status()
	tw := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "node\tin rotation\trole\tgalera state\tcluster\tapply queue\tlag")
	for i, n := range s.Nodes {
		role := "reads"
		if i == s.Writer {
			role = "writes"
		}
		state, cluster, queue, lag := "-", "-", "-", "-"
		if g := n.Galera; g != nil && n.Reachable {
			state = g.LocalStateComment
			cluster = fmt.Sprintf("%s of %d", g.ClusterStatus, g.ClusterSize)
			queue = fmt.Sprint(g.RecvQueue)
			if n.Lag.Known {
				lag = n.Lag.Time.String()
			}
		}
		if !n.Healthy {
			role = "none"
		}
		fmt.Fprintf(tw, "%s\t%v\t%s\t%s\t%s\t%s\t%s\n", n.Name, yesNo(n.Healthy), role, state, cluster, queue, lag)
	}
	tw.Flush()
}

func nodeList(c *testcluster.Cluster) string {
	var parts []string
	for _, s := range c.Servers() {
		parts = append(parts, fmt.Sprintf("%s :%d", s.Name, s.Port))
	}
	return strings.Join(parts, ", ")
}

// counts reads "12 on node2, 8 on node3".
func counts(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%d on %s", m[k], k))
	}
	return strings.Join(parts, ", ")
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func firstLine(err error) string {
	s := err.Error()
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
