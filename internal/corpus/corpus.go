// Package corpus holds the statements the classifier is proven on: the unit
// tests check each one's classification, the fuzzer starts from them, and the
// read-only oracle runs each one inside a read-only transaction on a real
// primary (see router's oracle test).
package corpus

import "github.com/sqlreplica/sqlreplica/router"

// Family says which servers a statement is written for.
type Family uint8

const (
	// Any is valid SQL on PostgreSQL and on MariaDB/MySQL alike.
	Any Family = iota + 1
	// Postgres is for PostgreSQL only.
	Postgres
	// MySQL is for MySQL and MariaDB.
	MySQL
	// MariaDB is for MariaDB only.
	MariaDB
	// OracleMySQL is for Oracle MySQL only.
	OracleMySQL
)

// In reports whether a case of family f is valid SQL on servers of family
// server (Postgres, MariaDB or OracleMySQL).
func (f Family) In(server Family) bool {
	switch f {
	case Any:
		return true
	case MySQL:
		return server == MariaDB || server == OracleMySQL
	}
	return f == server
}

// Schema returns the statements that create what the cases of a server
// family (Postgres, MariaDB or OracleMySQL) read and write.
func Schema(server Family) []string {
	switch server {
	case Postgres:
		return PostgresSchema
	case MariaDB:
		return append(append([]string(nil), MySQLSchema...), "CREATE SEQUENCE seq1")
	}
	return MySQLSchema
}

// Case is one statement with its expected classification.
type Case struct {
	Family Family
	SQL    string
	Want   router.Kind
	// OnPrimary marks a statement that a read-only transaction accepts but
	// that must run on the primary all the same: it takes a lock, assigns a
	// transaction id, runs a procedure that may write, or reads or changes
	// state that only one session has; or it holds no statement at all
	// (Classify's contract sends empty input to the primary). The oracle does
	// not count it as a conservative miss.
	OnPrimary bool
	// NoRun keeps the oracle from running the statement: it would end the
	// oracle's transaction, commit implicitly (MySQL DDL), or change the
	// server for everyone.
	NoRun bool
}

// Functions are the user functions the oracle's classifiers are told about:
// both schemas define audit_event so that it writes, and ro_total so that it
// only reads.
var Functions = router.Functions{Write: []string{"audit_event"}, Read: []string{"ro_total"}}

// PostgresSchema creates what the PostgreSQL cases read and write.
var PostgresSchema = []string{
	`CREATE TABLE users (id serial PRIMARY KEY, name text, email text, created_at timestamptz DEFAULT now())`,
	`CREATE TABLE orders (id serial PRIMARY KEY, user_id int REFERENCES users(id), total numeric, status text)`,
	`CREATE TABLE kv (k text PRIMARY KEY, v text)`,
	`CREATE SEQUENCE seq1`,
	`CREATE VIEW v_users AS SELECT id, name FROM users`,
	`CREATE FUNCTION audit_event(text) RETURNS int LANGUAGE sql AS $$ INSERT INTO kv VALUES ($1, 'audit') ON CONFLICT DO NOTHING RETURNING 1 $$`,
	`CREATE PROCEDURE noop() LANGUAGE sql AS $$ SELECT 1 $$`,
	`INSERT INTO users (name, email) VALUES ('alice', 'a@example.com'), ('bob', 'b@example.com'), ('carol', NULL)`,
	`INSERT INTO orders (user_id, total, status) VALUES (1, 10.5, 'new'), (1, 20, 'paid'), (2, 7, 'paid')`,
	`INSERT INTO kv VALUES ('update', 'u'), ('a', 'b')`,
}

