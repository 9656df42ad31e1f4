// Package router decides which node a statement may run on: [Classify]
// reads a statement with a lexer of the SQL dialects (PostgreSQL, MySQL,
// MariaDB) and calls it a [Read] only when it provably reads and does not
// lock, write or change session state; everything else, including what it
// does not understand, is a [Write]. [Explain] says why, and
// [NewClassifier] adds the functions an application declares.
//
// It also holds the load balancers that pick a replica among the
// candidates ([RoundRobin] and the others), with no knowledge of database
// connections: package replica uses both.
package router
