package replica

import (
	"slices"

	"github.com/sqlreplica/sqlreplica/router"
)

// FunctionVerdict reports what db has learnt of a function from the
// primary's catalog: whether a lookup has settled, and whether it found the
// function read-only.
func FunctionVerdict(db *DB, name string) (settled, readOnly bool) {
	db.funcs.mu.Lock()
	defer db.funcs.mu.Unlock()
	v, ok := db.funcs.verdicts[name]
	return ok && !v.pending, v.readOnly
}

// KnownWriter reports whether the last scan of the primary's catalog for
// user functions that may write named name: the classifier then takes its
// calls for writes without a lookup.
func KnownWriter(db *DB, name string) bool {
	db.funcs.mu.Lock()
	defer db.funcs.mu.Unlock()
	return slices.Contains(db.funcs.writers, name)
}

// WriterScans reports how many scans of the primary's catalog for user
// functions that may write have settled.
func WriterScans(db *DB) int {
	db.funcs.mu.Lock()
	defer db.funcs.mu.Unlock()
	return db.funcs.scans
}

// ClassifyFor classifies query with db's current classifier, as routing
// does.
func ClassifyFor(db *DB, query string) router.Kind {
	k, _ := db.cls.Load().classify(query)
	return k
}
