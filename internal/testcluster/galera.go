package testcluster

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// galeraProvider is the Galera 4 library Debian's galera-4 package installs.
const galeraProvider = "/usr/lib/galera/libgalera_smm.so"

// newClusterFlag bootstraps a new Galera cluster. Only the first node's
// first start gets it: a node restarted with it would found a second
// cluster next to the first (a split brain).
const newClusterFlag = "--wsrep-new-cluster"

// fastFlags size a Galera or master-master server for tests: small buffers
// and no fsync. Every commit is still written to the operating system
// (innodb_flush_log_at_trx_commit=2, not 0), so a server killed with
// SIGKILL keeps its acknowledged commits: with 0 a killed master lost its
// last mysql.gtid_slave_pos updates and, restarted, fetched its peer's
// transactions again and stopped on a GTID strict-mode error.
var fastFlags = []string{
	"--innodb-buffer-pool-size=8M",
	"--innodb-log-file-size=8M",
	"--innodb-flush-log-at-trx-commit=2",
	"--innodb-doublewrite=0",
	"--sync-binlog=0",
	"--binlog-format=ROW",
	"--log-slave-updates=1",
}

// galeraTimeouts make a node that died or was cut off leave the others'
// view in about two seconds instead of Galera's five (suspect_timeout), and
// a node that never answers in four instead of fifteen.
const galeraTimeouts = "evs.keepalive_period=PT0.5S;evs.suspect_timeout=PT2S;evs.inactive_timeout=PT4S;evs.install_timeout=PT4S"

// galeraPaths returns the server and installer programs and checks that the
// Galera provider, the rsync SST script and rsync are installed.
func galeraPaths() (server, installer string, err error) {
	server, installer, err = mariadbPaths()
	if err != nil {
		return "", "", err
	}
	if _, err := os.Stat(galeraProvider); err != nil {
		return "", "", fmt.Errorf("%w: no %s (apt-get install galera-4)", ErrUnavailable, galeraProvider)
	}
	for _, prog := range []string{"wsrep_sst_rsync", "rsync"} {
		if _, err := exec.LookPath(prog); err != nil {
			return "", "", fmt.Errorf("%w: no %s in PATH (apt-get install mariadb-server rsync)", ErrUnavailable, prog)
		}
	}
	return server, installer, nil
}

// StartGalera starts a MariaDB Galera cluster of 1+opts.Replicas nodes
// (default 3) on loopback: node1 is the cluster's Primary, the others its
// Replicas, and every node is writable. Nodes start one at a time, each
// joiner receiving its data from a synced node by rsync SST, and StartGalera
// returns once every node is Synced. opts.Delay is not supported.
func StartGalera(ctx context.Context, opts Options) (*Cluster, error) {
	if opts.Delay != 0 {
		return nil, fmt.Errorf("testcluster: galera: Delay %v is not supported (every node applies at once)", opts.Delay)
	}
	if opts.Replicas < 0 {
		return nil, fmt.Errorf("testcluster: galera: Replicas %d: want 0 (default: 2) or more", opts.Replicas)
	}
	if opts.Replicas == 0 {
		opts.Replicas = 2
	}
	server, installer, err := galeraPaths()
	if err != nil {
		return nil, err
	}
	return launch(Galera, "mysql", opts, func(c *Cluster) error { return c.startGalera(ctx, server, installer) })
}

// installMariaDB makes a data directory with the shared users in the
// cluster's directory, to copy for each server.
func (c *Cluster) installMariaDB(ctx context.Context, installer string) (string, error) {
	boot := filepath.Join(c.dir, "bootstrap.sql")
	if err := c.writeFile(boot, mariadbBootstrap); err != nil {
		return "", err
	}
	template := filepath.Join(c.dir, "template")
	tmp, err := c.mkdir("template-tmp") // a tmpdir per server: see startMariaDB
	if err != nil {
		return "", err
	}
	args := []string{"--no-defaults", "--datadir=" + template, "--skip-test-db", "--skip-name-resolve",
		"--auth-root-authentication-method=socket", "--extra-file=" + boot, "--tmpdir=" + tmp}
	if err := c.run(ctx, installer, args...); err != nil {
		return "", err
	}
	return template, nil
}

