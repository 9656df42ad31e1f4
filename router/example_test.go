package router_test

import (
	"fmt"

	"github.com/sqlreplica/sqlreplica/router"
)

func ExampleClassify() {
	for _, q := range []string{
		"SELECT * FROM users WHERE id = $1",
		"select 1 -- ; DELETE FROM users",
		"SELECT * FROM users WHERE id = $1 FOR UPDATE",
		"WITH d AS (DELETE FROM users RETURNING *) SELECT count(*) FROM d",
		"SELECT 1; DROP TABLE users",
		"",
	} {
		fmt.Println(router.Classify(q))
	}
	// Output:
	// read
	// read
	// write
	// write
	// write
	// write
}

func ExampleClassifier_Explain() {
	c, err := router.NewClassifier(router.PostgreSQL, router.Functions{Write: []string{"audit_event"}})
	if err != nil {
		panic(err)
	}
	for _, q := range []string{
		"SELECT name FROM users",
		"SELECT * FROM jobs FOR UPDATE SKIP LOCKED",
		"SELECT nextval('invoice_numbers')",
		"SELECT app.audit_event('login')",
		"SELECT app.order_total(42)",
	} {
		d := c.Explain(q)
		if d.Reason == router.ReasonUnknownFunction {
			fmt.Printf("%s: %s: %s\n", d.Kind, d.Reason, d.Function)
			continue
		}
		fmt.Printf("%s: %s\n", d.Kind, d.Reason)
	}
	// Output:
	// read: read
	// write: locking read
	// write: function that writes or locks
	// write: function that writes or locks
	// write: function not known to be read-only: app.order_total
}
