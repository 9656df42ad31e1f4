package testcluster

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	_ "github.com/go-sql-driver/mysql" // registers the "mysql" driver
)

// mariadbBootstrap creates the users every server of a cluster shares. It
// runs once, before the data directory is copied for the replicas.
const mariadbBootstrap = `FLUSH PRIVILEGES;
CREATE USER 'admin'@'127.0.0.1' IDENTIFIED BY 'admin';
GRANT ALL PRIVILEGES ON *.* TO 'admin'@'127.0.0.1' WITH GRANT OPTION;
CREATE USER 'repl'@'127.0.0.1' IDENTIFIED BY 'repl';
GRANT REPLICATION SLAVE ON *.* TO 'repl'@'127.0.0.1';
CREATE USER 'app'@'127.0.0.1' IDENTIFIED BY 'app';
GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, INDEX, ALTER, CREATE TEMPORARY TABLES, LOCK TABLES,
  EXECUTE, CREATE VIEW, SHOW VIEW, CREATE ROUTINE, ALTER ROUTINE, TRIGGER, REFERENCES,
  SLAVE MONITOR, BINLOG MONITOR ON *.* TO 'app'@'127.0.0.1';
CREATE DATABASE app;
`

// mariadbPaths returns the server and installer programs.
func mariadbPaths() (server, installer string, err error) {
	server, err = exec.LookPath("mariadbd")
	if err != nil {
		if _, serr := os.Stat("/usr/sbin/mariadbd"); serr != nil {
			return "", "", fmt.Errorf("%w: no mariadbd (apt-get install mariadb-server)", ErrUnavailable)
		}
		server = "/usr/sbin/mariadbd"
	}
	installer, err = exec.LookPath("mariadb-install-db")
	if err != nil {
		return "", "", fmt.Errorf("%w: no mariadb-install-db", ErrUnavailable)
	}
	return server, installer, nil
}

// StartMariaDB starts a MariaDB primary and its GTID replicas.
func StartMariaDB(ctx context.Context, opts Options) (*Cluster, error) {
	server, installer, err := mariadbPaths()
	if err != nil {
		return nil, err
	}
	return launch(MariaDB, "mysql", opts, func(c *Cluster) error { return c.startMariaDB(ctx, server, installer) })
}

func (c *Cluster) startMariaDB(ctx context.Context, server, installer string) error {
	t0 := time.Now()
	boot := filepath.Join(c.dir, "bootstrap.sql")
	if err := c.writeFile(boot, mariadbBootstrap); err != nil {
		return err
	}
	template := filepath.Join(c.dir, "template")
	// Every MariaDB and MySQL server deletes the #sql* files in its tmpdir
	// when it starts: each gets a tmpdir of its own, or servers starting at
	// once (in other test binaries too) delete each other's temporary tables.
	tmp, err := c.mkdir("template-tmp")
	if err != nil {
		return err
	}
	args := []string{"--no-defaults", "--datadir=" + template, "--skip-test-db", "--skip-name-resolve",
		"--auth-root-authentication-method=socket", "--extra-file=" + boot, "--tmpdir=" + tmp}
	if err := c.run(ctx, installer, args...); err != nil {
		return err
	}
	n := 1 + c.opts.Replicas
	for i := 0; i < n; i++ {
		s, flags, err := c.copyServer(ctx, i, template)
		if err != nil {
			return err
		}
		s.args = append([]string{server, "--no-defaults"}, flags...)
		s.args = append(s.args,
			"--binlog-format=ROW",
			"--gtid-strict-mode=1",
			"--log-slave-updates=1",
			"--innodb-log-file-size=16M",
		)
		if i > 0 {
			s.args = append(s.args, "--read-only=1")
		}
		if i == 0 {
			c.Primary = s
		} else {
			c.Replicas = append(c.Replicas, s)
		}
	}
	os.RemoveAll(template)
	return c.startGTIDReplication(ctx, t0)
}

// startGTIDReplication starts a MariaDB or MySQL cluster's servers, points
// each replica at the primary (the last one with the cluster's delay) and
// waits until they replicate.
func (c *Cluster) startGTIDReplication(ctx context.Context, t0 time.Time) error {
	if err := startAll(ctx, c.Servers()...); err != nil {
		return err
	}
	c.logf("%s servers up after %v", c.Kind, time.Since(t0).Round(time.Millisecond))
	for i, r := range c.Replicas {
		delay := time.Duration(0)
		if i == len(c.Replicas)-1 {
			delay = c.opts.Delay
		}
		if err := c.PointReplica(ctx, r, c.Primary, delay); err != nil {
			return err
		}
	}
	if err := c.waitReplicating(ctx); err != nil {
		return err
	}
	c.logf("%s cluster with %d replicas replicating after %v", c.Kind, len(c.Replicas), time.Since(t0).Round(time.Millisecond))
	return nil
}

