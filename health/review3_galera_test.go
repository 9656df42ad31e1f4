package health_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sqlreplica/sqlreplica/health"
)

// TestReview3SecondPrimaryComponentIsSplitBrain: a node bootstrapped apart
// from the quorum (pc.bootstrap) keeps the cluster state UUID but forms a
// Primary component of its own; three nodes in Primary components of at
// most two are two clusters taking writes apart: a split brain, as
// Snapshot.SplitBrain documents for two Galera clusters. A node joining
// (it counts three while the others still count two) is not.
func TestReview3SecondPrimaryComponentIsSplitBrain(t *testing.T) {
	tests := []struct {
		name  string
		sizes []string
		split bool
	}{
		{"bootstrapped apart: 2+1", []string{"2", "2", "1"}, true},
		{"every node bootstrapped apart", []string{"1", "1", "1"}, true},
		{"one component of three", []string{"3", "3", "3"}, false},
		{"a node joining, seen before the others' view change", []string{"2", "2", "3"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeNodes(t, len(tt.sizes))
			for i, size := range tt.sizes {
				v := galeraVars("u1")
				v["wsrep_cluster_size"] = size
				f.servers[i].SetVars(v)
			}
			c := newMariaChecker(t, f, health.Config{})
			s := c.Check(context.Background())
			require.Equal(t, tt.split, s.SplitBrain)
			require.Equal(t, !tt.split, s.MultiPrimary)
		})
	}
}
