package router

import (
	"math/rand/v2"
	"sync/atomic"
	"time"
)

// Candidate is a replica a [Balancer] may pick for a read.
type Candidate struct {
	Name string
	// Weight is the replica's share for [Weighted]: 1 to [MaxWeight].
	// [Weighted] reads a weight below 1 as 1 and one above MaxWeight as
	// MaxWeight.
	Weight int
	// Latency is a moving average of the replica's health checks' round
	// trips.
	Latency time.Duration
	// Lag is the replica's lag behind the primary in time, and LagBytes in
	// bytes of WAL or transactions, when LagKnown.
	Lag      time.Duration
	LagBytes uint64
	LagKnown bool
	// InFlight counts the statements running on the replica now, for
	// balancers that use it (see [UsesInFlight]). It is never nil.
	InFlight *atomic.Int64
}

// Balancer chooses the replica a read goes to. Pick returns the index in
// cands (never empty) of the replica to try first; if it cannot serve, the
// others are tried in order after it. Pick must not modify or keep cands,
// must be safe for concurrent use, and should neither allocate nor lock: it
// runs on every read.
type Balancer interface {
	Pick(cands []Candidate) int
}

// RoundRobin returns a Balancer that takes the replicas in turn. It is the
// default.
func RoundRobin() Balancer { return &roundRobin{} }

type roundRobin struct{ n atomic.Uint64 }

func (b *roundRobin) Pick(c []Candidate) int {
	return int(uint32(b.n.Add(1)-1) % uint32(len(c))) // 32-bit division is cheaper
}

// Random returns a Balancer that picks a replica uniformly at random.
func Random() Balancer { return random{} }

type random struct{}

func (random) Pick(c []Candidate) int { return rand.IntN(len(c)) }

// LeastInFlight returns a Balancer that picks the replica running the
// fewest statements, the first of them on a tie.
func LeastInFlight() Balancer { return leastInFlight{} }

type leastInFlight struct{}

func (leastInFlight) Pick(c []Candidate) int {
	best, min := 0, c[0].InFlight.Load()
	for i := 1; i < len(c); i++ {
		if n := c[i].InFlight.Load(); n < min {
			best, min = i, n
		}
	}
	return best
}

// LowestLatency returns a Balancer that picks the replica whose health
// checks answer fastest on average.
func LowestLatency() Balancer { return lowestLatency{} }

type lowestLatency struct{}

func (lowestLatency) Pick(c []Candidate) int {
	best := 0
	for i := 1; i < len(c); i++ {
		if c[i].Latency < c[best].Latency {
			best = i
		}
	}
	return best
}

// LowestLag returns a Balancer that picks the replica least behind the
// primary; a replica whose lag is unknown comes last.
func LowestLag() Balancer { return lowestLag{} }

type lowestLag struct{}

func (lowestLag) Pick(c []Candidate) int {
	best := 0
	for i := 1; i < len(c); i++ {
		if c[i].LagKnown && (!c[best].LagKnown || c[i].Lag < c[best].Lag) {
			best = i
		}
	}
	return best
}

// MaxWeight is the largest weight [Weighted] tells apart: 1<<20.
const MaxWeight = 1 << 20

// Weighted returns a Balancer that picks a replica at random in proportion
// to its weight, read as at least 1 and at most [MaxWeight], so that any
// weights, huge, zero or negative, give a pick and never a panic.
func Weighted() Balancer { return weighted{} }

type weighted struct{}

// weight is c's weight clamped to 1..MaxWeight.
func (c *Candidate) weight() uint64 {
	return uint64(min(max(c.Weight, 1), MaxWeight))
}

func (weighted) Pick(c []Candidate) int {
	// At most MaxWeight (2^20) per candidate: the sum overflows a uint64
	// only past 2^44 candidates.
	var total uint64
	for i := range c {
		total += c[i].weight()
	}
	r := rand.Uint64N(total)
	for i := range c {
		w := c[i].weight()
		if r < w {
			return i
		}
		r -= w
	}
	return len(c) - 1
}

// UsesInFlight reports whether b reads Candidate.InFlight, so that callers
// count statements in flight only when it does. It is false for this
// package's balancers other than [LeastInFlight], true for any other
// Balancer.
func UsesInFlight(b Balancer) bool {
	switch b.(type) {
	case *roundRobin, random, lowestLatency, lowestLag, weighted:
		return false
	}
	return true
}
