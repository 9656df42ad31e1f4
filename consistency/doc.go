// Package consistency holds replication positions: [Token] is a PostgreSQL
// WAL location, a MySQL GTID set or a MariaDB GTID list, with a text form
// that survives an HTTP header or a cookie, and comparisons that answer
// "has a server at this position applied that write?".
package consistency