// MySQLSchema creates what the MySQL and MariaDB cases read and write (MariaDB
// adds a sequence; see Schema).
var MySQLSchema = []string{
	"CREATE TABLE users (id int AUTO_INCREMENT PRIMARY KEY, name varchar(100), email varchar(100), created_at timestamp DEFAULT CURRENT_TIMESTAMP)",
	"CREATE TABLE orders (id int AUTO_INCREMENT PRIMARY KEY, user_id int, total decimal(10,2), status varchar(20))",
	"CREATE TABLE kv (k varchar(100) PRIMARY KEY, v varchar(100))",
	"CREATE VIEW v_users AS SELECT id, name FROM users",
	"CREATE FUNCTION audit_event(k varchar(100)) RETURNS int MODIFIES SQL DATA BEGIN INSERT IGNORE INTO kv VALUES (k, 'audit'); RETURN 1; END",
	"CREATE PROCEDURE noop() SELECT 1",
	"INSERT INTO users (name, email) VALUES ('alice', 'a@example.com'), ('bob', 'b@example.com'), ('carol', NULL)",
	"INSERT INTO orders (user_id, total, status) VALUES (1, 10.5, 'new'), (1, 20, 'paid'), (2, 7, 'paid')",
	"INSERT INTO kv VALUES ('update', 'u'), ('a', 'b')",
}

func r(f Family, sql string) Case { return Case{Family: f, SQL: sql, Want: router.Read} }
func w(f Family, sql string) Case { return Case{Family: f, SQL: sql, Want: router.Write} }
func p(f Family, sql string) Case {
	return Case{Family: f, SQL: sql, Want: router.Write, OnPrimary: true}
}
func wNo(f Family, sql string) Case {
	return Case{Family: f, SQL: sql, Want: router.Write, NoRun: true}
}

