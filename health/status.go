package health

import (
	"time"

	"github.com/sqlreplica/sqlreplica/consistency"
)

// Role is what a node reports itself to be.
type Role uint8

const (
	// Primary is a node that accepts writes.
	Primary Role = iota + 1
	// Replica is a read-only node.
	Replica
)

// String returns "primary", "replica" or "unknown".
func (r Role) String() string {
	switch r {
	case Primary:
		return "primary"
	case Replica:
		return "replica"
	}
	return "unknown"
}

// Lag is how far a replica is behind the primary.
type Lag struct {
	// Time is how long ago the primary first reached a position the replica
	// has not applied yet: zero when the replica has applied everything the
	// primary had at the last check. Its resolution is the check interval.
	Time time.Duration
	// Bytes is the WAL the replica has not replayed (PostgreSQL), or the
	// transactions it has not applied (MySQL, MariaDB).
	Bytes uint64
	// Known is false when the lag cannot be measured (the primary or the
	// replica did not answer, or their positions cannot be compared).
	// Unknown lag is never treated as fresh.
	Known bool
}

// Replication is the state of a replica's replication from its source.
type Replication struct {
	// Configured is true when the node replicates from a source.
	Configured bool
	// Receiving and Applying report the receiving and applying threads
	// (MySQL/MariaDB IO and SQL threads; PostgreSQL's WAL receiver, when
	// the monitoring role may see it, and replay not paused).
	Receiving bool
	Applying  bool
	// State is the server's own word ("streaming", "Yes/Yes", …), if any.
	State string
	// LastError is the replication error the server reports (MySQL and
	// MariaDB Last_IO_Error and Last_SQL_Error). Replication errors are
	// reported, never skipped.
	LastError string
	// Source is the source's address as the replica reports it, if known.
	Source string
}

// Status is what the last checks found about one node.
type Status struct {
	// Name identifies the node in logs, errors and events.
	Name string
	// Role is the role the node last reported (zero until known).
	Role Role
	// Healthy is true when the node is in rotation: it answered enough
	// checks in a row and no connection to it has failed since.
	Healthy bool
	// Reachable is true when the last check got an answer.
	Reachable bool
	// Writable is true when the node last reported that it accepts writes.
	Writable bool
	// Position is the node's replication position: where the primary has
	// written to, or what a replica has applied.
	Position consistency.Token
	// Received is what a replica has received but perhaps not applied
	// (PostgreSQL receive LSN); zero if unknown.
	Received consistency.Token
	// Lag is the replica's lag behind the primary (zero for the primary).
	Lag Lag
	// Latency is a moving average of the checks' round trips (the last one
	// weighs 30%).
	Latency time.Duration
	// Replication is the replica's replication state.
	Replication Replication
	// LastError is the error of the last failed check or connection, if the
	// node is not healthy. It never holds text from a connection string: an
	// error from parsing one reads "invalid connection string (details
	// redacted)"; connection errors keep the address dialled.
	LastError string
	// Busy is true when the last check could not get a connection before
	// its timeout because the application held every connection of the
	// node's pool ([Node.Check] avoids it). Such a check changes neither
	// Healthy nor Reachable.
	Busy bool
	// CheckedAt is when the node was last checked; zero if never.
	CheckedAt time.Time
	// SemiSync is the node's semi-synchronous replication state (MySQL and
	// MariaDB); nil when the node has none to report: PostgreSQL, an
	// unknown dialect, MySQL without the semi-sync plugins, or a node not
	// checked successfully yet. It is shared with the snapshot: read it,
	// never modify it.
	SemiSync *SemiSyncStatus
	// Galera is the node's Galera state, as its last successful check read
	// it; nil for a node that is not a Galera node (wsrep_on is off) or has
	// not been checked with a known dialect yet.
	Galera *GaleraStatus
}

// SemiSyncStatus is a MySQL or MariaDB node's semi-synchronous replication
// state, as its last successful check found it. MariaDB has semi-sync built
// in (10.3+), so a MariaDB node always reports one; MySQL reports one once
// the semisync_source or semisync_replica plugin is installed.
//
// The status variables (Active, Clients and the counters) are read only
// when one side is enabled: they are zero otherwise.
type SemiSyncStatus struct {
	// Enabled is true when semi-synchronous replication is switched on for
	// the node's role: on a primary, as a source
	// (rpl_semi_sync_master_enabled; MySQL rpl_semi_sync_source_enabled);
	// on a replica, as a replica (rpl_semi_sync_slave_enabled; MySQL
	// rpl_semi_sync_replica_enabled).
	Enabled bool
	// Active is true when it runs now. On a primary: commits wait for a
	// replica's acknowledgement (Rpl_semi_sync_master_status, MySQL
	// Rpl_semi_sync_source_status). A primary that is Enabled but not Active
	// fell back to asynchronous replication (no acknowledgement came within
	// Timeout, or no semi-sync replica is connected): a commit it
	// acknowledges now may be on no replica. The [SemiSyncFallback] and
	// [SemiSyncResumed] events report the changes. On a replica: its
	// receiving thread acknowledges what it receives
	// (Rpl_semi_sync_slave_status, MySQL Rpl_semi_sync_replica_status).
	Active bool
	// SourceEnabled and ReplicaEnabled are each side's switch, whatever the
	// node's role: setups that may promote any node turn both on everywhere.
	SourceEnabled, ReplicaEnabled bool
	// Clients is the number of semi-synchronous replicas connected to the
	// node as a source (Rpl_semi_sync_master_clients).
	Clients int
	// Timeout is how long a source's commit waits for an acknowledgement
	// before the source falls back to asynchronous replication
	// (rpl_semi_sync_master_timeout).
	Timeout time.Duration
	// WaitPoint is when a source's commit waits: "AFTER_SYNC" (before the
	// commit is visible) or "AFTER_COMMIT" (rpl_semi_sync_master_wait_point).
	WaitPoint string
	// AckedTx and UnackedTx count the commits a source made since it
	// started with and without a replica's acknowledgement
	// (Rpl_semi_sync_master_yes_tx and _no_tx). UnackedTx growing means
	// commits ran asynchronously, even when the fallback ended before a
	// check could see it.
	AckedTx, UnackedTx uint64
}

