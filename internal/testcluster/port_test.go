package testcluster

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestFreePortNeverRepeats: a port is handed out once per process, even
// while no server has bound it yet, and below the ephemeral range.
func TestFreePortNeverRepeats(t *testing.T) {
	seen := map[int]bool{}
	for range 200 {
		p, err := freePort()
		require.NoError(t, err)
		require.False(t, seen[p], "port %d handed out twice", p)
		seen[p] = true
		require.GreaterOrEqual(t, p, portFloor)
	}
}
