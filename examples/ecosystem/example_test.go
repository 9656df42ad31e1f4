package ecosystem_test

import (
	"context"
	"database/sql"
	"log"
	"testing/fstest"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"github.com/XSAM/otelsql"
	"github.com/jmoiron/sqlx"
	"github.com/pressly/goose/v3"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"

	"github.com/sqlreplica/sqlreplica/consistency"
	authors "github.com/sqlreplica/sqlreplica/examples/ecosystem/internal/authorspg"
	"github.com/sqlreplica/sqlreplica/replica"
)

// openExample opens the replica.DB the examples share: a primary and one
// replica.
func openExample(opts ...replica.Option) *replica.DB {
	rdb, err := replica.Open("pgx", "postgres://app@primary.internal/app",
		[]string{"postgres://app@replica1.internal/app"}, opts...)
	if err != nil {
		log.Fatal(err)
	}
	return rdb
}

type user struct {
	ID   int64  `db:"id"`
	Name string `db:"name"`
}

// sqlx over the routing *sql.DB: Get and Select run on a replica, NamedExec
// on the primary; the session makes the read after the write see it.
func Example_sqlx() {
	rdb := openExample()
	defer rdb.Close()

	db := sqlx.NewDb(rdb.SQLDB(), "pgx")
	ctx := consistency.WithSession(context.Background())
	_, err := db.NamedExecContext(ctx, "INSERT INTO users (name) VALUES (:name)", user{Name: "ada"})
	if err != nil {
		log.Fatal(err)
	}
	var users []user
	err = db.SelectContext(ctx, &users, "SELECT id, name FROM users") // sees ada
	if err != nil {
		log.Fatal(err)
	}
}

type Product struct {
	ID    int64
	Code  string
	Price int
}

// GORM over the routing *sql.DB. With CausalReads, every read sees every
// write the DB acknowledged before it, with no session to carry: AutoMigrate
// then use at once, as one server would behave.
func Example_gorm() {
	rdb := openExample(replica.CausalReads())
	defer rdb.Close()

	db, err := gorm.Open(postgres.New(postgres.Config{Conn: rdb.SQLDB()}), &gorm.Config{})
	if err != nil {
		log.Fatal(err)
	}
	if err := db.AutoMigrate(&Product{}); err != nil {
		log.Fatal(err)
	}
	db.Create(&Product{Code: "D42", Price: 100}) // primary
	var p Product
	db.First(&p, "code = ?", "D42") // sees it at once
	// A transaction runs wholly on the primary.
	err = db.Transaction(func(tx *gorm.DB) error {
		return tx.Model(&p).Update("price", 200).Error
	})
	if err != nil {
		log.Fatal(err)
	}
}

type Book struct {
	ID    int64 `bun:",pk,autoincrement"`
	Title string
}

// bun over the routing *sql.DB: NewSelect on a replica, NewInsert and
// RunInTx on the primary.
func Example_bun() {
	rdb := openExample()
	defer rdb.Close()

	db := bun.NewDB(rdb.SQLDB(), pgdialect.New())
	ctx := consistency.WithSession(context.Background())
	book := &Book{Title: "SICP"}
	if _, err := db.NewInsert().Model(book).Returning("id").Exec(ctx); err != nil {
		log.Fatal(err)
	}
	var books []Book
	if err := db.NewSelect().Model(&books).Scan(ctx); err != nil {
		log.Fatal(err)
	}
	err := db.RunInTx(ctx, &sql.TxOptions{ReadOnly: true}, func(ctx context.Context, tx bun.Tx) error {
		return tx.NewSelect().Model(&books).Scan(ctx) // wholly on a replica
	})
	if err != nil {
		log.Fatal(err)
	}
}

// ent's SQL driver over the routing *sql.DB; pass it to a generated client
// with ent.Driver(drv).
func Example_ent() {
	rdb := openExample()
	defer rdb.Close()

	drv := entsql.OpenDB(dialect.Postgres, rdb.SQLDB())
	// client := ent.NewClient(ent.Driver(drv))
	ctx := context.Background()
	var rows entsql.Rows
	if err := drv.Query(ctx, "SELECT name FROM users", []any{}, &rows); err != nil { // a replica
		log.Fatal(err)
	}
	rows.Close()
	tx, err := drv.Tx(ctx) // wholly on the primary
	if err != nil {
		log.Fatal(err)
	}
	if err := tx.Exec(ctx, "UPDATE users SET name = $1 WHERE id = $2", []any{"ada", 1}, nil); err != nil {
		log.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		log.Fatal(err)
	}
}

// goose over the routing *sql.DB, under CausalReads: goose reads its
// version table right after writing it, and the application reads the new
// tables the moment Up returns.
func Example_goose() {
	rdb := openExample(replica.CausalReads())
	defer rdb.Close()

	migrations := fstest.MapFS{ // or an embed.FS
		"00001_users.sql": {Data: []byte("-- +goose Up\nCREATE TABLE users (id bigserial PRIMARY KEY, name text);\n")},
	}
	provider, err := goose.NewProvider(goose.DialectPostgres, rdb.SQLDB(), migrations)
	if err != nil {
		log.Fatal(err)
	}
	if _, err := provider.Up(context.Background()); err != nil {
		log.Fatal(err)
	}
	var n int
	err = rdb.SQLDB().QueryRow("SELECT count(*) FROM users").Scan(&n) // the table is there
	if err != nil {
		log.Fatal(err)
	}
}

// otelsql: trace each node's pool, then route over them. Every span lands
// on the node that ran the statement. The dialect is told from the server,
// since the wrapped driver hides it.
func Example_otelsql() {
	primary, err := otelsql.Open("pgx", "postgres://app@primary.internal/app")
	if err != nil {
		log.Fatal(err)
	}
	replica1, err := otelsql.Open("pgx", "postgres://app@replica1.internal/app")
	if err != nil {
		log.Fatal(err)
	}
	rdb, err := replica.New(primary, []*sql.DB{replica1})
	if err != nil {
		log.Fatal(err)
	}
	defer rdb.Close()
	db := rdb.SQLDB() // for any library that takes a *sql.DB
	_ = db
}

// Code sqlc generates with emit_prepared_queries: Prepare on the routing
// *sql.DB prepares each query once; every execution is routed on its own,
// and WithTx runs them in a transaction.
func Example_sqlc() {
	rdb := openExample()
	defer rdb.Close()

	ctx := consistency.WithSession(context.Background())
	queries, err := authors.Prepare(ctx, rdb.SQLDB())
	if err != nil {
		log.Fatal(err)
	}
	defer queries.Close()
	id, err := queries.CreateAuthor(ctx, authors.CreateAuthorParams{Name: "ada"}) // primary
	if err != nil {
		log.Fatal(err)
	}
	if _, err := queries.GetAuthor(ctx, id); err != nil { // sees it
		log.Fatal(err)
	}
	tx, err := rdb.SQLDB().BeginTx(ctx, nil) // wholly on the primary
	if err != nil {
		log.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := queries.WithTx(tx).CreateAuthor(ctx, authors.CreateAuthorParams{Name: "bob"}); err != nil {
		log.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		log.Fatal(err)
	}
}
