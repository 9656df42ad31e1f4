package testcluster

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
)

// PostgresBin returns the directory of PostgreSQL 15's programs:
// $SQLREPLICA_PG_BIN, or Debian's /usr/lib/postgresql/15/bin.
func PostgresBin() string {
	if d := os.Getenv("SQLREPLICA_PG_BIN"); d != "" {
		return d
	}
	return "/usr/lib/postgresql/15/bin"
}

// StartPostgres starts a PostgreSQL primary and its streaming replicas.
func StartPostgres(ctx context.Context, opts Options) (*Cluster, error) {
	bin := PostgresBin()
	if _, err := os.Stat(filepath.Join(bin, "postgres")); err != nil {
		return nil, fmt.Errorf("%w: no PostgreSQL in %s", ErrUnavailable, bin)
	}
	return launch(Postgres, "postgres", opts, func(c *Cluster) error { return c.startPostgres(ctx, bin) })
}

func (c *Cluster) startPostgres(ctx context.Context, bin string) error {
	t0 := time.Now()
	primary := &Server{Name: "primary", Dir: filepath.Join(c.dir, "primary"), c: c}
	if err := c.run(ctx, filepath.Join(bin, "initdb"), "-D", primary.Dir, "--auth=trust", "--username=postgres",
		"--no-sync", "--encoding=UTF8", "--locale=C"); err != nil {
		return err
	}
	if err := c.configurePostgres(primary, fmt.Sprintf(`
listen_addresses = '127.0.0.1'
unix_socket_directories = '%s'
wal_level = replica
max_wal_senders = 10
max_replication_slots = 10
hot_standby = on
wal_keep_size = '128MB'
fsync = off
full_page_writes = off
shared_buffers = '16MB'
max_connections = 60
wal_receiver_status_interval = '1s'
hot_standby_feedback = on
log_min_messages = warning
%s
`, c.dir, c.opts.PostgresConf)); err != nil {
		return err
	}
	primary.args = []string{filepath.Join(bin, "postgres"), "-D", primary.Dir}
	c.Primary = primary
	if err := startAll(ctx, primary); err != nil {
		return err
	}
	c.logf("postgresql primary on port %d after %v", primary.Port, time.Since(t0).Round(time.Millisecond))

	for i := 1; i <= c.opts.Replicas; i++ {
		r := &Server{Name: fmt.Sprintf("replica%d", i), Dir: filepath.Join(c.dir, fmt.Sprintf("replica%d", i)), c: c}
		if err := c.run(ctx, filepath.Join(bin, "pg_basebackup"),
			"-d", fmt.Sprintf("host=127.0.0.1 port=%d user=postgres application_name=%s", primary.Port, r.Name),
			"-D", r.Dir, "-R", "-X", "stream", "-C", "-S", r.Name, "--checkpoint=fast", "--no-sync"); err != nil {
			return err
		}
		extra := ""
		if i == c.opts.Replicas && c.opts.Delay > 0 {
			extra = fmt.Sprintf("recovery_min_apply_delay = '%dms'\n", c.opts.Delay.Milliseconds())
		}
		if err := c.configurePostgres(r, extra); err != nil {
			return err
		}
		r.args = []string{filepath.Join(bin, "postgres"), "-D", r.Dir}
		c.Replicas = append(c.Replicas, r)
	}
	if err := startAll(ctx, c.Replicas...); err != nil {
		return err
	}
	if err := c.waitStreaming(ctx); err != nil {
		return err
	}
	c.logf("postgresql cluster with %d replicas streaming after %v", len(c.Replicas), time.Since(t0).Round(time.Millisecond))
	return nil
}

// configurePostgres gives s a free port and appends conf to its
// postgresql.conf (later lines win over the copy a replica inherits).
func (c *Cluster) configurePostgres(s *Server, conf string) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	s.Port = port
	return c.appendFile(filepath.Join(s.Dir, "postgresql.conf"), fmt.Sprintf("%s\nport = %d\n", conf, port))
}

// waitStreaming waits until every replica streams from the primary.
func (c *Cluster) waitStreaming(ctx context.Context) error {
	db, err := sql.Open("pgx", c.DSN(c.Primary))
	if err != nil {
		return err
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		var n int
		err := db.QueryRowContext(ctx, `SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'`).Scan(&n)
		if err == nil && n == len(c.Replicas) {
			return nil
		}
		select {
		case <-ctx.Done():
			logs := make([]string, 0, len(c.Replicas))
			for _, r := range c.Replicas {
				logs = append(logs, r.Name+":\n"+r.Log())
			}
			return fmt.Errorf("testcluster: %d of %d replicas streaming (%v)\n%s", n, len(c.Replicas), err, strings.Join(logs, "\n"))
		case <-time.After(50 * time.Millisecond):
		}
	}
}
