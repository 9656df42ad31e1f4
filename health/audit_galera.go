package health

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/sqlreplica/sqlreplica/internal/dbvars"
)

// auditGalera flags a Galera node's risky settings.
func auditGalera(n Status, s map[string]string) []Finding {
	var out []Finding
	add := func(setting string, sev Severity, advice string) {
		out = append(out, Finding{Node: n.Name, Setting: setting, Value: s[setting], Severity: sev, Advice: advice})
	}
	if v, ok := s["binlog_format"]; ok && !strings.EqualFold(v, "ROW") {
		add("binlog_format", Critical, "Galera replicates row events only: set binlog_format = ROW")
	}
	if v, ok := s["innodb_autoinc_lock_mode"]; ok && v != "2" {
		add("innodb_autoinc_lock_mode", Critical, "Galera needs innodb_autoinc_lock_mode = 2 (interleaved): other modes can deadlock or diverge")
	}
	if v, ok := s["wsrep_sync_wait"]; ok && v != "" && v != "0" {
		add("wsrep_sync_wait", Warning, "set globally, every statement on the node waits for causality; leave it 0 and let sessions ask (read-your-writes waits for their own writes)")
	}
	if _, ok := s["wsrep_gtid_mode"]; ok && !dbvars.On(s, "wsrep_gtid_mode") {
		add("wsrep_gtid_mode", Warning, "without wsrep_gtid_mode the nodes' GTIDs differ: sessions' reads cannot be matched to a node that has their writes and go to the writer")
	}
	return out
}

// auditGaleraCluster flags what concerns a Galera cluster as a whole: an
// even size, and nodes that disagree on the cluster state UUID.
func auditGaleraCluster(snap Snapshot) []Finding {
	var out []Finding
	uuids := map[string][]string{}
	var order []string
	sizeBy := ""
	size := 0
	for _, n := range snap.Nodes {
		g := n.Galera
		if g == nil || !n.Reachable {
			continue
		}
		if _, ok := uuids[g.ClusterStateUUID]; !ok {
			order = append(order, g.ClusterStateUUID)
		}
		uuids[g.ClusterStateUUID] = append(uuids[g.ClusterStateUUID], n.Name)
		if g.ClusterStatus == "Primary" && g.ClusterSize > size {
			size, sizeBy = g.ClusterSize, n.Name
		}
	}
	if len(uuids) > 1 {
		var parts []string
		for _, u := range order {
			parts = append(parts, fmt.Sprintf("%s: %s", u, strings.Join(uuids[u], ", ")))
		}
		out = append(out, Finding{Node: "", Setting: "wsrep_cluster_state_uuid", Value: strings.Join(parts, "; "), Severity: Critical,
			Advice: "the nodes belong to different Galera clusters (or histories): writes are refused as a split brain until they agree"})
	}
	if size > 0 && size%2 == 0 {
		out = append(out, Finding{Node: sizeBy, Setting: "wsrep_cluster_size", Value: strconv.Itoa(size), Severity: Warning,
			Advice: "an even cluster has no majority after a 50/50 partition: add a node or a Galera arbitrator (garbd)"})
	}
	return out
}

// autoIncrement is one writable node's auto-increment settings.
type autoIncrement struct{ node, increment, offset string }

// auditAutoIncrement flags writable nodes of a multi-primary set whose
// auto-increment settings let two of them hand out the same id: an
// increment smaller than the number of nodes, different increments, or two
// offsets equal modulo the increment.
func auditAutoIncrement(nodes []autoIncrement) []Finding {
	if len(nodes) < 2 {
		return nil
	}
	type setting struct{ inc, off uint64 }
	vals := make([]setting, len(nodes))
	for i, n := range nodes {
		inc, err1 := strconv.ParseUint(n.increment, 10, 64)
		off, err2 := strconv.ParseUint(n.offset, 10, 64)
		if err1 != nil || err2 != nil || inc == 0 {
			inc, off = 1, 1
		}
		if off > inc {
			off = 1 // the server ignores an offset above the increment
		}
		vals[i] = setting{inc, off % inc}
	}
	var out []Finding
	flag := func(i int, why string) {
		out = append(out, Finding{Node: nodes[i].node, Setting: "auto_increment_increment",
			Value: fmt.Sprintf("increment %s, offset %s", nodes[i].increment, nodes[i].offset), Severity: Critical,
			Advice: why + ": give every writable node the same auto_increment_increment (at least the number of nodes) and its own auto_increment_offset"})
	}
	for i := range vals {
		if vals[i].inc < uint64(len(nodes)) {
			flag(i, fmt.Sprintf("an increment below the number of writable nodes (%d) lets them hand out the same ids", len(nodes)))
			continue
		}
		for j := 0; j < i; j++ {
			switch {
			case vals[i].inc != vals[j].inc:
				flag(i, "its increment differs from "+nodes[j].node+"'s, so their ids can collide")
			case vals[i].off == vals[j].off:
				flag(i, "its offset is "+nodes[j].node+"'s, so both hand out the same ids")
			default:
				continue
			}
			break
		}
	}
	return out
}