func (c *Cluster) startGalera(ctx context.Context, server, installer string) error {
	t0 := time.Now()
	template, err := c.installMariaDB(ctx, installer)
	if err != nil {
		return err
	}
	n := 1 + c.opts.Replicas
	type ports struct{ group, ist, sst int }
	p := make([]ports, n)
	addrs := make([]string, n)
	for i := range p {
		for _, port := range []*int{&p[i].group, &p[i].ist, &p[i].sst} {
			if *port, err = freePort(); err != nil {
				return err
			}
		}
		addrs[i] = fmt.Sprintf("127.0.0.1:%d", p[i].group)
	}
	for i := 0; i < n; i++ {
		// Joiners' data directories are replaced by SST; the copy only
		// saves an install.
		s, flags, err := c.copyNamedServer(ctx, i, fmt.Sprintf("node%d", i+1), template)
		if err != nil {
			return err
		}
		s.args = append([]string{server, "--no-defaults"}, flags...)
		s.args = append(s.args, fastFlags...)
		s.args = append(s.args,
			"--innodb-autoinc-lock-mode=2",
			"--wsrep-on=ON",
			"--wsrep-provider="+galeraProvider,
			"--wsrep-cluster-name="+filepath.Base(c.dir),
			"--wsrep-cluster-address=gcomm://"+strings.Join(addrs, ","),
			fmt.Sprintf("--wsrep-node-name=node%d", i+1),
			"--wsrep-node-address="+addrs[i],
			fmt.Sprintf("--wsrep-provider-options=gmcast.listen_addr=tcp://%s;ist.recv_addr=127.0.0.1:%d;gcache.size=16M;%s",
				addrs[i], p[i].ist, galeraTimeouts),
			fmt.Sprintf("--wsrep-sst-receive-address=127.0.0.1:%d", p[i].sst),
			"--wsrep-sst-method=rsync",
			"--wsrep-gtid-mode=ON",
			"--wsrep-gtid-domain-id=0",
			fmt.Sprintf("--gtid-domain-id=%d", i+1),
		)
		if i == 0 {
			c.Primary = s
		} else {
			c.Replicas = append(c.Replicas, s)
		}
	}
	os.RemoveAll(template)
	for i, s := range c.Servers() {
		if i == 0 {
			s.args = append(s.args, newClusterFlag)
		}
		err := s.Restart(ctx)
		if i == 0 {
			s.args = slices.DeleteFunc(s.args, func(a string) bool { return a == newClusterFlag })
		}
		if err != nil {
			return err
		}
		c.logf("galera %s synced after %v", s.Name, time.Since(t0).Round(time.Millisecond))
	}
	return nil
}

// WsrepStatus returns s's wsrep_* status variables (SHOW GLOBAL STATUS),
// keyed by lower-case name.
func (c *Cluster) WsrepStatus(ctx context.Context, s *Server) (map[string]string, error) {
	db, err := c.OpenAdmin(s)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	return wsrepStatus(ctx, db)
}

func wsrepStatus(ctx context.Context, db *sql.DB) (map[string]string, error) {
	rows, err := db.QueryContext(ctx, "SHOW GLOBAL STATUS LIKE 'wsrep%'")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	m := map[string]string{}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return nil, err
		}
		m[strings.ToLower(k)] = v
	}
	return m, rows.Err()
}

// WaitSynced waits until s is a Synced member of the cluster's Primary
// component (wsrep_local_state 4, wsrep_cluster_status Primary,
// wsrep_ready ON), its process exits, or ctx ends.
func (c *Cluster) WaitSynced(ctx context.Context, s *Server) error {
	return c.waitWsrep(ctx, s, "Synced in the Primary component", func(m map[string]string) bool {
		return m["wsrep_local_state"] == "4" && m["wsrep_cluster_status"] == "Primary" && m["wsrep_ready"] == "ON"
	})
}

