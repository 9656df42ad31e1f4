package replica

import (
	"context"
	"time"

	"github.com/sqlreplica/sqlreplica/consistency"
)

// PollInterval is the least time between two position reads of a node
// while reads wait on it.
const PollInterval = pollInterval

// WaitOn makes node i (0: the primary, then the replicas) wait up to d
// until it has applied need, as a read with a token does.
func WaitOn(ctx context.Context, db *DB, i int, need consistency.Token, d time.Duration) bool {
	return db.waitFor(ctx, db.all[i], need, d)
}

// Waiting returns how many reads wait on node i.
func Waiting(db *DB, i int) int {
	n := 0
	for d := range db.all[i].watch {
		w := &db.all[i].watch[d]
		w.mu.Lock()
		n += len(w.waiters)
		w.mu.Unlock()
	}
	return n
}

// SetWatchStall makes db give up a read of a node's applied position after
// d instead of stallAfter.
func SetWatchStall(db *DB, d time.Duration) { db.watchStall = d }
