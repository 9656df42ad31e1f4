package benchreal

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// queryCount is what one server ran between [benchEnv.reset] and
// [benchEnv.counts], by pg_stat_statements, classified by the queries'
// text.
type queryCount struct {
	stmt   int64 // everything else: the clients' statements
	pos    int64 // position reads: the primary's insert position or a standby's replay position
	replay int64 // of pos, the replay-position reads (pg_last_wal_replay_lsn)
	probe  int64 // health probes (pg_is_in_recovery)
}

func (c queryCount) total() int64 { return c.stmt + c.pos + c.probe }

// classify adds calls runs of query to c.
func (c *queryCount) classify(query string, calls int64) {
	switch {
	case strings.Contains(query, "pg_is_in_recovery"):
		c.probe += calls
	case strings.Contains(query, "pg_last_wal_replay_lsn"):
		c.pos += calls
		c.replay += calls
	case strings.Contains(query, "pg_current_wal_insert_lsn"):
		c.pos += calls
	default:
		c.stmt += calls
	}
}

// reset clears pg_stat_statements on every server.
func (e *benchEnv) reset(b *testing.B) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i, a := range e.admin {
		if _, err := a.ExecContext(ctx, "SELECT pg_stat_statements_reset()"); err != nil {
			b.Fatalf("%s: pg_stat_statements_reset: %v", e.c.Servers()[i].Name, err)
		}
	}
}

// counts returns what each server (primary first) ran since the last
// reset, leaving out the queries on pg_stat_statements themselves.
func (e *benchEnv) counts(b *testing.B) []queryCount {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out := make([]queryCount, len(e.admin))
	for i, a := range e.admin {
		rows, err := a.QueryContext(ctx, "SELECT query, calls FROM pg_stat_statements WHERE query NOT LIKE '%pg_stat_statements%'")
		if err != nil {
			b.Fatalf("%s: pg_stat_statements: %v", e.c.Servers()[i].Name, err)
		}
		for rows.Next() {
			var q string
			var calls int64
			if err := rows.Scan(&q, &calls); err != nil {
				rows.Close()
				b.Fatal(err)
			}
			out[i].classify(q, calls)
		}
		if err := rows.Err(); err != nil {
			b.Fatal(err)
		}
		rows.Close()
	}
	return out
}

func sumTotal(cs []queryCount) int64 {
	return sumOf(cs, queryCount.total)
}

func sumOf(cs []queryCount, f func(queryCount) int64) int64 {
	var n int64
	for _, c := range cs {
		n += f(c)
	}
	return n
}

// percentile returns the p-th quantile of d (sorted in place).
func percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	i := int(p * float64(len(d)))
	if i >= len(d) {
		i = len(d) - 1
	}
	return d[i]
}

// result is one BenchmarkClients64 line's figures.
type result struct {
	Pools, Load      string
	N                int
	PerSec           float64
	P50, P99         time.Duration
	Primary, Replica float64 // queries per client statement, all kinds
	Pos, Probe       float64 // position reads and health probes per client statement, every server
}

// resultSet keeps, for each benchmark line, the measured result of each
// of its runs (-count): b.N grows within a run, so a result with a b.N no
// larger than the last one's starts a new run, and a larger one replaces
// the last (a calibration round's).
type resultSet struct {
	mu sync.Mutex // guards m
	m  map[string][]result
}

func (s *resultSet) add(r result) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string][]result{}
	}
	k := r.Pools + "/" + r.Load
	if runs := s.m[k]; len(runs) > 0 && r.N > runs[len(runs)-1].N {
		runs[len(runs)-1] = r
		return
	}
	s.m[k] = append(s.m[k], r)
}

func (s *resultSet) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}

// get returns the result of pools and load, if any: the median of its
// runs, figure by figure, and how many runs there were.
func (s *resultSet) get(pools, load string) (result, int, bool) {
	s.mu.Lock()
	runs := append([]result(nil), s.m[pools+"/"+load]...)
	s.mu.Unlock()
	if len(runs) == 0 {
		return result{}, 0, false
	}
	med := func(f func(result) float64) float64 {
		v := make([]float64, len(runs))
		for i, r := range runs {
			v[i] = f(r)
		}
		sort.Float64s(v)
		return v[len(v)/2]
	}
	r := runs[0]
	r.PerSec = med(func(r result) float64 { return r.PerSec })
	r.P50 = time.Duration(med(func(r result) float64 { return float64(r.P50) }))
	r.P99 = time.Duration(med(func(r result) float64 { return float64(r.P99) }))
	r.Primary = med(func(r result) float64 { return r.Primary })
	r.Replica = med(func(r result) float64 { return r.Replica })
	r.Pos = med(func(r result) float64 { return r.Pos })
	r.Probe = med(func(r result) float64 { return r.Probe })
	return r, len(runs), true
}

// print writes BenchmarkClients64's figures as a table.
func (s *resultSet) print(w io.Writer) {
	if s.len() == 0 {
		return
	}
	fmt.Fprintf(w, "\n64 clients, PostgreSQL 15, primary + 2 replicas (queries per client statement, from pg_stat_statements; medians of the runs)\n")
	fmt.Fprintf(w, "%-6s %-8s %4s %9s %9s %9s %9s %9s %7s %7s\n", "load", "pools", "runs", "stmts/s", "p50 µs", "p99 µs", "primary", "replicas", "pos", "probe")
	for _, load := range []string{"read", "90-10"} {
		for _, pools := range []string{"raw", "replica"} {
			r, runs, ok := s.get(pools, load)
			if !ok {
				continue
			}
			fmt.Fprintf(w, "%-6s %-8s %4d %9.0f %9d %9d %9.3f %9.3f %7.3f %7.4f\n", load, pools, runs, r.PerSec,
				r.P50.Microseconds(), r.P99.Microseconds(), r.Primary, r.Replica, r.Pos, r.Probe)
		}
	}
}
