package health

import (
	"fmt"
	"strings"
)

// writerChoice is where writes go after a round, and why.
type writerChoice struct {
	writer int  // index in the snapshot's nodes; the previous writer when none qualifies
	known  bool // a writer qualifies
	split  bool // writable nodes that must not all take writes
	multi  bool // several writable nodes are expected (Galera, MultiPrimary)
	detail string
}

// chooseWriter is the one place that decides which node takes writes and
// whether the writable nodes are a split brain, from the nodes' statuses,
// the previous writer prev, the node given as primary (given, -1 if none)
// and whether several writable nodes are declared (multiPrimary).
//
// Writable nodes are those reachable and reporting themselves writable,
// but for Galera nodes outside the quorum component (they refuse every
// statement). One writable node is the writer, as it always was. Several
// are a split brain, unless they are one Galera cluster (one cluster state
// UUID, and no more nodes in a Primary component than the largest
// component counts: else a node was bootstrapped apart and the cluster
// has several Primary components) or multiPrimary is set: then the writer is a stable choice among
// the healthy ones (Synced, on Galera): prev while it qualifies, else the
// node given as primary, else the first in the order given. It moves only
// when the writer stops qualifying, never back when an earlier node
// returns: each move costs certification conflicts on Galera, and on a
// master-master pair a write racing its own replication.
func chooseWriter(nodes []Status, prev, given int, multiPrimary bool) writerChoice {
	ch := writerChoice{writer: prev}
	var writable []int
	for i, s := range nodes {
		if !s.Reachable || !s.Writable {
			continue
		}
		if s.Galera != nil && s.Galera.ClusterStatus != "Primary" {
			continue
		}
		writable = append(writable, i)
	}
	if len(writable) == 0 {
		return ch
	}
	galera, clusters, plain := 0, map[string]bool{}, 0
	for _, i := range writable {
		if g := nodes[i].Galera; g != nil {
			galera++
			clusters[g.ClusterStateUUID] = true
		} else {
			plain++
		}
	}
	oneCluster := galera > 0 && len(clusters) == 1 && !clusters[""]
	largest := largestComponent(nodes, writable)
	switch {
	case galera > 0 && len(clusters) > 1:
		ch.split = true
		ch.detail = fmt.Sprintf("%d Galera clusters (cluster state UUIDs %s) accept writes; writes are refused", len(clusters), uuids(nodes, writable))
		return ch
	case largest > 0 && galera > largest:
		// More nodes in a Primary component than any of them counts in
		// its own: a node bootstrapped (pc.bootstrap) apart from the
		// quorum, keeping the cluster state UUID. The components take
		// writes apart and never see each other's.
		ch.split = true
		ch.detail = fmt.Sprintf("%d Galera nodes of cluster %s are in a Primary component of at most %d: several Primary components accept writes; writes are refused",
			galera, uuids(nodes, writable), largest)
		return ch
	case multiPrimary || oneCluster && plain == 0:
		ch.multi = true
	case len(writable) == 1:
		ch.writer, ch.known = writable[0], true
		return ch
	default:
		ch.split = true
		ch.detail = fmt.Sprintf("%d nodes report themselves writable; writes are refused", len(writable))
		return ch
	}
	qualifies := func(i int) bool {
		if i < 0 || i >= len(nodes) || !nodes[i].Reachable || !nodes[i].Writable || !nodes[i].Healthy {
			return false
		}
		g := nodes[i].Galera
		return g == nil || g.Synced()
	}
	switch {
	case qualifies(prev):
		ch.writer, ch.known = prev, true
	case qualifies(given):
		ch.writer, ch.known = given, true
	default:
		for _, i := range writable {
			if qualifies(i) {
				ch.writer, ch.known = i, true
				break
			}
		}
	}
	return ch
}

// largestComponent returns the largest cluster size the Galera nodes
// among idx report for their component.
func largestComponent(nodes []Status, idx []int) int {
	n := 0
	for _, i := range idx {
		if g := nodes[i].Galera; g != nil {
			n = max(n, g.ClusterSize)
		}
	}
	return n
}

func uuids(nodes []Status, idx []int) string {
	var out []string
	seen := map[string]bool{}
	for _, i := range idx {
		if g := nodes[i].Galera; g != nil && !seen[g.ClusterStateUUID] {
			seen[g.ClusterStateUUID] = true
			out = append(out, g.ClusterStateUUID)
		}
	}
	return strings.Join(out, ", ")
}

// galeraLag measures Galera node s's lag as its apply backlog against
// writer w of the same cluster: the write sets it has received and not
// applied (wsrep_local_recv_queue), or how far its last committed write
// set is behind the writer's, whichever is more. It is never unknown for a
// reachable node of the writer's cluster.
func (c *Checker) galeraLag(s *Status, w *Status) {
	g, wg := s.Galera, w.Galera
	if g == nil || wg == nil || !s.Reachable || g.ClusterStateUUID != wg.ClusterStateUUID {
		return
	}
	backlog := max(g.RecvQueue, wg.LastCommitted-g.LastCommitted, 0)
	if !s.Lag.Known {
		// Positions could not be compared (wsrep_gtid_mode off): the
		// backlog alone tells; a node with one is taken to be a check
		// interval behind.
		s.Lag = Lag{Known: true}
		if backlog > 0 {
			s.Lag.Time = c.cfg.Interval
		}
	}
	s.Lag.Bytes = uint64(backlog)
}

// galeraChange returns the event for a Galera node whose state changed
// from was to now (local state, cluster status or size).
func galeraChange(was, now *GaleraStatus) (Event, bool) {
	if now == nil || was != nil && was.LocalStateComment == now.LocalStateComment &&
		was.ClusterStatus == now.ClusterStatus && was.ClusterSize == now.ClusterSize {
		return Event{}, false
	}
	d := fmt.Sprintf("%s, cluster %s of %d", now.LocalStateComment, now.ClusterStatus, now.ClusterSize)
	if was != nil {
		d = fmt.Sprintf("%s, cluster %s of %d → %s", was.LocalStateComment, was.ClusterStatus, was.ClusterSize, d)
	}
	return Event{Kind: GaleraStateChange, Detail: d}, true
}