// copyServer makes the i-th server of a MariaDB or MySQL cluster (0: the
// primary) from a copy of an initialised data directory, with a free port
// and a tmpdir of its own. It returns the server-option flags MariaDB and
// MySQL share: files, port, identity, binary and relay logs, memory and
// durability settings sized for tests.
func (c *Cluster) copyServer(ctx context.Context, i int, template string) (*Server, []string, error) {
	name := "primary"
	if i > 0 {
		name = fmt.Sprintf("replica%d", i)
	}
	return c.copyNamedServer(ctx, i, name, template)
}

// copyNamedServer is copyServer with the server's name given.
func (c *Cluster) copyNamedServer(ctx context.Context, i int, name, template string) (*Server, []string, error) {
	s := &Server{Name: name, Dir: filepath.Join(c.dir, name), c: c}
	if err := c.run(ctx, "cp", "-a", template, s.Dir); err != nil {
		return nil, nil, err
	}
	// A MySQL server needs its own server_uuid: drop the copied one.
	if err := os.Remove(filepath.Join(s.Dir, "auto.cnf")); err != nil && !os.IsNotExist(err) {
		return nil, nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, nil, err
	}
	s.Port = port
	tmp, err := c.mkdir(name + "-tmp")
	if err != nil {
		return nil, nil, err
	}
	return s, []string{
		"--datadir=" + s.Dir,
		"--socket=" + filepath.Join(c.dir, name+".sock"),
		"--pid-file=" + filepath.Join(c.dir, name+".pid"),
		"--log-error=" + filepath.Join(c.dir, name+".err"),
		fmt.Sprintf("--port=%d", s.Port),
		"--bind-address=127.0.0.1",
		"--skip-name-resolve",
		fmt.Sprintf("--server-id=%d", i+1),
		"--log-bin=" + name + "-bin",
		"--relay-log=" + name + "-relay",
		"--log-bin-trust-function-creators=1",
		"--innodb-buffer-pool-size=32M",
		"--innodb-flush-log-at-trx-commit=2",
		"--sync-binlog=0",
		"--performance-schema=OFF",
		"--max-connections=200",
		"--tmpdir=" + tmp,
	}, nil
}

// PointReplica makes r replicate from source by GTID (MariaDB or MySQL),
// with an optional apply delay (whole seconds, rounded up).
func (c *Cluster) PointReplica(ctx context.Context, r, source *Server, delay time.Duration) error {
	db, err := c.OpenAdmin(r)
	if err != nil {
		return err
	}
	defer db.Close()
	secs := int((delay + time.Second - 1) / time.Second)
	stmts := []string{
		"STOP SLAVE",
		fmt.Sprintf("CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=%d, MASTER_USER='repl', "+
			"MASTER_PASSWORD='repl', MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1, MASTER_DELAY=%d", source.Port, secs),
		"START SLAVE",
	}
	if c.Kind == MySQL {
		stmts = []string{
			"STOP REPLICA",
			fmt.Sprintf("CHANGE REPLICATION SOURCE TO SOURCE_HOST='127.0.0.1', SOURCE_PORT=%d, SOURCE_USER='repl', "+
				"SOURCE_PASSWORD='repl', SOURCE_AUTO_POSITION=1, GET_SOURCE_PUBLIC_KEY=1, SOURCE_CONNECT_RETRY=1, "+
				"SOURCE_DELAY=%d", source.Port, secs),
			"START REPLICA",
		}
	}
	for _, q := range stmts {
		if _, err := db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("testcluster: %s on %s: %w", q, r.Name, err)
		}
	}
	return nil
}

// waitReplicating waits until both replication threads of every replica
// run.
func (c *Cluster) waitReplicating(ctx context.Context) error {
	return c.waitThreads(ctx, c.Replicas)
}

// waitThreads waits until both replication threads of each of servers run.
func (c *Cluster) waitThreads(ctx context.Context, servers []*Server) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for _, r := range servers {
		db, err := c.OpenAdmin(r)
		if err != nil {
			return err
		}
		for {
			io, sqlt, lastErr, err := slaveThreads(ctx, db)
			if err == nil && io == "Yes" && sqlt == "Yes" {
				break
			}
			select {
			case <-ctx.Done():
				db.Close()
				return fmt.Errorf("testcluster: %s not replicating (io=%s sql=%s err=%v %s)\n%s", r.Name, io, sqlt, err, lastErr, r.Log())
			case <-time.After(20 * time.Millisecond):
			}
		}
		db.Close()
	}
	return nil
}

// slaveThreads reads the replication threads' state from SHOW REPLICA
// STATUS (MariaDB accepts it too).
func slaveThreads(ctx context.Context, db *sql.DB) (io, sqlThread, lastError string, err error) {
	rows, err := db.QueryContext(ctx, "SHOW REPLICA STATUS")
	if err != nil {
		return "", "", "", err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return "", "", "", err
	}
	if !rows.Next() {
		return "", "", "", errors.New("no replication configured")
	}
	vals := make([]sql.NullString, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		return "", "", "", err
	}
	for i, col := range cols {
		switch strings.ToLower(col) {
		case "slave_io_running", "replica_io_running":
			io = vals[i].String
		case "slave_sql_running", "replica_sql_running":
			sqlThread = vals[i].String
		case "last_error":
			lastError = vals[i].String
		}
	}
	return io, sqlThread, lastError, rows.Err()
}
