// Command quickstart is the README's quick start as a program: it opens a
// primary and its replicas, creates a table, inserts a row and reads it back
// at once with read-your-writes, and prints where each statement ran, as the
// server that ran it says.
//
// It takes its data source names from the environment:
//
//	SQLREPLICA_DRIVER    pgx (PostgreSQL, the default) or mysql (MySQL, MariaDB)
//	SQLREPLICA_PRIMARY   the primary's DSN
//	SQLREPLICA_REPLICAS  the replicas' DSNs, separated by commas
//
// `make cluster` starts a local cluster and prints these as export lines:
// paste them into another shell, then
//
//	go run ./examples/quickstart
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/sqlreplica/sqlreplica/consistency"
	"github.com/sqlreplica/sqlreplica/replica"
)

func main() {
	cfg, err := configFrom(os.Getenv)
	if err != nil {
		fmt.Fprintf(os.Stderr, "quickstart: %v\n\n%s", err, usage)
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := run(ctx, cfg, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

const usage = `Set the data source names of a primary and its replicas, e.g.:

  export SQLREPLICA_DRIVER=pgx   # or mysql (MySQL, MariaDB)
  export SQLREPLICA_PRIMARY='postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable'
  export SQLREPLICA_REPLICAS='postgres://postgres@127.0.0.1:5433/postgres?sslmode=disable,postgres://postgres@127.0.0.1:5434/postgres?sslmode=disable'

` + "`make cluster`" + ` starts a local cluster and prints these lines.
`

// config is what the program needs from the environment.
type config struct {
	driver   string
	primary  string
	replicas []string
}

// configFrom reads the configuration with getenv (os.Getenv).
func configFrom(getenv func(string) string) (config, error) {
	cfg := config{driver: getenv("SQLREPLICA_DRIVER"), primary: getenv("SQLREPLICA_PRIMARY")}
	if cfg.driver == "" {
		cfg.driver = "pgx"
	}
	if _, ok := dialects[cfg.driver]; !ok {
		return config{}, fmt.Errorf("SQLREPLICA_DRIVER=%q: want pgx or mysql", cfg.driver)
	}
	for _, dsn := range strings.Split(getenv("SQLREPLICA_REPLICAS"), ",") {
		if dsn = strings.TrimSpace(dsn); dsn != "" {
			cfg.replicas = append(cfg.replicas, dsn)
		}
	}
	var missing []string
	if cfg.primary == "" {
		missing = append(missing, "SQLREPLICA_PRIMARY")
	}
	if len(cfg.replicas) == 0 {
		missing = append(missing, "SQLREPLICA_REPLICAS")
	}
	if len(missing) > 0 {
		return config{}, fmt.Errorf("%s not set", strings.Join(missing, " and "))
	}
	return cfg, nil
}

// run opens the DB of cfg and runs the quick start on it.
func run(ctx context.Context, cfg config, out io.Writer) error {
	db, err := replica.Open(cfg.driver, cfg.primary, cfg.replicas)
	if err != nil {
		return err
	}
	defer db.Close()
	return quickstart(ctx, db, dialects[cfg.driver], out)
}

// dialect is the SQL of the quick start that differs between servers.
type dialect struct {
	create string // creates the table
	insert string // inserts a row: id, name
	read   string // reads the name of a row by id, and where it ran: name, port, replica
	where  string // where it ran: port, replica
}

var dialects = map[string]dialect{
	"pgx": {
		create: "CREATE TABLE IF NOT EXISTS quickstart_users (id bigint PRIMARY KEY, name text NOT NULL)",
		insert: "INSERT INTO quickstart_users (id, name) VALUES ($1, $2)",
		read:   "SELECT name, current_setting('port'), pg_is_in_recovery() FROM quickstart_users WHERE id = $1",
		where:  "SELECT current_setting('port'), pg_is_in_recovery()",
	},
	"mysql": {
		create: "CREATE TABLE IF NOT EXISTS quickstart_users (id bigint PRIMARY KEY, name varchar(100) NOT NULL)",
		insert: "INSERT INTO quickstart_users (id, name) VALUES (?, ?)",
		read:   "SELECT name, @@port, @@read_only FROM quickstart_users WHERE id = ?",
		where:  "SELECT @@port, @@read_only",
	},
}

// quickstart is the README's quick start.
func quickstart(ctx context.Context, db *replica.DB, q dialect, out io.Writer) error {
	// Reads without a session spread over the replicas.
	var port string
	var onReplica bool
	for i := 0; i < 2; i++ {
		if err := db.QueryRowContext(ctx, q.where).Scan(&port, &onReplica); err != nil {
			return err
		}
		fmt.Fprintf(out, "SELECT: ran on port %s, %s\n", port, role(onReplica))
	}

	// A session: its reads see its writes, whichever node serves them.
	ctx = consistency.WithSession(ctx)

	// A read-write transaction runs wholly on the primary: ask the server.
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, q.create); err != nil {
		return err
	}
	id := time.Now().UnixNano()
	if _, err := tx.ExecContext(ctx, q.insert, id, "ada"); err != nil {
		return err
	}
	if err := tx.QueryRowContext(ctx, q.where).Scan(&port, &onReplica); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	fmt.Fprintf(out, "CREATE TABLE, INSERT in the session: ran on port %s, %s\n", port, role(onReplica))

	// A read of the session: a replica that has applied the insert serves
	// it (else the primary), so it finds the row.
	var name string
	if err := db.QueryRowContext(ctx, q.read, id).Scan(&name, &port, &onReplica); err != nil {
		return err
	}
	fmt.Fprintf(out, "SELECT in the session: found %q on port %s, %s\n", name, port, role(onReplica))
	return nil
}

// role names what the server said it is.
func role(onReplica bool) string {
	if onReplica {
		return "a replica"
	}
	return "the primary"
}
