package replica

import (
	"sync/atomic"
	"unsafe"

	"github.com/sqlreplica/sqlreplica/router"
)

// classCache remembers the class of recent statements so that the hot path
// does not lex the same query text again. Applications pass the same string
// constants over and over; a slot is chosen by the address of the string's
// bytes, and a hit is confirmed by comparing the whole string (which is
// immediate when the two share their bytes), so a hit is always right. An
// entry keeps its string alive, so its address cannot be reused meanwhile.
// Missing costs one small allocation; a hit costs none.
//
// A statement that calls a function the classifier does not know
// ([router.ReasonUnknownFunction]) remembers the function's name, and every
// classification of it, hit or miss, passes the name to learn (when set),
// which must not block.
type classCache struct {
	cls   *router.Classifier
	learn func(name string)
	slots [cacheSlots]atomic.Pointer[cacheEntry]
}

const (
	cacheSlots    = 512
	cacheMaxQuery = 4 << 10 // longer statements are classified every time
)

type cacheEntry struct {
	query string
	kind  router.Kind
	fn    string // the unknown function, if any
	// declared: a read only because it calls functions declared read-only
	// (router.Decision.Declared).
	declared bool
	// changes: a statement that may write may also change its connection's
	// session state (changesSession); set for every class but Read.
	changes bool
}

func newClassCache(cls *router.Classifier) *classCache { return &classCache{cls: cls} }

// classify returns query's class, and whether a Read relies on functions
// declared read-only (see router.Decision.Declared).
func (c *classCache) classify(query string) (router.Kind, bool) {
	if len(query) == 0 || len(query) > cacheMaxQuery {
		e := c.explain(query)
		return e.kind, e.declared
	}
	slot := c.slot(query)
	if e := slot.Load(); e != nil && e.query == query {
		if e.fn != "" && c.learn != nil {
			c.learn(e.fn)
		}
		return e.kind, e.declared
	}
	e := c.explain(query)
	slot.Store(&e)
	return e.kind, e.declared
}

// slot is where query's entry is kept.
func (c *classCache) slot(query string) *atomic.Pointer[cacheEntry] {
	p := uintptr(unsafe.Pointer(unsafe.StringData(query)))
	return &c.slots[(p>>4^p>>13^uintptr(len(query)))%cacheSlots]
}

// changesSession is changesSession(query), from the cache when query's
// entry is there.
func (c *classCache) changesSession(query string) bool {
	if len(query) > 0 && len(query) <= cacheMaxQuery {
		if e := c.slot(query).Load(); e != nil && e.query == query && e.kind != router.Read {
			return e.changes
		}
	}
	return changesSession(query)
}

// explain classifies query and passes an unknown function to learn.
func (c *classCache) explain(query string) cacheEntry {
	d := c.cls.Explain(query)
	e := cacheEntry{query: query, kind: d.Kind, declared: d.Declared}
	if d.Kind != router.Read {
		e.changes = changesSession(query)
	}
	if d.Reason == router.ReasonUnknownFunction && d.Function != "" {
		e.fn = d.Function
		if c.learn != nil {
			c.learn(e.fn)
		}
	}
	return e
}
