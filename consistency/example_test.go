package consistency_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"time"

	"github.com/sqlreplica/sqlreplica/consistency"
	"github.com/sqlreplica/sqlreplica/replica"
)

// Read your own writes through a session: the write records where it
// landed, and the read goes to a replica that has it (or waits for one, or
// goes to the primary).
func ExampleWithSession() {
	db, err := replica.Open("pgx", "postgres://app@primary.internal/app",
		[]string{"postgres://app@replica1.internal/app"})
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	ctx := consistency.WithSession(context.Background())
	if _, err := db.ExecContext(ctx, "UPDATE users SET name = $1 WHERE id = $2", "ada", 42); err != nil {
		log.Fatal(err)
	}
	var name string
	if err := db.QueryRowContext(ctx, "SELECT name FROM users WHERE id = $1", 42).Scan(&name); err != nil {
		log.Fatal(err)
	}
	// name is "ada", whichever node served the read.

	// The token can travel to another request or service...
	tok := consistency.SessionFrom(ctx).Token().String()
	// ...which honours it.
	t, err := consistency.ParseToken(tok)
	if err != nil {
		log.Fatal(err)
	}
	ctx2 := consistency.WithToken(context.Background(), t)
	_ = db.QueryRowContext(ctx2, "SELECT name FROM users WHERE id = $1", 42).Scan(&name)
}

// The middleware gives each request a session that starts from the token
// the client sent, and sends the newest token back as a header and a cookie.
func ExampleMiddleware() {
	db, err := replica.Open("pgx", "postgres://app@primary.internal/app",
		[]string{"postgres://app@replica1.internal/app"})
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	mux := http.NewServeMux()
	mux.HandleFunc("POST /profile", func(w http.ResponseWriter, r *http.Request) {
		_, _ = db.ExecContext(r.Context(), "UPDATE users SET name = $1 WHERE id = $2", r.FormValue("name"), 42)
	})
	mux.HandleFunc("GET /profile", func(w http.ResponseWriter, r *http.Request) {
		var name string
		_ = db.QueryRowContext(r.Context(), "SELECT name FROM users WHERE id = $1", 42).Scan(&name)
		fmt.Fprintln(w, name) // the name just saved, even when a replica serves it
	})
	srv := &http.Server{Addr: ":8080", Handler: consistency.Middleware(mux), ReadHeaderTimeout: 5 * time.Second}
	_ = srv // srv.ListenAndServe()
}

func ExampleParseToken() {
	tok, err := consistency.ParseToken("mariadb:0-1-7_1-2-9")
	if err != nil {
		log.Fatal(err)
	}
	applied, _ := consistency.MariaDBToken("0-1-8,1-2-9")
	behind, _ := consistency.MariaDBToken("0-1-6,1-2-9")
	fmt.Println(tok.GTID())
	fmt.Println(applied.Covers(tok), behind.Covers(tok))
	// Output:
	// 0-1-7,1-2-9
	// true false
}
