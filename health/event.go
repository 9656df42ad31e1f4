package health

import (
	"log/slog"
	"time"
)

// EventKind names what happened to a node.
type EventKind uint8

const (
	// NodeDown: the node left rotation (checks failed, or a connection to
	// it failed).
	NodeDown EventKind = iota + 1
	// NodeUp: the node came back into rotation.
	NodeUp
	// RoleChange: the node reports another role (a promotion, a demotion).
	RoleChange
	// LagHigh: the replica's lag went over the alert threshold.
	LagHigh
	// LagNormal: the replica's lag came back under the alert threshold.
	LagNormal
	// SplitBrain: more than one node reports itself writable.
	SplitBrain
	// SplitBrainOver: only one node reports itself writable again.
	SplitBrainOver
	// ReplicationError: the replica reports a replication error.
	ReplicationError
	// FailedOver: the fail-over helper promoted a replica.
	FailedOver
	// FailoverFailed: the fail-over helper refused or failed to promote.
	FailoverFailed
	// SemiSyncFallback: a primary with semi-synchronous replication enabled
	// fell back to asynchronous replication (see [SemiSyncStatus.Active]):
	// commits it acknowledges may be on no replica. It also fires, followed
	// at once by SemiSyncResumed, when a primary's count of unacknowledged
	// commits grew between two checks that both found it semi-synchronous:
	// a fallback shorter than the check interval.
	SemiSyncFallback
	// SemiSyncResumed: a primary that fell back is no longer asynchronous;
	// Detail says why: it runs semi-synchronously again, semi-sync was
	// switched off, or the node is no longer the primary.
	SemiSyncResumed
	// GaleraStateChange: a Galera node's local state, cluster status or
	// cluster size changed (also sent when a node is first seen to be a
	// Galera node). Its Detail reads "Synced, cluster Primary of 3 →
	// Donor/Desynced, cluster Primary of 3".
	GaleraStateChange
)

var eventNames = [...]string{
	NodeDown: "node down", NodeUp: "node up", RoleChange: "role change", LagHigh: "lag high",
	LagNormal: "lag normal", SplitBrain: "split brain", SplitBrainOver: "split brain over",
	ReplicationError: "replication error", FailedOver: "failed over", FailoverFailed: "fail-over failed",
	SemiSyncFallback: "semi-sync fallback", SemiSyncResumed: "semi-sync resumed",
	GaleraStateChange: "galera state change",
}

// String names the kind.
func (k EventKind) String() string {
	if int(k) < len(eventNames) && k != 0 {
		return eventNames[k]
	}
	return "unknown"
}

// Event is a change the checker saw. It never holds a password or a DSN.
type Event struct {
	Kind   EventKind
	Node   string // empty for SplitBrain and SplitBrainOver
	Time   time.Time
	Role   Role          // the node's role after the event
	Lag    time.Duration // LagHigh and LagNormal
	Detail string        // the error, or what changed
}

func (e Event) level() slog.Level {
	switch e.Kind {
	case NodeDown, LagHigh, ReplicationError, FailedOver, SemiSyncFallback:
		return slog.LevelWarn
	case SplitBrain, FailoverFailed:
		return slog.LevelError
	}
	return slog.LevelInfo
}
