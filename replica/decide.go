package replica

import "github.com/sqlreplica/sqlreplica/router"

// This file holds the one routing decision. Every entry point (the DB's
// statement methods, BeginTx, Conn, PrepareContext, statements in a Tx on a
// replica) and every fallback (a replica refusing a statement as a write)
// asks decide where a statement goes and what it means for the session;
// nothing else switches on hints, classes or split brain.

// caller is the entry point a statement comes through.
type caller uint8

const (
	callStatement   caller = iota + 1 // DB.ExecContext, QueryContext, QueryRowContext
	callPrepare                       // DB.PrepareContext
	callBegin                         // DB.BeginTx: class is Read for a read-only transaction
	callConn                          // DB.Conn: anything may run on the connection
	callInReplicaTx                   // a statement of a Tx that runs on a replica
	callPinned                        // a statement of a SQLDB connection kept on the primary (see DB.SQLDB)
)

var callerNames = [...]string{"", "statement", "prepare", "begin", "conn", "replica transaction", "pinned connection"}

func (c caller) String() string { return callerNames[c] }

// target is where a decision sends a statement.
type target uint8

const (
	toPrimary target = iota + 1 // the writer
	toReplica                   // a replica, honouring the session or token; the primary as the last resort
	refuse                      // nowhere: the decision's error says why
)

var targetNames = [...]string{"", "primary", "replica", "refused"}

func (t target) String() string { return targetNames[t] }

// reason says why a decision was made.
type reason uint8

const (
	reasonRead               reason = iota + 1 // a read: replicas
	reasonWrite                                // may write, lock or change session state
	reasonRefusedOnReplica                     // a replica refused it as a write: it is one
	reasonHintPrimary                          // WithPrimary
	reasonNoReplicas                           // no replica configured
	reasonAfterWrite                           // the session's PrimaryAfterWrite window
	reasonUnsure                               // where the session's last write landed is not known
	reasonInProgress                           // a write of the session has not completed yet
	reasonReadWriteTx                          // a transaction that is not read-only
	reasonSerializable                         // a read-only SERIALIZABLE transaction on PostgreSQL
	reasonConn                                 // a dedicated connection may run anything
	reasonSplitBrain                           // refused: more than one node accepts writes
	reasonWriteOnReplica                       // refused: a write in a transaction on a replica
	reasonPinned                               // a connection kept on the primary for its session state
	reasonDeclaredOnWritable                   // a read by a function's declaration, and the readers are writable
)

var reasonNames = [...]string{"", "read", "write", "refused as a write by a replica", "WithPrimary",
	"no replicas", "after a write of the session", "session unsure", "write of the session in progress",
	"read-write transaction", "serializable transaction", "connection", "split brain", "write in a replica transaction",
	"pinned connection", "declared read-only, and the readers are writable"}

func (r reason) String() string { return reasonNames[r] }

// decisionInput is everything a routing decision depends on. The caller
// fills it from the context, the statement and the routing view; decide
// reads nothing else.
type decisionInput struct {
	caller caller
	// class is the statement's class; for callBegin, Read for a read-only
	// transaction. Zero counts as Write.
	class router.Kind
	// refused is set when a replica refused the statement as a write.
	refused bool
	// declared: a read only because it calls functions declared read-only
	// (by ReadFunctions or the catalog), whose authors may be wrong.
	declared bool
	// hint is the context's hint (hintNone, hintPrimary, hintReplica).
	hint uint8
	// replicas is true when any replica is configured.
	replicas bool
	// split is true in a split brain.
	split bool
	// serializableOnPG: a read-only SERIALIZABLE transaction on PostgreSQL,
	// which a hot standby cannot run.
	serializableOnPG bool
	// session state, when a session is in the context
	afterWrite, unsure, inProgress bool
	// replicaOnly is the read-your-writes policy's ReplicaOnly, for a read
	// with a session or token.
	replicaOnly bool
	// savepoint: the statement is SAVEPOINT, RELEASE or ROLLBACK TO, which
	// a transaction on a replica may run.
	savepoint bool
	// multiPrimary: the nodes that serve reads are writable (a Galera
	// cluster, MultiPrimary), so no read_only refuses a write that a
	// function's read-only declaration hid.
	multiPrimary bool
}