// GaleraStatus is a Galera node's state, from its wsrep status variables.
// It is immutable once published.
//
// A Galera node serves (is in rotation) only while Ready, ClusterStatus is
// "Primary" (the node is in the quorum component) and LocalState is 4
// (Synced); a Donor or Desynced node (LocalState 2) serves reads only when
// [Config].ServeDesynced says so, and never takes writes. A node that
// answers its checks but does not serve is reachable, not healthy, and its
// LastError says why.
type GaleraStatus struct {
	// LocalState is wsrep_local_state: 1 Joining, 2 Donor/Desynced,
	// 3 Joined, 4 Synced.
	LocalState int
	// LocalStateComment is wsrep_local_state_comment ("Synced", "Donor/Desynced", …).
	LocalStateComment string
	// ClusterStatus is wsrep_cluster_status: "Primary" in the quorum
	// component, "non-Primary" or "Disconnected" otherwise.
	ClusterStatus string
	// ClusterSize is wsrep_cluster_size: the nodes in the node's component.
	ClusterSize int
	// ClusterStateUUID is wsrep_cluster_state_uuid: nodes that report the
	// same one form one cluster.
	ClusterStateUUID string
	// Ready is wsrep_ready: the node accepts queries.
	Ready bool
	// Connected is wsrep_connected.
	Connected bool
	// FlowControlPaused is wsrep_flow_control_paused: the fraction of time
	// since the last FLUSH STATUS that replication was paused by flow
	// control (0 to 1).
	FlowControlPaused float64
	// RecvQueue is wsrep_local_recv_queue: write sets received and not yet
	// applied.
	RecvQueue int64
	// LastCommitted is wsrep_last_committed: the sequence number of the
	// last write set the node committed.
	LastCommitted int64
}

// Synced reports whether the node may take writes and serve reads:
// ready, in the quorum component and Synced.
func (g *GaleraStatus) Synced() bool {
	return g != nil && g.Ready && g.ClusterStatus == "Primary" && g.LocalState == 4
}

// servesReads reports whether the node may serve reads: Synced, or Donor
// or Desynced (state 2) in the quorum component when desynced is set. why
// says what keeps it out.
func (g *GaleraStatus) servesReads(desynced bool) (ok bool, why string) {
	switch {
	case !g.Ready:
		return false, "galera: node not ready (wsrep_ready OFF)"
	case g.ClusterStatus != "Primary":
		return false, "galera: node not in the quorum component (wsrep_cluster_status " + g.ClusterStatus + ")"
	case g.LocalState == 4, desynced && g.LocalState == 2:
		return true, ""
	}
	return false, "galera: node not synced (" + g.LocalStateComment + ")"
}

// Snapshot is the state of every node after a round of checks. A Snapshot
// is immutable once published: share it, never modify it.
type Snapshot struct {
	// Nodes holds one Status per node, in the order the nodes were given.
	Nodes []Status
	// Writer is the index in Nodes of the node writes go to: the one node
	// that reports itself writable, or the last one that did. -1 when none
	// ever has.
	Writer int
	// WriterKnown is true when exactly one reachable node reports itself
	// writable.
	WriterKnown bool
	// SplitBrain is true when more than one reachable node reports itself
	// writable: writes are refused until only one does. Galera nodes that
	// report the same cluster state UUID are one cluster, not a split brain,
	// and so are the writable nodes under [Config].MultiPrimary; two Galera
	// clusters, or a Galera node and another writable node, are, and so are
	// several Primary components of one cluster (more of its nodes in a
	// Primary component than any of them counts: a node bootstrapped apart).
	SplitBrain bool
	// MultiPrimary is true when several writable nodes are expected and
	// one of them is Writer: the nodes of one Galera cluster, or the
	// writable nodes under [Config].MultiPrimary. Writer is then a stable
	// choice: it stays while it is healthy (and, on Galera, Synced); when
	// it stops, the node given as primary takes over if it qualifies, else
	// the first qualifying node in the order given. The other healthy
	// writable nodes serve reads.
	MultiPrimary bool
	// Time is when the snapshot was taken.
	Time time.Time
}
