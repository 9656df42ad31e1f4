package replica

import "time"

// SetSpareIdle makes the spare connections of db's routing *sql.DB wait d
// unused before they go back to their pools, instead of a few
// milliseconds: a test can then act on a connection while it is a spare.
func SetSpareIdle(db *DB, d time.Duration) {
	for _, n := range db.all {
		n.spare.mu.Lock()
		n.spare.wait = d
		n.spare.mu.Unlock()
	}
}
