// Package benchreal holds the real-server benchmarks: sqlreplica against a
// PostgreSQL 15 primary and two streaming replicas that internal/testcluster
// starts on loopback, once per benchmark process. It has no code of its own,
// only benchmarks, which `make test` does not run (it has no tests) and
// `make bench` skips (they run only with SQLREPLICA_BENCH_REAL=1): `make
// bench-real` runs them and prints a table.
//
// What they measure, with the queries each server ran counted by
// pg_stat_statements (classified by their text, so that the figures do not
// depend on the library's internals):
//
//   - BenchmarkClients64: 64 clients reading a row by key (Load=read), or
//     nine reads for one single-row UPDATE (Load=90-10, each client with a
//     session of its own: read-your-writes), over plain *sql.DB pools
//     (Pools=raw: reads round-robin over the replicas) and through one
//     replica.DB (Pools=replica). Statements per second, p50 and p99
//     latency, and the queries each server ran per client statement.
//   - BenchmarkWriteCapture: the position reads the primary runs per write
//     of a session, with 1, 8 and 64 concurrent writers.
//   - BenchmarkTokenWait: the replay-position queries a replica whose replay
//     is paused runs per second while 1 or 64 reads wait for it to apply a
//     token.
//
// Set SQLREPLICA_BENCH_PNG to a file name to get a bar chart of
// BenchmarkClients64 (statements per second and p99 latency, raw and
// replica side by side, for each load) written there.
package benchreal
