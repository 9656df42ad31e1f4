package testcluster

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// mysqlInit creates the users every server of a MySQL cluster shares. It
// runs once, during --initialize, before the data directory is copied, so
// it writes no binary log and no GTID.
const mysqlInit = `CREATE USER 'admin'@'127.0.0.1' IDENTIFIED BY 'admin';
GRANT ALL PRIVILEGES ON *.* TO 'admin'@'127.0.0.1' WITH GRANT OPTION;
CREATE USER 'repl'@'127.0.0.1' IDENTIFIED BY 'repl';
GRANT REPLICATION SLAVE ON *.* TO 'repl'@'127.0.0.1';
CREATE USER 'app'@'127.0.0.1' IDENTIFIED BY 'app';
GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, INDEX, ALTER, CREATE TEMPORARY TABLES, LOCK TABLES,
  EXECUTE, CREATE VIEW, SHOW VIEW, CREATE ROUTINE, ALTER ROUTINE, TRIGGER, REFERENCES, REPLICATION CLIENT
  ON *.* TO 'app'@'127.0.0.1';
CREATE DATABASE app;
`

// MySQLRoot returns the directory that holds Oracle MySQL's unpacked
// packages: $SQLREPLICA_MYSQL_ROOT, or .cache/mysql at the module's root
// (where scripts/fetch-mysql.sh puts them).
func MySQLRoot() string {
	if d := os.Getenv("SQLREPLICA_MYSQL_ROOT"); d != "" {
		return d
	}
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, ".cache", "mysql")
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// StartMySQL starts an Oracle MySQL source and its GTID replicas from the
// packages scripts/fetch-mysql.sh unpacked.
func StartMySQL(ctx context.Context, opts Options) (*Cluster, error) {
	root := MySQLRoot()
	if _, err := os.Stat(filepath.Join(root, "usr", "sbin", "mysqld")); err != nil {
		return nil, fmt.Errorf("%w: no MySQL in %q (scripts/fetch-mysql.sh fetches it; it is best effort)", ErrUnavailable, root)
	}
	c, err := newCluster(MySQL, "mysql", opts)
	if err != nil {
		return nil, err
	}
	if err := c.startMySQL(ctx, root); err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

// mysqld returns the command line that runs MySQL's server through its own
// loader and libraries, followed by args.
func mysqld(root string, args ...string) []string {
	return append([]string{
		filepath.Join(root, "usr", "lib64", "ld-linux-x86-64.so.2"),
		"--library-path", filepath.Join(root, "usr", "lib", "x86_64-linux-gnu"),
		filepath.Join(root, "usr", "sbin", "mysqld"),
		"--no-defaults",
		"--basedir=" + filepath.Join(root, "usr"),
		"--lc-messages-dir=" + filepath.Join(root, "usr", "share", "mysql"),
		"--plugin-dir=" + filepath.Join(root, "usr", "lib", "mysql", "plugin"),
	}, args...)
}

func (c *Cluster) startMySQL(ctx context.Context, root string) error {
	t0 := time.Now()
	initFile := filepath.Join(c.dir, "init.sql")
	if err := c.writeFile(initFile, mysqlInit); err != nil {
		return err
	}
	template := filepath.Join(c.dir, "template")
	tmp, err := c.mkdir("template-tmp") // a tmpdir per server: see startMariaDB
	if err != nil {
		return err
	}
	cmd := mysqld(root, "--initialize-insecure", "--datadir="+template, "--init-file="+initFile,
		"--log-error="+filepath.Join(c.dir, "initialize.err"), "--tmpdir="+tmp)
	if err := c.run(ctx, cmd[0], cmd[1:]...); err != nil {
		b, _ := os.ReadFile(filepath.Join(c.dir, "initialize.err"))
		return fmt.Errorf("%w\n%s", err, tail(b, 2000))
	}
	c.logf("mysql data directory initialised after %v", time.Since(t0).Round(time.Millisecond))
	for i := 0; i <= c.opts.Replicas; i++ {
		s, flags, err := c.copyServer(ctx, i, template)
		if err != nil {
			return err
		}
		s.args = mysqld(root, append(flags,
			"--gtid-mode=ON",
			"--enforce-gtid-consistency=ON",
			"--log-replica-updates=ON",
			"--mysqlx=OFF",
			"--secure-file-priv=NULL",
			"--skip-replica-start",
		)...)
		if i > 0 {
			s.args = append(s.args, "--read-only=ON", "--super-read-only=ON")
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

// killBinlogDumps ends the source's replication sender threads, without
// which MySQL waits about ten seconds before it shuts down.
func (s *Server) killBinlogDumps() {
	db, err := sql.Open("mysql", s.c.AdminDSN(s))
	if err != nil {
		return
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	rows, err := db.QueryContext(ctx, "SELECT id FROM information_schema.processlist WHERE command LIKE 'Binlog Dump%'")
	if err != nil {
		return
	}
	var ids []int64
	for rows.Next() {
		var id int64
		if rows.Scan(&id) == nil {
			ids = append(ids, id)
		}
	}
	rows.Close()
	for _, id := range ids {
		_, _ = db.ExecContext(ctx, fmt.Sprintf("KILL %d", id))
	}
}
