package replica

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/sqlreplica/sqlreplica/internal/corpus"
	"github.com/sqlreplica/sqlreplica/router"
)

// TestClassCacheIsAlwaysRight fills the cache far past its size with
// statements built at run time (so equal texts have different addresses and
// different texts collide), from many goroutines, and checks every answer
// against the classifier.
func TestClassCacheIsAlwaysRight(t *testing.T) {
	cls, err := router.NewClassifier(router.PostgreSQL, router.Functions{})
	if err != nil {
		t.Fatal(err)
	}
	c := newClassCache(cls)
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 3*cacheSlots; i++ {
				tc := corpus.Cases[(i*7+g)%len(corpus.Cases)]
				q := strings.Clone(tc.SQL)
				if i%3 == 0 {
					q = fmt.Sprintf("%s -- %d", tc.SQL, i)
				}
				got, declared := c.classify(q)
				if want := cls.Explain(q); got != want.Kind || declared != want.Declared {
					t.Errorf("cache says %v/%v for %q, classifier %+v", got, declared, q, want)
					return
				}
			}
		}()
	}
	wg.Wait()
	long := "SELECT 1" + strings.Repeat(" ", cacheMaxQuery) + "; DELETE FROM t"
	if k, _ := c.classify(long); k != router.Write {
		t.Error("long statement misclassified")
	}
}
