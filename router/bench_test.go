package router_test

import (
	"testing"

	"github.com/sqlreplica/sqlreplica/router"
)

// benchSelect is a representative 200-byte SELECT.
var benchSelect = func() string {
	q := "SELECT u.id, u.name, u.email, o.total, o.status FROM users AS u JOIN orders AS o ON o.user_id = u.id " +
		"WHERE u.id = $1 AND o.status IN ('new', 'paid') ORDER BY o.created_at DESC LIMIT 20"
	for len(q) < 200 {
		q += " "
	}
	return q
}()

func BenchmarkClassify(b *testing.B) {
	pg, _ := router.NewClassifier(router.PostgreSQL, router.Functions{})
	my, _ := router.NewClassifier(router.MySQL, router.Functions{})
	cases := []struct {
		name string
		c    *router.Classifier
		q    string
	}{
		{"Select200/Dialect=postgresql", pg, benchSelect},
		{"Select200/Dialect=mysql", my, benchSelect},
		{"Select200/Dialect=unknown", &router.Classifier{}, benchSelect},
		{"Insert/Dialect=postgresql", pg, "INSERT INTO users (name, email) VALUES ($1, $2) RETURNING id"},
		{"CTE/Dialect=postgresql", pg, "WITH recent AS (SELECT * FROM orders WHERE created_at > now() - interval '1 day') SELECT user_id, count(*) FROM recent GROUP BY user_id"},
		{"ForUpdate/Dialect=mysql", my, "SELECT * FROM accounts WHERE id = ? FOR UPDATE"},
	}
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(bc.q)))
			for b.Loop() {
				_ = bc.c.Classify(bc.q)
			}
		})
	}
}
