package replica

import "errors"

var (
	// ErrClosed is returned by every method of a [DB] after [DB.Close].
	ErrClosed = errors.New("replica: database is closed")
	// ErrNilPool is returned by [New] for a nil primary or replica pool.
	ErrNilPool = errors.New("replica: nil pool")
	// ErrSplitBrain is returned while more than one node reports itself
	// writable, for every statement that may write: a write, a statement a
	// replica refused as a write, a transaction that is not read-only, and
	// [DB.Conn]. Writing to either node could make them diverge, so such
	// statements are refused until only one node is writable; none was sent
	// to a writable node. Reads are not refused.
	ErrSplitBrain = errors.New("replica: split brain: more than one node accepts writes; the statement was not sent to any of them")
	// ErrWriteOnReplica is returned for a statement that may write, lock or
	// change session state in a transaction that runs on a replica (a
	// read-only transaction, or one begun with [WithReplica]). It was not
	// sent.
	ErrWriteOnReplica = errors.New("replica: a statement that may write cannot run in a transaction on a replica; it was not sent")
	// ErrReadOnlyPrimary is wrapped by the error of a write that the node
	// taken for the primary refused as read-only (it was demoted, or another
	// node was promoted). The write was not applied and is safe to retry once
	// the checks have found the new primary, which they start at once.
	ErrReadOnlyPrimary = errors.New("replica: the primary refused the write as read-only; it was not applied and is safe to retry")
	// ErrWriterNotServing is wrapped by the error of a write that the
	// writer refused because it does not serve: a Galera node that left
	// the quorum component or is not synced ("WSREP has not yet prepared
	// node for application use"). The write was not applied and is safe to
	// retry: the node has left rotation and writes move to another serving
	// node at once. A write whose connection failed is never wrapped in
	// it: it may have been applied.
	ErrWriterNotServing = errors.New("replica: the writer does not serve (a Galera node out of the quorum or not synced); the write was not applied and is safe to retry")
)

// NodeError is an error from one node, named as [NodeNames] says, or
// "primary" and "replicaN" (N counting from 1 in the order the replicas were
// given). errors.Is and errors.As see the driver's error through it.
type NodeError struct {
	Node string
	Err  error
}

func (e *NodeError) Error() string { return "replica: " + e.Node + ": " + e.Err.Error() }

// Unwrap returns the node's error.
func (e *NodeError) Unwrap() error { return e.Err }
