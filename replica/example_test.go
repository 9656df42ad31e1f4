package replica_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"log"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/sqlreplica/sqlreplica/consistency"
	"github.com/sqlreplica/sqlreplica/replica"
)

// Open a primary and two replicas, then use the DB as a *sql.DB: reads go
// to the replicas, writes to the primary.
func ExampleOpen() {
	db, err := replica.Open("pgx",
		"postgres://app@primary.internal:5432/app",
		[]string{
			"postgres://app@replica1.internal:5432/app",
			"postgres://app@replica2.internal:5432/app",
		})
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()

	// A read: runs on a replica.
	var name string
	err = db.QueryRowContext(ctx, "SELECT name FROM users WHERE id = $1", 42).Scan(&name)
	if err != nil {
		log.Fatal(err)
	}

	// A write, even one that returns rows: runs on the primary.
	var id int64
	err = db.QueryRowContext(ctx, "INSERT INTO users (name) VALUES ($1) RETURNING id", "ada").Scan(&id)
	if err != nil {
		log.Fatal(err)
	}

	// This read must see that write: send it to the primary.
	err = db.QueryRowContext(replica.WithPrimary(ctx), "SELECT name FROM users WHERE id = $1", id).Scan(&name)
	if err != nil {
		log.Fatal(err)
	}
}

// Wrap pools you already have. The pools here are on stand-in servers
// (standIn, below) whose every query returns the server's name; yours come
// from sql.Open with your driver.
func ExampleNew() {
	primary := sql.OpenDB(standIn("primary"))
	replica1 := sql.OpenDB(standIn("replica1"))
	defer primary.Close()
	defer replica1.Close()

	db, err := replica.New(primary, []*sql.DB{replica1})
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	for _, q := range []string{
		"SELECT name FROM users",
		"/* comment */ SELECT name FROM users WHERE id = 1 FOR UPDATE",
		"INSERT INTO users (name) VALUES ('ada') RETURNING id",
		"WITH gone AS (DELETE FROM users WHERE id = 1 RETURNING *) SELECT * FROM gone",
		"SELECT nextval('invoice_numbers')",
	} {
		var server string
		if err := db.QueryRow(q).Scan(&server); err != nil {
			log.Fatal(err)
		}
		fmt.Println(server)
	}
	// Output:
	// replica1
	// primary
	// primary
	// primary
	// primary
}

// Read-only transactions run on a replica, all others on the primary.
func ExampleDB_BeginTx() {
	primary := sql.OpenDB(standIn("primary"))
	replica1 := sql.OpenDB(standIn("replica1"))
	defer primary.Close()
	defer replica1.Close()
	db, err := replica.New(primary, []*sql.DB{replica1})
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()

	report, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		log.Fatal(err)
	}
	defer report.Rollback()
	fmt.Println("read-only:", report.Node())

	transfer, err := db.BeginTx(ctx, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer transfer.Rollback()
	fmt.Println("read-write:", transfer.Node())
	// Output:
	// read-only: replica1
	// read-write: primary
}