// Cases is the corpus.
var Cases = []Case{
	// Reads valid on every server.
	r(Any, `SELECT 1`),
	r(Any, `select 1`),
	r(Any, `SELECT id, name FROM users WHERE id = 1`),
	r(Any, `SELECT * FROM users ORDER BY id LIMIT 10`),
	r(Any, `SELECT count(*) FROM orders`),
	r(Any, `SELECT u.name, sum(o.total) FROM users u JOIN orders o ON o.user_id = u.id GROUP BY u.name`),
	r(Any, `/* leading comment */ SELECT 1`),
	r(Any, "-- a comment\nSELECT 2"),
	r(Any, `SELECT 1; SELECT 2`),
	r(Any, `SELECT 'it''s' AS s`),
	r(Any, `SELECT 'DELETE FROM users' AS s`),
	r(Any, `SELECT name FROM users WHERE name LIKE 'a%'`),
	r(Any, `SELECT * FROM users WHERE id IN (SELECT user_id FROM orders)`),
	r(Any, `SELECT EXISTS (SELECT 1 FROM orders WHERE total > 10)`),
	r(Any, `(SELECT 1) UNION (SELECT 2)`),
	r(Any, `SELECT 1 UNION ALL SELECT 2`),
	r(Any, `WITH t AS (SELECT id FROM users) SELECT * FROM t`),
	r(Any, `WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 5) SELECT * FROM r`),
	r(Any, `SELECT CASE WHEN id > 1 THEN 'a' ELSE 'b' END FROM users`),
	r(Any, `SELECT coalesce(name, 'x') FROM users`),
	r(Any, `SELECT upper(name), lower(email) FROM users`),
	r(Any, `SELECT replace(name, 'a', 'b') FROM users`),
	r(Any, `SELECT now()`),
	r(Any, `SELECT id FROM users WHERE id BETWEEN 1 AND 3`),
	r(Any, `SELECT id FROM users u WHERE NOT EXISTS (SELECT 1 FROM orders o WHERE o.user_id = u.id)`),
	r(Any, `SELECT max(total), min(total), avg(total) FROM orders`),
	r(Any, `SELECT status, count(*) FROM orders GROUP BY status HAVING count(*) > 0`),
	r(Any, `SELECT DISTINCT status FROM orders`),
	r(Any, `SELECT * FROM v_users`),
	r(Any, `SELECT 1 /* ; DELETE FROM users */`),
	r(Any, `SELECT 'a;b' AS x`),
	r(Any, `SELECT length('update users set name = 1')`),
	r(Any, `SELECT id FROM users ORDER BY id DESC LIMIT 1 OFFSET 1`),
	r(Any, `SELECT 1.5e3, .5, 42`),
	r(Any, `SELECT substring('abcdef' FROM 2 FOR 3)`),
	r(Any, `SELECT id FROM orders WHERE status IN ('new', 'paid')`),
	r(Any, `SELECT row_number() OVER (ORDER BY id) FROM users`),
	r(Any, `SELECT * FROM users WHERE name IS NOT NULL`),
	r(Any, `SELECT x FROM (SELECT 1 AS x) AS sub`),
	r(Any, "SELECT 1\n;\n"),
	r(Any, `SELECT 1;`),
	r(Any, `select/**/1`),
	r(Any, `SELECT 'insert' AS verb`),
	r(Any, `SELECT id FROM users WHERE email = 'a@example.com'`),
	r(Any, `SELECT user_id FROM orders UNION SELECT id FROM users`),
	r(Any, `SELECT 1 -- trailing comment`),
	r(Any, `SELECT concat('a', 'b')`),
	r(Any, `SELECT abs(-1), round(2.5)`),
	r(Any, `SELECT CURRENT_TIMESTAMP`),
	r(Any, `SELECT users.id FROM users INNER JOIN orders ON orders.user_id = users.id WHERE orders.total > 1`),
	r(Any, `SELECT users.id FROM users LEFT JOIN orders ON orders.user_id = users.id`),
	r(Any, `SELECT extract(YEAR FROM created_at) FROM users`),
	r(Any, `SELECT * FROM kv WHERE k = 'update'`),
	r(Any, `SELECT * FROM kv WHERE k = 'for update'`),
	r(Any, `SELECT count(*) AS n FROM users WHERE name <> 'lock'`),
	r(Postgres, `VALUES (1)`),
	r(Any, "SELECT\tid\r\nFROM\tusers"),
	r(Any, `SELECT id FROM users WHERE id = 1 AND (name = 'a' OR name = 'b')`),
	r(Any, `SELECT id, (SELECT count(*) FROM orders o WHERE o.user_id = u.id) AS n FROM users u`),
	r(Any, `((SELECT 1))`),

	// Writes valid on every server.
	w(Any, `INSERT INTO kv VALUES ('a1', 'b')`),
	w(Any, `UPDATE users SET name = 'x' WHERE id = 0`),
	w(Any, `DELETE FROM orders WHERE id = 0`),
	w(Any, `insert into kv (k, v) select 'c1', 'd' from users where id = 0`),
	w(Any, `/* comment */ DELETE FROM orders WHERE id = 0`),
	w(Any, "-- comment\nUPDATE users SET name = name WHERE id = 0"),
	w(Any, `SELECT 1; DELETE FROM orders WHERE id = 0`),
	w(Any, `SELECT * FROM users FOR UPDATE`),
	p(Any, `SELECT * FROM users WHERE id = 1 FOR SHARE`),
	w(Any, `SELECT audit_event('k1')`),
	w(Any, `(SELECT 1); UPDATE users SET name = name WHERE id = 0`),
	p(Any, ``),
	p(Any, `   `),
	p(Any, `;`),
	p(Any, `-- only a comment`),
	wNo(Any, `BEGIN`),
	wNo(Any, `COMMIT`),
	wNo(Any, `ROLLBACK`),
	wNo(Any, `SAVEPOINT s1`),
	w(Any, `SELECT 'unterminated`),
	w(Any, `SELECT 1 /* unterminated`),

	// PostgreSQL reads.
	r(Postgres, `SHOW server_version`),
	r(Postgres, `SHOW ALL`),
	r(Postgres, `SHOW transaction_read_only`),
	r(Postgres, `TABLE users`),
	r(Postgres, `SELECT $$; DELETE FROM users; $$ AS s`),
	r(Postgres, `SELECT $tag$ it's $$ $tag$ AS s`),
	r(Postgres, `SELECT E'it\'s' AS s`),
	r(Postgres, `SELECT E'\\' AS s`),
	r(Postgres, `SELECT 1 /* outer /* inner */ ; DELETE FROM orders; */`),
	r(Postgres, `SELECT 1 # 2`),
	r(Postgres, `SELECT id FROM users WHERE name ~ '^a'`),
	r(Postgres, `SELECT '{"a":1}'::jsonb -> 'a'`),
	r(Postgres, `SELECT ARRAY[1,2,3]`),
	r(Postgres, `SELECT generate_series(1, 3)`),
	r(Postgres, `SELECT * FROM generate_series(1, 3) g`),
	r(Postgres, `SELECT pg_is_in_recovery()`),
	r(Postgres, `SELECT pg_last_wal_replay_lsn()`),
	r(Postgres, `SELECT current_setting('transaction_read_only')`),
	p(Postgres, `SELECT txid_current_if_assigned()`),
	r(Postgres, `SELECT pg_sleep(0)`),
	r(Postgres, `SELECT pg_catalog.pg_sleep(0)`),
	r(Postgres, `SELECT version()`),
	r(Postgres, `SELECT now()::date`),
	r(Postgres, `SELECT U&'\0041' AS a`),
	r(Postgres, `WITH t AS MATERIALIZED (SELECT 1 AS x) SELECT x FROM t`),
	r(Postgres, `SELECT * FROM users FOR READ ONLY`),
	r(Postgres, `EXPLAIN SELECT * FROM users`),
	r(Postgres, `EXPLAIN (COSTS OFF) SELECT 1`),
	r(Postgres, `EXPLAIN ANALYZE SELECT 1`),
	r(Postgres, `EXPLAIN (ANALYZE, BUFFERS) SELECT count(*) FROM orders`),
	r(Postgres, `EXPLAIN VERBOSE SELECT 1`),
	r(Postgres, `EXPLAIN (FORMAT JSON) WITH t AS (SELECT 1) SELECT * FROM t`),
	r(Postgres, `SELECT * FROM users WHERE id = ANY('{1,2}'::int[])`),
	r(Postgres, `SELECT lower($$A$$)`),
	r(Postgres, `SELECT 1 AS "semi;colon"`),
	r(Postgres, `SELECT "users"."name" FROM "users"`),
	r(Postgres, `SELECT 1 AS "for", 2 AS "update"`),
	r(Postgres, `SELECT has_table_privilege('users', 'select')`),
	r(Postgres, `SELECT count(*) FROM pg_stat_activity`),
	r(Postgres, `SELECT 'ab' ~~ 'a%'`),
	r(Postgres, `SELECT id FROM users ORDER BY id FETCH FIRST 1 ROWS ONLY`),
	r(Postgres, `SELECT * FROM users TABLESAMPLE SYSTEM (100)`),
	r(Postgres, `(VALUES (1), (2))`),
	r(Postgres, `SELECT format('%s', 'x')`),
	r(Postgres, `SELECT pg_size_pretty(pg_database_size(current_database()))`),
	r(Postgres, `SELECT jsonb_build_object('a', 1)`),
	r(Postgres, `SELECT string_agg(name, ',') FROM users`),
	r(Postgres, "SELECT 'a'--comment-without-space\n"),
	r(Postgres, `SELECT 'x' || 'y'`),
	r(Postgres, `SELECT key FROM (SELECT 1 AS key) t`),
	r(Postgres, `SELECT * FROM users WHERE id = 1; SELECT * FROM orders WHERE user_id = 1`),
	r(Postgres, `SELECT pg_last_wal_receive_lsn(), pg_last_xact_replay_timestamp()`),
	r(Postgres, `SELECT xmin, id FROM users LIMIT 1`),
	r(Postgres, `SELECT overlay('abcdef' PLACING 'x' FROM 2 FOR 3)`),

	// PostgreSQL writes and statements that stay on the primary.
	w(Postgres, `INSERT INTO kv VALUES ('r', 'r') RETURNING k`),
	w(Postgres, `INSERT INTO kv VALUES ('a', 'z') ON CONFLICT (k) DO UPDATE SET v = excluded.v`),
	w(Postgres, `WITH d AS (DELETE FROM orders WHERE id = 0 RETURNING *) SELECT * FROM d`),
	w(Postgres, `WITH i AS (INSERT INTO kv VALUES ('c', 'c') RETURNING *) SELECT * FROM i`),
	w(Postgres, `WITH u AS (UPDATE users SET name = name WHERE id = 0 RETURNING id) SELECT count(*) FROM u`),
	w(Postgres, `WITH t AS (SELECT 1) INSERT INTO kv SELECT 'w', 'w' FROM t`),
	w(Postgres, `WITH m AS MATERIALIZED (DELETE FROM kv WHERE k = 'none' RETURNING k) SELECT 1`),
	w(Postgres, `SELECT * FROM users FOR NO KEY UPDATE`),
	w(Postgres, `SELECT * FROM users FOR KEY SHARE`),
	w(Postgres, `SELECT * FROM users FOR UPDATE OF users NOWAIT`),
	w(Postgres, `SELECT * FROM users FOR UPDATE SKIP LOCKED`),
	w(Postgres, `SELECT * FROM users LIMIT 1 FOR SHARE OF users`),
	w(Postgres, `SELECT * FROM users WHERE id IN (SELECT user_id FROM orders FOR UPDATE)`),
	w(Postgres, `SELECT * FROM users FOR /* why not */ UPDATE`),
	w(Postgres, `SELECT * INTO new_users FROM users`),
	w(Postgres, `SELECT nextval('seq1')`),
	w(Postgres, `SELECT pg_catalog.nextval ('seq1')`),
	w(Postgres, `SELECT "nextval"('seq1')`),
	w(Postgres, `SELECT setval('seq1', 10)`),
	w(Postgres, `SELECT currval('seq1')`),
	w(Postgres, `SELECT lastval()`),
	p(Postgres, `SELECT pg_advisory_lock(1)`),
	p(Postgres, `SELECT pg_try_advisory_xact_lock(2)`),
	p(Postgres, `SELECT PG_ADVISORY_UNLOCK_ALL()`),
	p(Postgres, `SELECT pg_notify('ch', 'x')`),
	p(Postgres, `SELECT txid_current()`),
	p(Postgres, `SELECT pg_current_xact_id()`),
	p(Postgres, `SELECT lo_create(0)`),
	p(Postgres, `SELECT set_config('application_name', 'x', false)`),
	w(Postgres, `SELECT query_to_xml('select 1', true, false, '')`),
	w(Postgres, `EXPLAIN ANALYZE INSERT INTO kv VALUES ('e', 'e')`),
	w(Postgres, `EXPLAIN ANALYZE DELETE FROM orders WHERE id = 0`),
	w(Postgres, `EXPLAIN UPDATE users SET name = name`),
	w(Postgres, `EXPLAIN (ANALYZE) UPDATE users SET name = name WHERE id = 0`),
	p(Postgres, `EXPLAIN ANALYZE CREATE TABLE t3 AS SELECT 1`),
	p(Postgres, `CALL noop()`),
	p(Postgres, `DO $$ BEGIN PERFORM 1; END $$`),
	p(Postgres, `LOCK TABLE users IN ACCESS SHARE MODE`),
	p(Postgres, `LOCK TABLE users IN ACCESS EXCLUSIVE MODE`),
	p(Postgres, `SET search_path TO public`),
	p(Postgres, `SET LOCAL statement_timeout = 1000`),
	p(Postgres, `RESET ALL`),
	p(Postgres, `PREPARE p AS SELECT 1`),
	w(Postgres, `EXECUTE p`),
	p(Postgres, `DEALLOCATE ALL`),
	p(Postgres, `LISTEN ch`),
	p(Postgres, `NOTIFY ch`),
	p(Postgres, `UNLISTEN *`),
	wNo(Postgres, `COPY users TO STDOUT`),
	wNo(Postgres, `COPY kv FROM STDIN`),
	w(Postgres, `VACUUM users`),
	p(Postgres, `ANALYZE users`),
	w(Postgres, `CREATE TABLE t2 (a int)`),
	w(Postgres, `DROP TABLE IF EXISTS nothing_here`),
	w(Postgres, `ALTER TABLE users ADD COLUMN extra int`),
	w(Postgres, `TRUNCATE kv`),
	w(Postgres, `GRANT SELECT ON users TO PUBLIC`),
	w(Postgres, `REVOKE SELECT ON users FROM PUBLIC`),
	w(Postgres, `CREATE INDEX ON users (name)`),
	w(Postgres, `COMMENT ON TABLE users IS 'x'`),
	p(Postgres, `REINDEX TABLE users`),
	w(Postgres, `DISCARD ALL`),
	w(Postgres, `MERGE INTO kv USING (SELECT 'm' AS k) s ON kv.k = s.k WHEN NOT MATCHED THEN INSERT VALUES (s.k, 'm')`),
	w(Postgres, `SELECT '\'; DELETE FROM orders WHERE id = 0; -- '`),
	w(Postgres, `SELECT $$ $$; DELETE FROM orders WHERE id = 0`),
	w(Postgres, `SELECT 'a\' AS s`),
	w(Postgres, `TABLE users; TRUNCATE kv`),
	p(Postgres, `DECLARE c CURSOR FOR SELECT 1`),
	w(Postgres, `SELECT 1 FROM users WHERE id = 1 FOR UPDATE OF users`),
	w(Postgres, `SELECT audit_event('k2') FROM users`),
	w(Postgres, `SELECT f(a := 1)`),
	wNo(Postgres, `END`),
	wNo(Postgres, `START TRANSACTION READ WRITE`),

	// MySQL and MariaDB reads.
	r(MySQL, `SHOW VARIABLES LIKE 'read_only'`),
	r(MySQL, `SHOW TABLES`),
	r(MySQL, `SHOW DATABASES`),
	r(MySQL, `SHOW CREATE TABLE users`),
	r(MySQL, `SHOW COLUMNS FROM users`),
	r(MySQL, `SHOW INDEX FROM users`),
	r(MySQL, `SHOW STATUS LIKE 'Uptime'`),
	r(MySQL, `SHOW GLOBAL VARIABLES LIKE 'gtid%'`),
	r(MySQL, `SHOW PROCESSLIST`),
	r(MySQL, `SHOW WARNINGS`),
	r(MySQL, `SHOW TABLE STATUS`),
	r(MySQL, `SHOW FULL COLUMNS FROM users`),
	r(MySQL, `SHOW ENGINES`),
	r(MySQL, `SHOW CHARACTER SET LIKE 'utf8%'`),
	r(MySQL, `SHOW COLLATION LIKE 'utf8mb4_bin'`),
	r(MySQL, `SHOW GRANTS`),
	r(MariaDB, `SHOW MASTER STATUS`),
	r(MariaDB, `SHOW SLAVE STATUS`),
	r(MySQL, `DESCRIBE users`),
	r(MySQL, `DESC users`),
	r(MySQL, "DESC `users`"),
	r(MySQL, `EXPLAIN users`),
	r(MySQL, `EXPLAIN SELECT * FROM users`),
	r(MariaDB, `EXPLAIN EXTENDED SELECT 1`),
	r(MySQL, `EXPLAIN FORMAT=JSON SELECT * FROM users`),
	r(MySQL, `DESCRIBE SELECT * FROM users`),
	r(MySQL, "SELECT `name` FROM `users`"),
	r(MySQL, "SELECT * FROM `users` WHERE `id` = 1"),
	r(MySQL, "SELECT 'a' # comment"),
	r(MySQL, "SELECT 1 # ; DELETE FROM orders"),
	r(MySQL, `SELECT 1--1`),
	r(MySQL, `SELECT @@server_id`),
	r(MySQL, `SELECT @@global.read_only`),
	r(MariaDB, `SELECT @@gtid_current_pos`),
	r(MySQL, `SELECT VERSION()`),
	r(MySQL, `SELECT DATABASE()`),
	r(MySQL, `SELECT CONNECTION_ID()`),
	r(MySQL, `SELECT NOW(6)`),
	r(MySQL, `SELECT SLEEP(0)`),
	r(MySQL, `SELECT IFNULL(name, '') FROM users`),
	r(MySQL, `SELECT GROUP_CONCAT(name) FROM users`),
	r(MySQL, `SELECT JSON_OBJECT('a', 1)`),
	r(MySQL, `SELECT DATE_FORMAT(NOW(), '%Y')`),
	r(MySQL, `SELECT * FROM users LIMIT 1, 2`),
	r(MySQL, `SELECT SQL_CALC_FOUND_ROWS * FROM users LIMIT 1`),
	r(MySQL, `SELECT HIGH_PRIORITY * FROM users`),
	r(MySQL, `SELECT STRAIGHT_JOIN users.id FROM users JOIN orders ON orders.user_id = users.id`),
	r(MySQL, `SELECT /*+ MAX_EXECUTION_TIME(1000) */ * FROM users`),
	r(MySQL, `SELECT /*!40001 SQL_NO_CACHE */ * FROM users`),
	r(MySQL, `/*!40101 SELECT 1 */`),
	r(MySQL, `SELECT * FROM users WHERE name = "alice"`),
	r(MySQL, `SELECT * FROM users USE INDEX (PRIMARY)`),
	r(MySQL, `SELECT * FROM users FORCE INDEX (PRIMARY) WHERE id > 0`),
	r(MySQL, `SELECT REPLACE('abc', 'b', 'x')`),
	r(MySQL, `SELECT 1 FROM DUAL`),
	r(MySQL, `SELECT BENCHMARK(1, 1)`),
	r(MySQL, `SELECT IS_FREE_LOCK('x'), IS_USED_LOCK('x')`),
	r(MySQL, `SELECT UUID(), RAND()`),
	r(MySQL, `SELECT * FROM information_schema.tables LIMIT 1`),
	r(MySQL, `SELECT x'41', b'01', 0x41`),
	r(MySQL, `SELECT _utf8mb4'abc', N'abc'`),
	r(MySQL, `SELECT 'a' 'b'`),
	r(MySQL, `SELECT * FROM users WHERE name LIKE 'a\_%'`),
	r(MySQL, "SELECT 1 AS `for`, 2 AS `update`"),
	r(MySQL, "SELECT `a``b` FROM (SELECT 1 AS `a``b`) t"),
	r(MySQL, `SELECT COUNT(*) FROM users WHERE created_at > NOW() - INTERVAL 1 DAY`),
	r(MySQL, `(SELECT id FROM users) UNION (SELECT user_id FROM orders) ORDER BY 1`),
	r(MySQL, `WITH c AS (SELECT user_id, SUM(total) s FROM orders GROUP BY user_id) SELECT * FROM c`),
	r(MariaDB, `VALUES (1), (2)`),
	r(MySQL, `SELECT * FROM users WHERE name = 'x' OR 1=1 -- '; DELETE FROM orders`),
	r(MySQL, `SELECT "it's" AS s`),
	r(MySQL, `SELECT 'x' || 'y'`),

	// MariaDB-only and MySQL-only reads.
	r(MariaDB, `SELECT @@gtid_slave_pos, @@gtid_binlog_pos`),
	r(OracleMySQL, `SHOW BINARY LOG STATUS`),
	r(OracleMySQL, `SHOW REPLICA STATUS`),
	r(OracleMySQL, `SELECT @@global.gtid_executed`),
	r(OracleMySQL, `TABLE users`),
	r(OracleMySQL, `TABLE users ORDER BY id LIMIT 1`),
	r(OracleMySQL, `VALUES ROW(1, 'a'), ROW(2, 'b')`),
	r(OracleMySQL, `EXPLAIN FORMAT=TREE SELECT * FROM users`),
	r(OracleMySQL, `EXPLAIN ANALYZE SELECT * FROM users`),
	r(OracleMySQL, `SELECT WAIT_FOR_EXECUTED_GTID_SET('', 0)`),
	w(OracleMySQL, `TABLE users INTO @x`),

	// MySQL and MariaDB writes and statements that stay on the primary.
	w(MySQL, `INSERT IGNORE INTO kv VALUES ('a', 'b')`),
	w(MySQL, `REPLACE INTO kv VALUES ('a', 'b')`),
	w(MySQL, `REPLACE kv VALUES ('c', 'd')`),
	w(MySQL, `INSERT INTO kv VALUES ('a', 'z') ON DUPLICATE KEY UPDATE v = 'z'`),
	w(MySQL, `INSERT INTO kv (k, v) VALUES ('x', 'y') RETURNING k`),
	w(MySQL, `DELETE FROM orders WHERE id = 0 RETURNING id`),
	w(MySQL, `DELETE orders FROM orders JOIN users ON users.id = orders.user_id WHERE users.id = 0`),
	w(MySQL, `UPDATE users u JOIN orders o ON o.user_id = u.id SET o.status = 'x' WHERE u.id = 0`),
	p(MySQL, `SELECT * FROM users LOCK IN SHARE MODE`),
	w(MySQL, `SELECT * FROM users FOR UPDATE NOWAIT`),
	w(MySQL, `SELECT * FROM users FOR UPDATE SKIP LOCKED`),
	p(MySQL, `SELECT name INTO @n FROM users LIMIT 1`),
	w(MySQL, `SELECT * FROM users INTO OUTFILE '/tmp/sqlreplica-oracle-out'`),
	p(MySQL, `SELECT GET_LOCK('x', 0)`),
	p(MySQL, `SELECT RELEASE_LOCK('x')`),
	p(MySQL, `SELECT RELEASE_ALL_LOCKS()`),
	p(MySQL, `SELECT LAST_INSERT_ID()`),
	p(MySQL, `SELECT LAST_INSERT_ID(5)`),
	p(MySQL, `SELECT FOUND_ROWS()`),
	p(MySQL, `SELECT ROW_COUNT()`),
	p(MySQL, `SELECT @@last_insert_id`),
	p(MySQL, `SELECT @@identity`),
	p(MySQL, `SELECT @@session.last_gtid`),
	w(MySQL, `SELECT NEXTVAL(seq1)`),
	w(MySQL, `SELECT NEXT VALUE FOR seq1`),
	p(MySQL, `SELECT PREVIOUS VALUE FOR seq1`),
	w(MySQL, `SELECT SETVAL(seq1, 100)`),
	p(MySQL, `SELECT LASTVAL(seq1)`),
	p(MySQL, `SET @a = 1`),
	p(MySQL, `SET SESSION sql_mode = 'ANSI'`),
	p(MySQL, `SET NAMES utf8mb4`),
	p(MySQL, `SELECT @a := 1`),
	p(MySQL, `USE information_schema`),
	p(MySQL, `CALL noop()`),
	p(MySQL, `DO 1`),
	p(MySQL, `DO SLEEP(0)`),
	p(MySQL, `PREPARE s FROM 'SELECT 1'`),
	w(MySQL, `EXECUTE s`),
	w(MySQL, `DEALLOCATE PREPARE s`),
	p(MySQL, `HANDLER users OPEN`),
	w(MySQL, `CREATE TEMPORARY TABLE tmp1 (a int)`),
	w(MySQL, `HELP 'select'`),
	w(MySQL, `SELECT 'it\'s'`),
	w(MySQL, `SELECT '\'; DELETE FROM orders WHERE id = 0; -- '`),
	w(MySQL, `/*!50000 DELETE FROM orders WHERE id = 0 */`),
	p(MySQL, `SELECT 1 /*!50000 , (SELECT GET_LOCK('y', 0)) */`),
	w(MySQL, `/*M! DELETE FROM orders WHERE id = 0 */`),
	w(MySQL, `SELECT 1--1; DELETE FROM orders WHERE id = 0`),
	w(MySQL, `EXPLAIN DELETE FROM orders WHERE id = 0`),
	w(MySQL, `EXPLAIN UPDATE users SET name = 'x'`),
	w(MySQL, `ANALYZE DELETE FROM orders WHERE id = 0`),
	w(MySQL, `ANALYZE SELECT 1`),
	w(MySQL, `SELECT audit_event('k3') FROM DUAL`),
	w(MySQL, "SELECT `audit_event`('k4')"),
	wNo(MySQL, `LOAD DATA LOCAL INFILE '/dev/null' INTO TABLE kv`),
	wNo(MySQL, `LOCK TABLES users READ`),
	wNo(MySQL, `UNLOCK TABLES`),
	wNo(MySQL, `START TRANSACTION`),
	wNo(MySQL, `XA START 'x'`),
	wNo(MySQL, `CREATE TABLE t2 (a int)`),
	wNo(MySQL, `DROP TABLE IF EXISTS nothing_here`),
	wNo(MySQL, `ALTER TABLE users ADD COLUMN extra int`),
	wNo(MySQL, `TRUNCATE TABLE kv`),
	wNo(MySQL, `RENAME TABLE kv TO kv2`),
	wNo(MySQL, `GRANT SELECT ON *.* TO nobody`),
	wNo(MySQL, `OPTIMIZE TABLE users`),
	wNo(MySQL, `ANALYZE TABLE users`),
	wNo(MySQL, `CHECK TABLE users`),
	wNo(MySQL, `FLUSH TABLES`),
	wNo(MySQL, `KILL 1`),
	wNo(MySQL, `SHUTDOWN`),
	wNo(MySQL, `RESET MASTER`),
	wNo(MySQL, `PURGE BINARY LOGS BEFORE NOW()`),
	wNo(MySQL, `CHANGE MASTER TO MASTER_HOST = 'x'`),
	wNo(MySQL, `CHECKSUM TABLE users`),
	wNo(MySQL, `CREATE SEQUENCE seq2`),
}
