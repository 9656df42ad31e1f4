package testcluster

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"sync"
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
	return launch(MySQL, "mysql", opts, func(c *Cluster) error { return c.startMySQL(ctx, root) })
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
	template, err := c.mysqlTemplate(ctx, root)
	if err != nil {
		return err
	}
	c.logf("mysql data directory ready after %v", time.Since(t0).Round(time.Millisecond))
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

// mysqlTemplates holds, per run directory, a MySQL data directory this
// process initialised: --initialize takes about 12 s on this machine, a copy
// a fraction of a second, and every cluster of a test binary can start from
// the same one (copyServer gives each server its own server_uuid). It lives
// in the run directory, which the run's cleanup removes.
var mysqlTemplates struct {
	mu   sync.Mutex
	dirs map[string]string // run directory → initialised data directory
}

// mysqlTemplate returns an initialised data directory to copy, making it
// the first time.
func (c *Cluster) mysqlTemplate(ctx context.Context, root string) (string, error) {
	mysqlTemplates.mu.Lock()
	defer mysqlTemplates.mu.Unlock()
	if d, ok := mysqlTemplates.dirs[c.runDir]; ok {
		if _, err := os.Stat(d); err == nil {
			return d, nil
		}
	}
	base := filepath.Join(c.runDir, fmt.Sprintf("mysql-template-%d-%d", os.Getpid(), time.Now().UnixNano()))
	tmp := filepath.Join(base, "tmp") // a tmpdir of its own: see startMariaDB
	for _, d := range []string{base, tmp} {
		if err := os.Mkdir(d, 0o700); err != nil {
			return "", err
		}
		if c.cred != nil {
			if err := os.Chown(d, int(c.cred.Uid), int(c.cred.Gid)); err != nil {
				return "", err
			}
		}
	}
	initFile := filepath.Join(base, "init.sql")
	if err := c.writeFile(initFile, mysqlInit); err != nil {
		return "", err
	}
	data := filepath.Join(base, "data")
	cmd := mysqld(root, "--initialize-insecure", "--datadir="+data, "--init-file="+initFile,
		"--log-error="+filepath.Join(base, "initialize.err"), "--tmpdir="+tmp)
	if err := c.run(ctx, cmd[0], cmd[1:]...); err != nil {
		b, _ := os.ReadFile(filepath.Join(base, "initialize.err"))
		return "", fmt.Errorf("%w\n%s", err, tail(b, 2000))
	}
	if mysqlTemplates.dirs == nil {
		mysqlTemplates.dirs = map[string]string{}
	}
	mysqlTemplates.dirs[c.runDir] = data
	return data, nil
}
