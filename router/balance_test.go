package router_test

import (
	"math"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sqlreplica/sqlreplica/router"
)

func candidates(n int) []router.Candidate {
	c := make([]router.Candidate, n)
	for i := range c {
		c[i] = router.Candidate{Name: string(rune('a' + i)), Weight: 1, InFlight: new(atomic.Int64), LagKnown: true}
	}
	return c
}

func TestBalancers(t *testing.T) {
	c := candidates(3)
	rr := router.RoundRobin()
	require.Equal(t, []int{0, 1, 2, 0}, []int{rr.Pick(c), rr.Pick(c), rr.Pick(c), rr.Pick(c)})

	c[0].InFlight.Store(5)
	c[1].InFlight.Store(2)
	c[2].InFlight.Store(3)
	require.Equal(t, 1, router.LeastInFlight().Pick(c))

	c[0].Latency, c[1].Latency, c[2].Latency = 3*time.Millisecond, 2*time.Millisecond, time.Millisecond
	require.Equal(t, 2, router.LowestLatency().Pick(c))

	c[0].Lag, c[1].Lag, c[2].Lag = time.Second, 0, 0
	c[1].LagKnown = false
	require.Equal(t, 2, router.LowestLag().Pick(c), "unknown lag comes last")

	seen := map[int]int{}
	for i := 0; i < 3000; i++ {
		seen[router.Random().Pick(c)]++
	}
	require.Len(t, seen, 3)

	c[0].Weight, c[1].Weight, c[2].Weight = 8, 1, 1
	seen = map[int]int{}
	for i := 0; i < 5000; i++ {
		seen[router.Weighted().Pick(c)]++
	}
	require.Greater(t, seen[0], 3*seen[1], "weight 8 against weight 1: %v", seen)

	require.False(t, router.UsesInFlight(router.RoundRobin()))
	require.True(t, router.UsesInFlight(router.LeastInFlight()))
}

// BenchmarkPick measures the balancers' pick on 1, 4 and 16 replicas under
// parallel clients: no allocation, no lock.
func BenchmarkPick(b *testing.B) {
	for _, bal := range []struct {
		name string
		b    router.Balancer
	}{{"RoundRobin", router.RoundRobin()}, {"LeastInFlight", router.LeastInFlight()}, {"LowestLag", router.LowestLag()}, {"Weighted", router.Weighted()}} {
		for _, n := range []int{1, 4, 16} {
			c := candidates(n)
			b.Run(bal.name+"/Replicas="+itoa(n)+"/Clients=parallel", func(b *testing.B) {
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						_ = bal.b.Pick(c)
					}
				})
			})
		}
	}
}

func itoa(n int) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return string(rune('0'+n/10)) + string(rune('0'+n%10))
}

// TestWeightedNeverPanics passes weights whose sum overflows an int, zero
// and negative weights straight to Weighted: every pick is an index in
// range, weights are clamped to 1..MaxWeight, and no input panics.
func TestWeightedNeverPanics(t *testing.T) {
	for _, tt := range []struct {
		name    string
		weights []int
		want    int // index that must win most picks, or -1
	}{
		{"two MaxInt", []int{math.MaxInt, math.MaxInt}, -1},
		{"MaxInt and 1", []int{math.MaxInt, 1}, 0},
		{"MinInt and MaxInt", []int{math.MinInt, math.MaxInt}, 1},
		{"zero", []int{0, 0, 0}, -1},
		{"negative", []int{-1, -5, math.MinInt}, -1},
		{"one", []int{math.MaxInt}, 0},
		{"many MaxInt", slices.Repeat([]int{math.MaxInt}, 1000), -1},
		{"above MaxWeight reads as MaxWeight", []int{router.MaxWeight * 4, router.MaxWeight}, -1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := make([]router.Candidate, len(tt.weights))
			for i, w := range tt.weights {
				c[i] = router.Candidate{Weight: w, InFlight: new(atomic.Int64)}
			}
			seen := map[int]int{}
			require.NotPanics(t, func() {
				for range 2000 {
					seen[router.Weighted().Pick(c)]++
				}
			})
			for i, n := range seen {
				require.True(t, i >= 0 && i < len(c), "pick %d out of range", i)
				if tt.want >= 0 && i != tt.want {
					require.Less(t, n, 20, "weights %v: %v", tt.weights[:min(len(tt.weights), 3)], seen)
				}
			}
			if tt.want < 0 && len(c) == 2 {
				require.Greater(t, seen[1], 500, "equal clamped weights must share: %v", seen)
			}
		})
	}
}
