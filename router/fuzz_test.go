package router_test

import (
	"testing"

	"github.com/sqlreplica/sqlreplica/internal/corpus"
	"github.com/sqlreplica/sqlreplica/router"
)

// FuzzClassify checks properties that hold for every input:
//   - Classify never panics;
//   - Read without a dialect implies Read under each dialect;
//   - a Read statement followed by a line break and a write is a Write: no
//     input can leave the lexer inside a string, identifier or block comment
//     and still be called a read;
//   - a comment before a statement does not change its class.
func FuzzClassify(f *testing.F) {
	for _, tc := range corpus.Cases {
		f.Add(tc.SQL)
	}
	for _, tc := range readingCases {
		f.Add(tc.query)
	}
	for _, tc := range readCases {
		f.Add(tc.query)
	}
	pg, _ := router.NewClassifier(router.PostgreSQL, router.Functions{})
	my, _ := router.NewClassifier(router.MySQL, router.Functions{})
	cs := []*router.Classifier{pg, my, {}}
	f.Fuzz(func(t *testing.T, q string) {
		if router.Classify(q) == router.Read {
			if pg.Classify(q) != router.Read || my.Classify(q) != router.Read {
				t.Fatalf("no-dialect Read but a dialect says Write: %q", q)
			}
		}
		for _, c := range cs {
			k := c.Classify(q)
			if k != router.Read && k != router.Write {
				t.Fatalf("%v: Classify(%q) = %v", c.Dialect(), q, k)
			}
			if k == router.Read {
				if got := c.Classify(q + "\n;DELETE FROM t"); got != router.Write {
					t.Fatalf("%v: %q is Read, but with a DELETE appended it is %v", c.Dialect(), q, got)
				}
			}
			if got := c.Classify("/* c */ " + q); got != k {
				t.Fatalf("%v: a leading comment changed %q from %v to %v", c.Dialect(), q, k, got)
			}
		}
	})
}
