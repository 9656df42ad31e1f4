package replica

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sqlreplica/sqlreplica/router"
)

// TestDecideEveryCombination walks every combination of the decision's
// inputs and checks the rules the library promises, whatever the path:
// a statement that may write never goes to a replica, statements that may
// write are refused in a split brain and reads are not, a replica
// transaction refuses writes, and hints, sessions and policies only move
// reads.
func TestDecideEveryCombination(t *testing.T) {
	t.Parallel() // no server at all
	bools := []bool{false, true}
	n := 0
	for c := callStatement; c <= callPinned; c++ {
		for _, cls := range []router.Kind{0, router.Read, router.Write} {
			for _, refused := range bools {
				for hint := hintNone; hint <= hintReplica; hint++ {
					for _, replicas := range bools {
						for _, split := range bools {
							for _, ser := range bools {
								for _, after := range bools {
									for _, unsure := range bools {
										for _, inProg := range bools {
											for _, ro := range bools {
												for _, declared := range bools {
													for _, sp := range bools {
														for _, multi := range bools {
															in := decisionInput{caller: c, class: cls, refused: refused, hint: hint,
																replicas: replicas, split: split, serializableOnPG: ser,
																afterWrite: after, unsure: unsure, inProgress: inProg, replicaOnly: ro,
																declared: declared, savepoint: sp, multiPrimary: multi}
															checkDecision(t, in, decide(in))
															n++
														}
													}
												}
											}
										}
									}
								}
							}
						}
					}
				}
			}
		}
	}
	t.Logf("%d combinations", n)
}

func checkDecision(t *testing.T, in decisionInput, d decision) {
	t.Helper()
	mayWrite := in.class != router.Read || in.refused
	if in.caller == callBegin && in.hint == hintReplica && !in.refused {
		mayWrite = false // a transaction begun with WithReplica is routed as a read
	}
	if in.declared && in.multiPrimary && in.caller == callStatement {
		mayWrite = true // nothing on writable readers refuses a write a declaration hid
	}
	where := fmt.Sprintf("%+v → %s (%s)", in, d.target, d.reason)
	require.NotZero(t, d.target, where)
	require.NotZero(t, d.reason, where)
	require.NotEmpty(t, d.reason.String(), where)
	if d.target == refuse {
		require.Error(t, refusal(d), where)
	}
	// A read that relies on a declared function runs on a replica on a
	// connection of its own (in a transaction: the transaction's is closed
	// at its end); nothing else needs one.
	require.Equal(t, d.target == toReplica && in.declared && (in.caller == callStatement || in.caller == callInReplicaTx),
		d.isolate, where)
	switch {
	case in.caller == callPinned:
		// A connection kept on the primary runs everything there, as a
		// write when it may write; a write is refused in a split brain.
		if mayWrite && in.split {
			require.Equal(t, decision{target: refuse, reason: reasonSplitBrain, write: true}, d, where)
		} else {
			require.Equal(t, decision{target: toPrimary, reason: reasonPinned, write: mayWrite}, d, where)
		}
	case in.caller == callInReplicaTx:
		if mayWrite && !in.savepoint {
			require.Equal(t, decision{target: refuse, reason: reasonWriteOnReplica}, d, where)
		} else {
			require.Equal(t, toReplica, d.target, where)
		}
	case mayWrite || in.caller == callConn:
		// Rule 1: never a replica, whatever the hint; refused in a split brain.
		if in.split {
			require.Equal(t, decision{target: refuse, reason: reasonSplitBrain, write: true}, d, where)
		} else {
			require.Equal(t, toPrimary, d.target, where)
			require.Equal(t, in.caller == callStatement || in.caller == callBegin, d.write,
				"statements and transactions that may write are the session's writes: %s", where)
		}
	default: // a read
		require.False(t, d.write, where)
		onlyPrimary := in.hint == hintPrimary || !in.replicas || in.serializableOnPG ||
			in.afterWrite || in.unsure || in.inProgress
		switch {
		case onlyPrimary && in.replicaOnly && in.hint != hintPrimary && in.replicas && !in.serializableOnPG &&
			(in.unsure || in.inProgress):
			require.Equal(t, refuse, d.target, "a ReplicaOnly read that only the primary could serve: %s", where)
			require.ErrorContains(t, refusal(d), "not replicated", where)
		case onlyPrimary:
			require.Equal(t, toPrimary, d.target, where)
		default:
			require.Equal(t, toReplica, d.target, where)
		}
		require.NotEqual(t, reasonSplitBrain, d.reason, "reads are never refused in a split brain: %s", where)
	}
}

// TestDecideTable spells out the decisions a reader looks for first.
func TestDecideTable(t *testing.T) {
	tests := []struct {
		name string
		in   decisionInput
		want decision
	}{
		{"a read goes to a replica", decisionInput{caller: callStatement, class: router.Read, replicas: true},
			decision{target: toReplica, reason: reasonRead}},
		{"a write goes to the primary and is the session's", decisionInput{caller: callStatement, class: router.Write, replicas: true},
			decision{target: toPrimary, reason: reasonWrite, write: true}},
		{"WithReplica cannot send a write to a replica", decisionInput{caller: callStatement, class: router.Write, hint: hintReplica, replicas: true},
			decision{target: toPrimary, reason: reasonWrite, write: true}},
		{"a read a replica refused is a write", decisionInput{caller: callStatement, class: router.Read, refused: true, replicas: true},
			decision{target: toPrimary, reason: reasonRefusedOnReplica, write: true}},
		{"a read a replica refused is refused in a split brain", decisionInput{caller: callStatement, class: router.Read, refused: true, replicas: true, split: true},
			decision{target: refuse, reason: reasonSplitBrain, write: true}},
		{"a read is not refused in a split brain", decisionInput{caller: callStatement, class: router.Read, hint: hintPrimary, replicas: true, split: true},
			decision{target: toPrimary, reason: reasonHintPrimary}},
		{"a read-write transaction is refused in a split brain", decisionInput{caller: callBegin, class: router.Write, replicas: true, split: true},
			decision{target: refuse, reason: reasonSplitBrain, write: true}},
		{"a connection goes to the primary", decisionInput{caller: callConn, class: router.Write, hint: hintReplica, replicas: true},
			decision{target: toPrimary, reason: reasonConn}},
		{"a prepared write is not a session write", decisionInput{caller: callPrepare, class: router.Write, replicas: true},
			decision{target: toPrimary, reason: reasonWrite}},
		{"a read in the after-write window", decisionInput{caller: callStatement, class: router.Read, replicas: true, afterWrite: true},
			decision{target: toPrimary, reason: reasonAfterWrite}},
		{"a read while a write is in progress", decisionInput{caller: callStatement, class: router.Read, replicas: true, inProgress: true},
			decision{target: toPrimary, reason: reasonInProgress}},
		{"a replica-only read of an unsure session", decisionInput{caller: callStatement, class: router.Read, replicas: true, unsure: true, replicaOnly: true},
			decision{target: refuse, reason: reasonUnsure}},
		{"a write in a replica transaction", decisionInput{caller: callInReplicaTx, class: router.Write},
			decision{target: refuse, reason: reasonWriteOnReplica}},
		{"an unclassified statement is a write", decisionInput{caller: callStatement, replicas: true},
			decision{target: toPrimary, reason: reasonWrite, write: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, decide(tt.in))
		})
	}
}
