package health

import (
	"encoding/json"
	"net/http"
	"time"
)

// Source is anything with a status snapshot; *replica.DB is one.
type Source interface {
	Status() Snapshot
}

// Handler serves src's status as JSON: 200 when a writable primary is known
// (exactly one reachable node reports itself writable), 503 otherwise, for
// load balancers and keepalived-style checks. HEAD answers with the status
// code alone.
func Handler(src Source) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := src.Status()
		code := http.StatusOK
		if !s.WriterKnown || s.SplitBrain {
			code = http.StatusServiceUnavailable
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(code)
		if r.Method == http.MethodHead {
			return
		}
		_ = json.NewEncoder(w).Encode(jsonSnapshot(s))
	})
}

type snapshotJSON struct {
	Primary    string       `json:"primary,omitempty"`
	Writable   bool         `json:"writable_primary"`
	SplitBrain bool         `json:"split_brain"`
	Time       time.Time    `json:"time"`
	Nodes      []statusJSON `json:"nodes"`
}

type statusJSON struct {
	Name        string    `json:"name"`
	Role        string    `json:"role"`
	Healthy     bool      `json:"healthy"`
	Reachable   bool      `json:"reachable"`
	Writable    bool      `json:"writable"`
	Position    string    `json:"position,omitempty"`
	Received    string    `json:"received,omitempty"`
	LagKnown    bool      `json:"lag_known"`
	LagSeconds  float64   `json:"lag_seconds"`
	LagBytes    uint64    `json:"lag_bytes"`
	LatencyMS   float64   `json:"latency_ms"`
	Replication *replJSON `json:"replication,omitempty"`
	LastError   string    `json:"last_error,omitempty"`
	Busy        bool      `json:"busy,omitempty"`
	CheckedAt   time.Time `json:"checked_at"`
	SemiSync    *semiJSON `json:"semi_sync,omitempty"`
}

type semiJSON struct {
	Enabled   bool   `json:"enabled"`
	Active    bool   `json:"active"`
	Clients   int    `json:"clients"`
	UnackedTx uint64 `json:"unacked_tx"`
}

type replJSON struct {
	Receiving bool   `json:"receiving"`
	Applying  bool   `json:"applying"`
	State     string `json:"state,omitempty"`
	Source    string `json:"source,omitempty"`
	LastError string `json:"last_error,omitempty"`
}

func jsonSnapshot(s Snapshot) snapshotJSON {
	out := snapshotJSON{Writable: s.WriterKnown && !s.SplitBrain, SplitBrain: s.SplitBrain, Time: s.Time}
	if s.Writer >= 0 && s.Writer < len(s.Nodes) {
		out.Primary = s.Nodes[s.Writer].Name
	}
	for _, n := range s.Nodes {
		j := statusJSON{
			Name: n.Name, Role: n.Role.String(), Healthy: n.Healthy, Reachable: n.Reachable, Writable: n.Writable,
			Position: n.Position.String(), Received: n.Received.String(), LagKnown: n.Lag.Known,
			LagSeconds: n.Lag.Time.Seconds(), LagBytes: n.Lag.Bytes,
			LatencyMS: float64(n.Latency.Microseconds()) / 1000, LastError: n.LastError, Busy: n.Busy, CheckedAt: n.CheckedAt,
		}
		if n.Replication.Configured {
			j.Replication = &replJSON{Receiving: n.Replication.Receiving, Applying: n.Replication.Applying,
				State: n.Replication.State, Source: n.Replication.Source, LastError: n.Replication.LastError}
		}
		if ss := n.SemiSync; ss != nil {
			j.SemiSync = &semiJSON{Enabled: ss.Enabled, Active: ss.Active, Clients: ss.Clients, UnackedTx: ss.UnackedTx}
		}
		out.Nodes = append(out.Nodes, j)
	}
	return out
}