// Ask for a node: WithReplica can never send a write to a replica.
func ExampleWithReplica() {
	primary := sql.OpenDB(standIn("primary"))
	replica1 := sql.OpenDB(standIn("replica1"))
	defer primary.Close()
	defer replica1.Close()
	db, err := replica.New(primary, []*sql.DB{replica1}, replica.WriteFunctions("audit_event"))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()

	var server string
	_ = db.QueryRowContext(ctx, "SELECT audit_event('login')").Scan(&server)
	fmt.Println("declared write function:", server)
	_ = db.QueryRowContext(replica.WithReplica(ctx), "SELECT pg_try_advisory_lock(1)").Scan(&server)
	fmt.Println("a lock asked of a replica:", server)
	tx, err := db.BeginTx(replica.WithReplica(ctx), nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("transaction asked of a replica:", tx.Node())
	_, err = tx.ExecContext(ctx, "UPDATE t SET a = 1")
	fmt.Println("a write in it:", errors.Is(err, replica.ErrWriteOnReplica))
	_ = tx.Rollback()
	_ = db.QueryRowContext(replica.WithPrimary(ctx), "SELECT 1").Scan(&server)
	fmt.Println("forced to the primary:", server)
	// Output:
	// declared write function: primary
	// a lock asked of a replica: primary
	// transaction asked of a replica: replica1
	// a write in it: true
	// forced to the primary: primary
}

// Make every read see the DB's own writes without a session in the
// context: for an ORM, a migration tool or another library that cannot
// carry one.
func ExampleCausalReads() {
	db, err := replica.Open("pgx", "postgres://app@primary.internal:5432/app",
		[]string{"postgres://app@replica1.internal:5432/app"},
		replica.CausalReads())
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background() // no session
	if _, err := db.ExecContext(ctx, "UPDATE users SET name = $1 WHERE id = $2", "ada", 42); err != nil {
		log.Fatal(err)
	}
	var name string
	if err := db.QueryRowContext(ctx, "SELECT name FROM users WHERE id = $1", 42).Scan(&name); err != nil {
		log.Fatal(err)
	}
	// name is "ada", whichever node served the read.
}

// Tell a session of a write made outside the DB: here a stored procedure
// run through a pool of the primary's own.
func ExampleDB_RecordWrite() {
	var db *replica.DB // from replica.Open or replica.New
	var raw *sql.DB    // the primary's pool, used directly
	ctx := consistency.WithSession(context.Background())
	if _, err := raw.ExecContext(ctx, "CALL close_month($1)", "2026-10"); err != nil {
		log.Fatal(err)
	}
	if err := db.RecordWrite(ctx); err != nil {
		log.Fatal(err)
	}
	// Reads with ctx (and, on a DB with CausalReads, every read) see what
	// close_month wrote.
	var total int64
	if err := db.QueryRowContext(ctx, "SELECT total FROM months WHERE month = $1", "2026-10").Scan(&total); err != nil {
		log.Fatal(err)
	}
}

// standIn is a stand-in for a database server in these examples, opened
// with sql.OpenDB(standIn("primary")) (no driver is registered): every
// query returns one row holding its name, every statement succeeds.
type standIn string

func (s standIn) Connect(context.Context) (driver.Conn, error) { return serverConn(s), nil }
func (s standIn) Driver() driver.Driver                        { return serverDriver{} }

type serverDriver struct{}

func (serverDriver) Open(string) (driver.Conn, error) {
	return nil, errors.New("example: open with sql.OpenDB(standIn(name))")
}

type serverConn string

func (c serverConn) Prepare(string) (driver.Stmt, error) { return serverStmt(c), nil }
func (c serverConn) Close() error                        { return nil }
func (c serverConn) Begin() (driver.Tx, error)           { return serverTx{}, nil }

func (c serverConn) BeginTx(context.Context, driver.TxOptions) (driver.Tx, error) {
	return serverTx{}, nil
}

func (c serverConn) QueryContext(context.Context, string, []driver.NamedValue) (driver.Rows, error) {
	return &nameRow{name: string(c)}, nil
}

func (c serverConn) ExecContext(context.Context, string, []driver.NamedValue) (driver.Result, error) {
	return driver.RowsAffected(1), nil
}

type serverStmt string

func (st serverStmt) Close() error  { return nil }
func (st serverStmt) NumInput() int { return -1 }

func (st serverStmt) Exec([]driver.Value) (driver.Result, error) { return driver.RowsAffected(1), nil }
func (st serverStmt) Query([]driver.Value) (driver.Rows, error) {
	return &nameRow{name: string(st)}, nil
}

type serverTx struct{}

func (serverTx) Commit() error   { return nil }
func (serverTx) Rollback() error { return nil }

// nameRow is one row, one column: the server's name.
type nameRow struct {
	name string
	done bool
}

func (r *nameRow) Columns() []string { return []string{"server"} }
func (r *nameRow) Close() error      { return nil }

func (r *nameRow) Next(dest []driver.Value) error {
	if r.done {
		return io.EOF
	}
	r.done = true
	dest[0] = r.name
	return nil
}
