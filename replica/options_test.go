package replica_test

import (
	"database/sql"
	"errors"
	"log/slog"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sqlreplica/sqlreplica/consistency"
	"github.com/sqlreplica/sqlreplica/health"
	"github.com/sqlreplica/sqlreplica/internal/fakedb"
	"github.com/sqlreplica/sqlreplica/replica"
	"github.com/sqlreplica/sqlreplica/router"
)

// TestEveryOptionValidates passes every option good and bad values, over a
// primary and two replicas (issue 7, item 13): a bad value is an error
// wrapping ErrBadOption from New; every value an option's doc shows as valid
// is accepted.
func TestEveryOptionValidates(t *testing.T) {
	p := fakedb.NewServer("p").DB()
	r1 := fakedb.NewServer("r1").DB()
	r2 := fakedb.NewServer("r2").DB()
	t.Cleanup(func() { p.Close(); r1.Close(); r2.Close() })
	tests := []struct {
		name string
		opt  replica.Option
		ok   bool
	}{
		{"ReadYourWrites default", replica.ReadYourWrites(consistency.Policy{}), true},
		{"ReadYourWrites no wait", replica.ReadYourWrites(consistency.Policy{Wait: -1, ReplicaOnly: true}), true},
		{"NodeNames", replica.NodeNames("db-1", "db-2", "db-3"), true},
		{"NodeNames too few", replica.NodeNames("a", "b"), false},
		{"NodeNames too many", replica.NodeNames("a", "b", "c", "d"), false},
		{"NodeNames empty", replica.NodeNames("a", "", "c"), false},
		{"NodeNames duplicate", replica.NodeNames("a", "b", "a"), false},
		{"NodeNames none", replica.NodeNames(), false},
		{"Dialect PostgreSQL", replica.Dialect(router.PostgreSQL), true},
		{"Dialect MySQL", replica.Dialect(router.MySQL), true},
		{"Dialect MariaDB", replica.Dialect(router.MariaDB), true},
		{"Dialect zero", replica.Dialect(0), false},
		{"Dialect unknown", replica.Dialect(99), false},
		{"WriteFunctions", replica.WriteFunctions("audit_event"), true},
		{"WriteFunctions qualified, as its doc shows", replica.WriteFunctions("app.next_invoice_number"), true},
		{"WriteFunctions garbage", replica.WriteFunctions("drop table;"), false},
		{"WriteFunctions empty", replica.WriteFunctions(""), false},
		{"ReadFunctions", replica.ReadFunctions("order_total", "app.order_total"), true},
		{"ReadFunctions garbage", replica.ReadFunctions("a.b.c"), false},
		{"Logger", replica.Logger(slog.New(slog.DiscardHandler)), true},
		{"Logger nil discards", replica.Logger(nil), true},
		{"CheckInterval", replica.CheckInterval(time.Second), true},
		{"CheckInterval zero", replica.CheckInterval(0), false},
		{"CheckInterval negative", replica.CheckInterval(-1), false},
		{"CheckTimeout", replica.CheckTimeout(time.Millisecond), true},
		{"CheckTimeout zero", replica.CheckTimeout(0), false},
		{"CheckTimeout negative", replica.CheckTimeout(-time.Second), false},
		{"Hysteresis", replica.Hysteresis(1, 1), true},
		{"Hysteresis large", replica.Hysteresis(5, 10), true},
		{"Hysteresis negative fall", replica.Hysteresis(-1, 0), false},
		{"Hysteresis zero fall", replica.Hysteresis(0, 2), false},
		{"Hysteresis zero rise", replica.Hysteresis(2, 0), false},
		{"Hysteresis negative rise", replica.Hysteresis(2, -3), false},
		{"MaxLag zero is no limit", replica.MaxLag(0), true},
		{"MaxLag", replica.MaxLag(5 * time.Second), true},
		{"MaxLag negative", replica.MaxLag(-5), false},
		{"MaxLagBytes zero", replica.MaxLagBytes(0), true},
		{"MaxLagBytes", replica.MaxLagBytes(1 << 20), true},
		{"WhenAllLag primary", replica.WhenAllLag(replica.FallbackPrimary), true},
		{"WhenAllLag least lagging", replica.WhenAllLag(replica.FallbackLeastLagging), true},
		{"WhenAllLag zero", replica.WhenAllLag(0), false},
		{"WhenAllLag unknown", replica.WhenAllLag(99), false},
		{"Balance", replica.Balance(router.Weighted()), true},
		{"Balance nil", replica.Balance(nil), false},
		{"Weights", replica.Weights(1, 3), true},
		{"Weights fewer than replicas", replica.Weights(2), true},
		{"Weights more than replicas", replica.Weights(1, 2, 3), false},
		{"Weights zero", replica.Weights(1, 0), false},
		{"Weights negative", replica.Weights(-1), false},
		{"Weights MaxWeight", replica.Weights(router.MaxWeight, 1), true},
		{"Weights above MaxWeight", replica.Weights(router.MaxWeight+1, 1), false},
		{"Weights MaxInt", replica.Weights(math.MaxInt, 1), false},
		{"LagAlert zero is off", replica.LagAlert(0), true},
		{"LagAlert", replica.LagAlert(time.Second), true},
		{"LagAlert negative", replica.LagAlert(-time.Second), false},
		{"OnEvent", replica.OnEvent(func(health.Event) {}), true},
		{"OnEvent nil", replica.OnEvent(nil), false},
		{"CheckPools", replica.CheckPools(p, nil, r2), true},
		{"CheckPools too few", replica.CheckPools(p), false},
		{"CheckPools none", replica.CheckPools(), false},
		{"FailoverPolicy manual", replica.FailoverPolicy(replica.FailoverConfig{Nodes: fnodes(3)}), true},
		{"FailoverPolicy automatic", replica.FailoverPolicy(replica.FailoverConfig{After: time.Second, CatchUp: time.Second,
			Nodes: fnodes(3)}), true},
		{"FailoverPolicy negative After", replica.FailoverPolicy(replica.FailoverConfig{After: -1, Nodes: fnodes(3)}), false},
		{"FailoverPolicy negative CatchUp", replica.FailoverPolicy(replica.FailoverConfig{CatchUp: -1, Nodes: fnodes(3)}), false},
		{"FailoverPolicy empty Host", replica.FailoverPolicy(replica.FailoverConfig{Nodes: withNode(fnodes(3), 1, "", 5432)}), false},
		{"FailoverPolicy NUL in Host", replica.FailoverPolicy(replica.FailoverConfig{Nodes: withNode(fnodes(3), 2, "h\x00", 5432)}), false},
		{"FailoverPolicy Port zero", replica.FailoverPolicy(replica.FailoverConfig{Nodes: withNode(fnodes(3), 0, "h", 0)}), false},
		{"FailoverPolicy Port negative", replica.FailoverPolicy(replica.FailoverConfig{Nodes: withNode(fnodes(3), 1, "h", -1)}), false},
		{"FailoverPolicy Port 65536", replica.FailoverPolicy(replica.FailoverConfig{Nodes: withNode(fnodes(3), 1, "h", 65536)}), false},
		{"FailoverPolicy Port 70000", replica.FailoverPolicy(replica.FailoverConfig{Nodes: withNode(fnodes(3), 2, "h", 70000)}), false},
		{"FailoverPolicy Port 1 and 65535", replica.FailoverPolicy(replica.FailoverConfig{
			Nodes: withNode(withNode(fnodes(3), 1, "h", 1), 2, "h", 65535)}), true},
		{"FailoverPolicy zero nodes", replica.FailoverPolicy(replica.FailoverConfig{Nodes: make([]health.FailoverNode, 3)}), false},
		{"FailoverPolicy wrong node count", replica.FailoverPolicy(replica.FailoverConfig{Nodes: fnodes(2)}), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db, err := replica.New(p, []*sql.DB{r1, r2}, tt.opt)
			if tt.ok {
				require.NoError(t, err)
				require.NoError(t, db.Close())
				return
			}
			require.Error(t, err)
			require.True(t, errors.Is(err, replica.ErrBadOption), "%v does not wrap ErrBadOption", err)
			t.Log(err)
		})
	}
}

// fnodes returns n fail-over nodes with usable addresses.
func fnodes(n int) []health.FailoverNode {
	out := make([]health.FailoverNode, n)
	for i := range out {
		out[i] = health.FailoverNode{Host: "127.0.0.1", Port: 5432 + i}
	}
	return out
}

// withNode sets node i of nodes to host:port and returns nodes.
func withNode(nodes []health.FailoverNode, i int, host string, port int) []health.FailoverNode {
	nodes[i].Host, nodes[i].Port = host, port
	return nodes
}