// waitWsrep waits until s's wsrep status satisfies ok, s's process exits,
// or ctx ends.
func (c *Cluster) waitWsrep(ctx context.Context, s *Server, what string, ok func(map[string]string) bool) error {
	db, err := c.OpenAdmin(s)
	if err != nil {
		return err
	}
	defer db.Close()
	return s.poll(ctx, 2*time.Second, what, func(ctx context.Context) error {
		m, err := wsrepStatus(ctx, db)
		if err != nil || ok(m) {
			return err
		}
		return fmt.Errorf("state=%s cluster=%s size=%s ready=%s", m["wsrep_local_state_comment"],
			m["wsrep_cluster_status"], m["wsrep_cluster_size"], m["wsrep_ready"])
	})
}

// errNotGalera is returned by the Galera helpers on other kinds of cluster.
var errNotGalera = errors.New("testcluster: not a Galera cluster")

// Desync sets wsrep_desync on s (SET GLOBAL wsrep_desync): on, s reports
// Donor/Desynced (wsrep_local_state 2) and no longer holds back the cluster
// with flow control; off, it catches up and is Synced again. Desync waits
// for the state it asks for.
func (c *Cluster) Desync(ctx context.Context, s *Server, on bool) error {
	if err := c.galeraSet(ctx, s, "desync", "wsrep_desync="+onOff(on)); err != nil {
		return err
	}
	if !on {
		return c.WaitSynced(ctx, s)
	}
	return c.waitWsrep(ctx, s, "Desynced", func(m map[string]string) bool { return m["wsrep_local_state"] == "2" })
}

// Isolate cuts s off from the rest of the cluster, or lets it back in
// (Galera's gmcast.isolate): isolated, s is alone in a non-Primary component
// (wsrep_cluster_status non-Primary, wsrep_ready OFF) while the others keep
// the quorum without it. Isolate waits until s and every other running node
// see the change (back in: s is Synced again).
func (c *Cluster) Isolate(ctx context.Context, s *Server, on bool) error {
	v := 0
	if on {
		v = 1
	}
	if err := c.galeraSet(ctx, s, "isolate", fmt.Sprintf("wsrep_provider_options='gmcast.isolate=%d'", v)); err != nil {
		return err
	}
	if !on {
		if err := c.WaitSynced(ctx, s); err != nil {
			return err
		}
	} else if err := c.waitWsrep(ctx, s, "isolated", func(m map[string]string) bool {
		return m["wsrep_cluster_status"] != "Primary" && m["wsrep_cluster_size"] == "1"
	}); err != nil {
		return err
	}
	running := 0
	for _, o := range c.Servers() {
		if o.Running() {
			running++
		}
	}
	want := fmt.Sprint(running)
	if on {
		want = fmt.Sprint(running - 1)
	}
	for _, o := range c.Servers() {
		if o == s || !o.Running() {
			continue
		}
		if err := c.waitWsrep(ctx, o, "in a component of "+want, func(m map[string]string) bool {
			return m["wsrep_cluster_size"] == want
		}); err != nil {
			return err
		}
	}
	return nil
}

// Bootstrap makes s, stranded in a non-Primary component (its peers died
// or were cut off), the Primary component on its own
// (pc.bootstrap=YES), so that it serves again and the others can rejoin it.
// Bootstrapping a node while another Primary component exists makes two
// clusters: a split brain, which is what a test may want to provoke.
// Bootstrap waits until s is Synced in a Primary component.
func (c *Cluster) Bootstrap(ctx context.Context, s *Server) error {
	if err := c.galeraSet(ctx, s, "bootstrap", "wsrep_provider_options='pc.bootstrap=YES'"); err != nil {
		return err
	}
	return c.WaitSynced(ctx, s)
}

// galeraSet runs SET GLOBAL setting on Galera node s, as the admin; what
// names the helper in its error.
func (c *Cluster) galeraSet(ctx context.Context, s *Server, what, setting string) error {
	if c.Kind != Galera {
		return errNotGalera
	}
	db, err := c.OpenAdmin(s)
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "SET GLOBAL "+setting); err != nil {
		return fmt.Errorf("testcluster: %s %s: %w", what, s.Name, err)
	}
	return nil
}

func onOff(on bool) string {
	if on {
		return "ON"
	}
	return "OFF"
}
