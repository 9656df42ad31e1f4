package replica

// FunctionVerdict reports what db has learnt of a function from the
// primary's catalog: whether a lookup has settled, and whether it found the
// function read-only.
func FunctionVerdict(db *DB, name string) (settled, readOnly bool) {
	db.funcs.mu.Lock()
	defer db.funcs.mu.Unlock()
	v, ok := db.funcs.verdicts[name]
	return ok && !v.pending, v.readOnly
}