// mayWrite reports whether the statement is routed as one that may write:
// its class says so, or a replica refused it. A transaction begun with
// WithReplica is routed as a read: it is begun read only, and refuses
// statements that may write.
func (in decisionInput) mayWrite() bool {
	if in.caller == callBegin && in.hint == hintReplica && !in.refused {
		return false
	}
	if in.declared && in.multiPrimary && in.caller == callStatement {
		// A read only by a function's declaration: on writable readers
		// nothing would refuse the write it may hide.
		return true
	}
	return in.class != router.Read || in.refused
}

// decision is where a statement goes and what it means for the session: a
// plain value that can be logged and traced.
type decision struct {
	target target
	reason reason
	// write: the statement counts as a write of the session (its position is
	// recorded) and is refused in a split brain.
	write bool
	// isolate: on a replica, the read runs on a connection of its own that
	// is closed, not pooled, if the statement fails, so that whatever a
	// misdeclared function did to the session (a lock taken before it was
	// refused) dies with it.
	isolate bool
}

// decide is the routing decision. Its rules, in order:
//
//  1. A statement that may write, lock or change session state runs on the
//     primary as a write, whatever the hint: WithReplica never sends it to
//     a replica. On writable readers (Galera, MultiPrimary), a statement
//     that is a read only because a function is declared read-only is one
//     too: nothing there would refuse the write the declaration may hide. In a transaction on a replica it is refused, never sent.
//     A transaction begun with WithReplica is routed as a read-only one.
//  2. A write, a transaction that is not read-only, and a dedicated
//     connection are refused in a split brain: none is sent to any node.
//  3. WithPrimary, no replicas, or a session whose reads must see something
//     only the primary is known to have, send a read to the primary; reads
//     are never refused in a split brain (they run on the last writer).
//     With a ReplicaOnly policy, a read that only the primary could serve
//     (an unsure session, a write in progress) is refused instead.
//  4. Every other read goes to the replicas, honouring the session.
//
// A statement of a connection kept on the primary (callPinned) runs there,
// as a write when it may write (refused in a split brain); one in a
// transaction on a replica is refused when it may write, unless it is a
// savepoint's.
func decide(in decisionInput) decision {
	// The common cases, first.
	switch in {
	case decisionInput{caller: callStatement, class: router.Read, replicas: true}:
		return decision{target: toReplica, reason: reasonRead}
	case decisionInput{caller: callStatement, class: router.Write, replicas: true}:
		return decision{target: toPrimary, reason: reasonWrite, write: true}
	}
	write := in.mayWrite()
	if in.caller == callInReplicaTx {
		if write && !in.savepoint {
			return decision{target: refuse, reason: reasonWriteOnReplica}
		}
		return decision{target: toReplica, reason: reasonRead, isolate: in.declared}
	}
	if in.caller == callPinned {
		// Its connection keeps session state on the primary: everything runs
		// there, and what may write is refused in a split brain.
		if write && in.split {
			return decision{target: refuse, reason: reasonSplitBrain, write: true}
		}
		return decision{target: toPrimary, reason: reasonPinned, write: write}
	}
	// Only a statement that runs isolates: preparing runs no function, and a
	// statement prepared on a connection of its own would die with it.
	isolate := in.declared && in.caller == callStatement
	var r reason
	switch {
	case in.caller == callConn:
		r = reasonConn
	case in.refused:
		r = reasonRefusedOnReplica
	case write && in.class == router.Read:
		r = reasonDeclaredOnWritable
	case write && in.caller == callBegin:
		r = reasonReadWriteTx
	case write:
		r = reasonWrite
	}
	if r != 0 {
		if in.split {
			return decision{target: refuse, reason: reasonSplitBrain, write: true}
		}
		return decision{target: toPrimary, reason: r, write: in.caller != callConn && in.caller != callPrepare}
	}
	switch {
	case in.hint == hintPrimary:
		r = reasonHintPrimary
	case !in.replicas:
		r = reasonNoReplicas
	case in.serializableOnPG:
		r = reasonSerializable
	case in.inProgress:
		r = reasonInProgress
	case in.unsure:
		r = reasonUnsure
	case in.afterWrite:
		r = reasonAfterWrite
	}
	if in.replicaOnly && (r == reasonInProgress || r == reasonUnsure) {
		// Only the primary could serve it, and the policy forbids that.
		return decision{target: refuse, reason: r}
	}
	if r != 0 {
		return decision{target: toPrimary, reason: r}
	}
	return decision{target: toReplica, reason: reasonRead, isolate: isolate}
}
