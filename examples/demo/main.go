// Command demo starts a throwaway PostgreSQL cluster (a primary and two
// streaming replicas) on loopback and shows sqlreplica at work: where each
// statement goes and why, proven by asking the server that answered; stale
// reads without a session and fresh, replica-served reads with one; a
// replica dying while reads carry on; the health checks' status table.
//
// Run it with `make demo`, which installs PostgreSQL first if it is missing.
package main

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sqlreplica/sqlreplica/consistency"
	"github.com/sqlreplica/sqlreplica/health"
	"github.com/sqlreplica/sqlreplica/internal/testcluster"
	"github.com/sqlreplica/sqlreplica/replica"
	"github.com/sqlreplica/sqlreplica/router"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	fmt.Println("Starting a PostgreSQL primary and two streaming replicas on loopback (replica2 applies changes 2 s late)…")
	t0 := time.Now()
	c, err := testcluster.StartPostgres(ctx, testcluster.Options{Replicas: 2, Delay: 2 * time.Second})
	if err != nil {
		return err
	}
	defer c.Stop()
	names := map[string]string{}
	for _, s := range c.Servers() {
		names[fmt.Sprint(s.Port)] = s.Name
	}
	fmt.Printf("Cluster up in %v: primary :%d, replica1 :%d, replica2 :%d\n\n",
		time.Since(t0).Round(time.Millisecond), c.Primary.Port, c.Replicas[0].Port, c.Replicas[1].Port)

	db, err := replica.Open("pgx", c.DSN(c.Primary), []string{c.DSN(c.Replicas[0]), c.DSN(c.Replicas[1])})
	if err != nil {
		return err
	}
	defer db.Close()

	for _, q := range []string{
		"CREATE TABLE accounts (id serial PRIMARY KEY, name text)",
		"CREATE SEQUENCE invoice_seq",
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			return err
		}
	}

	// Replication is asynchronous: wait until both replicas have the table.
	for _, r := range db.Replicas() {
		for {
			var ok bool
			if err := r.QueryRowContext(ctx, "SELECT to_regclass('accounts') IS NOT NULL").Scan(&ok); err != nil {
				return err
			}
			if ok {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
	}

	fmt.Println("1. Routing: each statement in the table reports the port of the server that ran it.")
	cls, _ := router.NewClassifier(db.Dialect(), router.Functions{})
	w := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(w, "  STATEMENT\tCLASS\tWHY\tSERVED BY")
	show := func(ctx context.Context, label, q string) error {
		var port string
		if err := db.QueryRowContext(ctx, q).Scan(&port); err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
		d := cls.Explain(q)
		why := d.Reason.String()
		if label != "" {
			why = label
		}
		fmt.Fprintf(w, "  %s\t%s\t%s\t%s\n", shorten(q), d.Kind, why, names[port])
		return nil
	}
	steps := []struct {
		label, q string
		multi    bool // several statements: the extended protocol cannot run it
	}{
		{"", "SELECT current_setting('port')", false},
		{"", "/* count */ SELECT current_setting('port') FROM (SELECT count(*) FROM accounts) c", false},
		{"", "SELECT current_setting('port') -- ; DELETE FROM accounts", false},
		{"", "INSERT INTO accounts (name) VALUES ('ada') RETURNING current_setting('port')", false},
		{"", "SELECT current_setting('port') FROM accounts WHERE id = 1 FOR UPDATE", false},
		{"", "WITH d AS (DELETE FROM accounts WHERE id < 0 RETURNING id) SELECT current_setting('port')", false},
		{"", "SELECT current_setting('port') FROM (SELECT nextval('invoice_seq')) s", false},
		{"", "SELECT current_setting('port'); DELETE FROM accounts WHERE id < 0", true},
	}
	var notRun []string
	for _, s := range steps {
		if s.multi {
			// Multi-statement strings need PostgreSQL's simple protocol,
			// which pgx's database/sql driver does not use: not run, so
			// not in the table of what servers said.
			d := cls.Explain(s.q)
			notRun = append(notRun, fmt.Sprintf("  Not run (PostgreSQL's extended protocol takes one statement at a time): %s\n"+
				"    the classifier calls it a %s (%s), so it would go to the primary.", s.q, d.Kind, d.Reason))
			continue
		}
		if err := show(ctx, s.label, s.q); err != nil {
			return err
		}
	}
	if err := show(replica.WithPrimary(ctx), "hint: WithPrimary", "SELECT current_setting('port')"); err != nil {
		return err
	}
	w.Flush()
	for _, l := range notRun {
		fmt.Println(l)
	}

	fmt.Println("\n2. Transactions run wholly on one node.")
	for _, opts := range []*sql.TxOptions{nil, {ReadOnly: true}} {
		tx, err := db.BeginTx(ctx, opts)
		if err != nil {
			return err
		}
		var port string
		if err := tx.QueryRowContext(ctx, "SELECT current_setting('port')").Scan(&port); err != nil {
			return err
		}
		kind := "read-write"
		if opts != nil {
			kind = "read-only "
		}
		fmt.Printf("  %s transaction: its SELECT ran on %s\n", kind, names[port])
		if err := tx.Rollback(); err != nil {
			return err
		}
	}

	fmt.Println("\n3. Read-your-writes: insert a row, read it back at once.")
	// read reports which server served the read and whether it found the
	// row: a stale read names its server too.
	read := func(ctx context.Context, id int64) (node string, found bool, err error) {
		var port string
		err = db.QueryRowContext(ctx,
			"SELECT current_setting('port'), EXISTS (SELECT 1 FROM accounts WHERE id = $1)", id).Scan(&port, &found)
		return names[port], found, err
	}
	for _, withSession := range []bool{false, true} {
		staleBy, servedBy := map[string]int{}, map[string]int{}
		var tok consistency.Token
		for i := 0; i < 10; i++ {
			ctx := ctx
			if withSession {
				ctx = consistency.WithSession(ctx)
			}
			var id int64
			if err := db.QueryRowContext(ctx, "INSERT INTO accounts (name) VALUES ('demo') RETURNING id").Scan(&id); err != nil {
				return err
			}
			node, found, err := read(ctx, id)
			if err != nil {
				return err
			}
			if !found {
				staleBy[node]++
				continue
			}
			servedBy[node]++
			if s := consistency.SessionFrom(ctx); s != nil {
				tok = s.Token()
			}
		}
		stale := total(staleBy)
		if !withSession {
			fmt.Printf("  without a session: %d of 10 reads did not find the row just written (%s);\n"+
				"                     %d found it (%s)\n", stale, counts(staleBy), 10-stale, counts(servedBy))
			continue
		}
		fmt.Printf("  with a session:    %d of 10 reads stale; %d found the row (%s)\n", stale, 10-stale, counts(servedBy))
		if stale > 0 {
			fmt.Printf("                     stale reads: %s\n", counts(staleBy))
		}
		fmt.Printf("  the session's token, which survives a cookie or a header: %s\n", tok)
	}

	fmt.Println("\n4. A replica dies: reads carry on elsewhere, and the health checks see it.")
	printStatus(db.CheckNow(ctx))
	if err := c.Replicas[0].Kill(); err != nil {
		return err
	}
	servedBy := map[string]int{}
	for i := 0; i < 20; i++ {
		var port string
		if err := db.QueryRowContext(ctx, "SELECT current_setting('port')").Scan(&port); err != nil {
			return fmt.Errorf("read %d failed after replica1 died: %w", i, err)
		}
		servedBy[names[port]]++
	}
	fmt.Printf("  replica1 killed with SIGKILL; 20 reads, 0 errors (%s)\n", counts(servedBy))
	printStatus(db.CheckNow(ctx))
	if err := c.Replicas[0].Restart(ctx); err != nil {
		return err
	}
	for !db.Status().Nodes[1].Healthy {
		time.Sleep(50 * time.Millisecond)
	}
	fmt.Println("  replica1 restarted: back in rotation after two good checks.")
	printStatus(db.Status())
	fmt.Println("\nDone; the cluster is being removed.")
	return nil
}

// printStatus prints the health checks' view of every node.
func printStatus(s health.Snapshot) {
	w := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(w, "  NODE\tROLE\tIN ROTATION\tLAG\tPOSITION\tLATENCY\tREPLICATION")
	var errs []string
	for _, n := range s.Nodes {
		lag, pos, latency, repl := "unknown", n.Position.String(), n.Latency.Round(10*time.Microsecond).String(), "-"
		if n.Lag.Known {
			lag = fmt.Sprintf("%v/%dB", n.Lag.Time.Round(time.Millisecond), n.Lag.Bytes)
		}
		if n.Replication.Configured {
			repl = map[bool]string{true: "receiving", false: "not receiving"}[n.Replication.Receiving]
		}
		if !n.Healthy || !n.Reachable {
			// What the node said before it failed is not its state
			// now.
			lag, pos, latency, repl = "-", "-", "-", "-"
		}
		if n.LastError != "" {
			// Whole, below the table: a cut error hides its cause.
			errs = append(errs, fmt.Sprintf("  %s's last error: %s", n.Name, n.LastError))
		}
		fmt.Fprintf(w, "  %s\t%s\t%s\t%s\t%s\t%s\t%s\n", n.Name, n.Role, inRotation(n), lag, pos, latency, repl)
	}
	w.Flush()
	for _, e := range errs {
		fmt.Println(e)
	}
}

// inRotation says whether a node is in rotation and answering.
func inRotation(n health.Status) string {
	switch {
	case n.Healthy:
		return "yes"
	case n.Reachable:
		return "no"
	}
	return "no (not answering)"
}

// counts writes how many reads each node served in words, busiest first:
// "7 on replica1, 3 on replica2".
func counts(by map[string]int) string {
	if len(by) == 0 {
		return "none"
	}
	nodes := make([]string, 0, len(by))
	for n := range by {
		nodes = append(nodes, n)
	}
	sort.Slice(nodes, func(i, j int) bool {
		if by[nodes[i]] != by[nodes[j]] {
			return by[nodes[i]] > by[nodes[j]]
		}
		return nodes[i] < nodes[j]
	})
	parts := make([]string, len(nodes))
	for i, n := range nodes {
		parts[i] = fmt.Sprintf("%d on %s", by[n], n)
	}
	return strings.Join(parts, ", ")
}

func total(by map[string]int) int {
	t := 0
	for _, c := range by {
		t += c
	}
	return t
}

// shorten cuts a statement to at most 70 characters at a word boundary,
// marking the cut with "…".
func shorten(s string) string {
	const max = 70
	r := []rune(s)
	if len(r) <= max {
		return s
	}
	cut := string(r[:max-1])
	if i := strings.LastIndexAny(cut, " \t"); i > max/2 {
		cut = cut[:i]
	}
	return strings.TrimRight(cut, " ,:;") + "…"
}
