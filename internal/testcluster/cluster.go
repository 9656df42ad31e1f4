// Package testcluster starts real, throwaway replicated database clusters on
// loopback for the project's integration tests, benchmarks and demo:
// PostgreSQL 15 with streaming replicas, MariaDB 10.11 with GTID replicas,
// Oracle MySQL 9 with GTID replicas (best effort), and two multi-primary
// MariaDB topologies: a Galera cluster and a master-master pair.
//
// Servers run as an unprivileged user (postgres or mysql when the caller is
// root, the caller otherwise), in a directory of the run's directory (see
// [RunDirEnv]), on free ports. Each process the harness starts leads a
// process group of its own that gets SIGKILL if the process that started it
// dies, and is recorded in the run directory while it lives; Stop removes
// everything. So no exit path leaves a server running, and
// scripts/cleanup.sh, given the run directory, finds whatever a killed test
// binary left and nothing else.
package testcluster

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Kind names a server family.
type Kind uint8

const (
	// Postgres is PostgreSQL 15 with streaming replication.
	Postgres Kind = iota + 1
	// MariaDB is MariaDB 10.11 with GTID replication.
	MariaDB
	// MySQL is Oracle MySQL 9 with GTID replication (best effort: see
	// scripts/fetch-mysql.sh).
	MySQL
	// Galera is a MariaDB 10.11 Galera cluster (three nodes by default): the
	// Primary is node1, the Replicas the other nodes, and every node is
	// writable. See [StartGalera].
	Galera
	// MasterMaster is two MariaDB 10.11 servers (or a ring of more) that
	// replicate each other with GTID, both writable. See
	// [StartMasterMaster].
	MasterMaster
)

// String returns the kind's name.
func (k Kind) String() string {
	switch k {
	case Postgres:
		return "postgresql"
	case MariaDB:
		return "mariadb"
	case MySQL:
		return "mysql"
	case Galera:
		return "galera"
	case MasterMaster:
		return "master-master"
	}
	return "unknown"
}

// ErrUnavailable is returned when the servers' programs are not installed.
var ErrUnavailable = errors.New("testcluster: server programs not installed")

// Options shape a cluster. The zero value gives one primary and one replica.
type Options struct {
	// Replicas is the number of replicas (default 1).
	Replicas int
	// Delay makes the last replica apply changes this late (PostgreSQL
	// recovery_min_apply_delay; MariaDB MASTER_DELAY, in whole seconds).
	Delay time.Duration
	// Logf receives progress lines; nil discards them.
	Logf func(format string, args ...any)
	// PostgresConf holds extra postgresql.conf lines for every server of a
	// PostgreSQL cluster (ignored by the other kinds), appended after the
	// harness's own settings so that they win over them: for example
	// "max_connections = 200" or "shared_preload_libraries =
	// 'pg_stat_statements'". Empty: none.
	PostgresConf string

	runDir string // tests: the run directory instead of the process's
}

// Server is one database server process.
type Server struct {
	Name string // "primary", "replica1", …
	Port int
	Dir  string // data directory

	c    *Cluster
	args []string // program and arguments

	mu   sync.Mutex // guards cmd and done
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
}

// Cluster is a primary and its replicas.
type Cluster struct {
	Kind     Kind
	Primary  *Server
	Replicas []*Server

	dir     string              // the cluster's directory, in run
	runDir  string              // the run directory, where process groups are recorded
	release func()              // called once the cluster's directory is gone
	cred    *syscall.Credential // nil: run as the caller
	opts    Options
	logf    func(string, ...any)
}

// Servers returns the primary followed by the replicas.
func (c *Cluster) Servers() []*Server {
	return append([]*Server{c.Primary}, c.Replicas...)
}

// DriverName is the database/sql driver name for the cluster's servers.
func (c *Cluster) DriverName() string {
	if c.Kind == Postgres {
		return "pgx"
	}
	return "mysql"
}

// DSN returns the application's data source name for s: PostgreSQL's
// superuser (a standby refuses its writes too), or MariaDB's least-privileged
// app user, which read_only stops on a replica.
func (c *Cluster) DSN(s *Server) string {
	if c.Kind == Postgres {
		return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable&connect_timeout=5", s.Port)
	}
	return fmt.Sprintf("app:app@tcp(127.0.0.1:%d)/app?parseTime=true&timeout=5s", s.Port)
}

// AdminDSN returns a data source name with every privilege on s.
func (c *Cluster) AdminDSN(s *Server) string {
	if c.Kind == Postgres {
		return c.DSN(s)
	}
	return fmt.Sprintf("admin:admin@tcp(127.0.0.1:%d)/app?parseTime=true&timeout=5s&multiStatements=true", s.Port)
}

// Env returns the environment that examples/quickstart reads to reach the
// cluster, as NAME=value pairs: SQLREPLICA_DRIVER, SQLREPLICA_PRIMARY and
// SQLREPLICA_REPLICAS (the replicas' DSNs, separated by commas).
func (c *Cluster) Env() [][2]string {
	replicas := make([]string, len(c.Replicas))
	for i, r := range c.Replicas {
		replicas[i] = c.DSN(r)
	}
	return [][2]string{
		{"SQLREPLICA_DRIVER", c.DriverName()},
		{"SQLREPLICA_PRIMARY", c.DSN(c.Primary)},
		{"SQLREPLICA_REPLICAS", strings.Join(replicas, ",")},
	}
}

// Open opens a pool on s with the application's DSN.
func (c *Cluster) Open(s *Server) (*sql.DB, error) {
	return sql.Open(c.DriverName(), c.DSN(s))
}

// OpenAdmin opens a pool on s with every privilege.
func (c *Cluster) OpenAdmin(s *Server) (*sql.DB, error) {
	return sql.Open(c.DriverName(), c.AdminDSN(s))
}

// Stop stops every server and removes the cluster's files. Galera nodes
// are killed: their files go anyway, and a clean shutdown of a whole
// cluster takes seconds.
func (c *Cluster) Stop() error {
	var wg sync.WaitGroup
	for _, s := range c.Servers() {
		if s == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if c.Kind == Galera {
				_ = s.Kill()
			} else {
				_ = s.Stop()
			}
		}()
	}
	wg.Wait()
	err := os.RemoveAll(c.dir)
	c.release()
	return err
}

// launch makes a cluster of kind whose servers run as the user runAs, and
// starts it with start; a cluster that fails to start is stopped.
func launch(kind Kind, runAs string, opts Options, start func(*Cluster) error) (*Cluster, error) {
	c, err := newCluster(kind, runAs, opts)
	if err != nil {
		return nil, err
	}
	if err := start(c); err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

func newCluster(kind Kind, runAs string, opts Options) (*Cluster, error) {
	if opts.Replicas <= 0 {
		opts.Replicas = 1
	}
	c := &Cluster{Kind: kind, opts: opts, logf: opts.Logf}
	if c.logf == nil {
		c.logf = func(string, ...any) {}
	}
	run, release, err := acquireRunDir(opts)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(run, kind.String()+"-")
	if err != nil {
		release()
		return nil, err
	}
	c.dir, c.runDir, c.release = dir, run, release
	fail := func(err error) (*Cluster, error) {
		os.RemoveAll(dir)
		release()
		return nil, err
	}
	if os.Geteuid() == 0 {
		u, err := user.Lookup(runAs)
		if err != nil {
			return fail(fmt.Errorf("testcluster: %s runs as user %q: %w", kind, runAs, err))
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		c.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(dir, uid, gid); err != nil {
			return fail(err)
		}
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return fail(err)
	}
	return c, nil
}

// command builds a command that runs as the cluster's user, in its own
// process group, and dies with the process that started it.
func (c *Cluster) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = c.dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred, Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Env = append(os.Environ(), "LC_ALL=C", "TZ=UTC")
	return cmd
}

// startRecorded starts cmd and records its process group in the run
// directory. It returns the record's path, to remove once cmd has been
// waited for. A group that cannot be recorded is killed: cleanup could not
// find it.
func (c *Cluster) startRecorded(cmd *exec.Cmd) (string, error) {
	if err := cmd.Start(); err != nil {
		return "", err
	}
	rec, err := recordGroup(c.runDir, cmd.Process.Pid)
	if err != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
		return "", err
	}
	return rec, nil
}

// run runs a short command and returns its combined output in the error.
func (c *Cluster) run(ctx context.Context, name string, args ...string) error {
	cmd := c.command(ctx, name, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	rec, err := c.startRecorded(cmd)
	if err == nil {
		err = cmd.Wait()
		os.Remove(rec)
	}
	if err != nil {
		return fmt.Errorf("%s %s: %w\n%s", filepath.Base(name), strings.Join(args, " "), err, tail(out.Bytes(), 2000))
	}
	return nil
}

// writeFile writes a file the cluster's user owns.
func (c *Cluster) writeFile(path, content string) error {
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		return err
	}
	if c.cred != nil {
		return os.Chown(path, int(c.cred.Uid), int(c.cred.Gid))
	}
	return nil
}

// mkdir makes a directory in the cluster's directory that the cluster's
// user owns.
func (c *Cluster) mkdir(name string) (string, error) {
	dir := filepath.Join(c.dir, name)
	if err := os.Mkdir(dir, 0o700); err != nil {
		return "", err
	}
	if c.cred != nil {
		if err := os.Chown(dir, int(c.cred.Uid), int(c.cred.Gid)); err != nil {
			return "", err
		}
	}
	return dir, nil
}

func (c *Cluster) appendFile(path, content string) error {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(content)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// start starts s's process. It does not wait for the server to be ready.
func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		select {
		case <-s.done:
		default:
			return fmt.Errorf("testcluster: %s is already running", s.Name)
		}
	}
	cmd := s.c.command(context.Background(), s.args[0], s.args[1:]...)
	logf, err := os.OpenFile(filepath.Join(s.c.dir, s.Name+".log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	rec, err := s.c.startRecorded(cmd)
	if err != nil {
		logf.Close()
		return fmt.Errorf("testcluster: start %s: %w", s.Name, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		os.Remove(rec)
		logf.Close()
		close(done)
	}()
	s.cmd, s.done = cmd, done
	return nil
}

// Running reports whether s's process is alive.
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return false
	}
	select {
	case <-s.done:
		return false
	default:
		return true
	}
}

// Kill kills s and everything it started with SIGKILL, as a crash would, and
// waits for it to be gone.
func (s *Server) Kill() error {
	return s.signal(syscall.SIGKILL, 0)
}

// Stop asks s to shut down (a fast shutdown) and kills it if it has not
// within 15 seconds.
func (s *Server) Stop() error {
	sig := syscall.SIGTERM
	if s.c.Kind == Postgres {
		sig = syscall.SIGINT
	}
	if s.c.Kind == MySQL && s.Running() {
		s.killBinlogDumps()
	}
	return s.signal(sig, 15*time.Second)
}

func (s *Server) signal(sig syscall.Signal, grace time.Duration) error {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.mu.Unlock()
	if cmd == nil {
		return nil
	}
	select {
	case <-done:
		return nil
	default:
	}
	pgid := cmd.Process.Pid
	if sig == syscall.SIGKILL {
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
	} else {
		_ = cmd.Process.Signal(sig)
	}
	if grace > 0 {
		select {
		case <-done:
		case <-time.After(grace):
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			<-done
		}
	} else {
		<-done
	}
	// The group's other members (PostgreSQL backends) may outlive the leader
	// for a moment after a crash; make sure none is left, and wait until
	// they are gone: a PostgreSQL server restarted while a killed backend
	// still holds its shared memory refuses to start.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	waitGroupGone(pgid, 10*time.Second)
	return nil
}

// waitGroupGone waits, at most d, until no live process (zombies do not
// count) is left in process group pgid.
func waitGroupGone(pgid int, d time.Duration) {
	deadline := time.Now().Add(d)
	for groupAlive(pgid) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
}

// groupAlive reports whether a live process is in process group pgid.
func groupAlive(pgid int) bool {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return false
	}
	want := strconv.Itoa(pgid)
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		f, err := procStat(e.Name())
		if err == nil && f[0] != "Z" && f[2] == want {
			return true
		}
	}
	return false
}

// Log returns the end of s's log, for failure messages.
func (s *Server) Log() string {
	b, _ := os.ReadFile(filepath.Join(s.c.dir, s.Name+".log"))
	if s.c.Kind != Postgres {
		e, _ := os.ReadFile(filepath.Join(s.c.dir, s.Name+".err"))
		b = append(b, e...)
	}
	return string(tail(b, 3000))
}

// Restart starts a stopped or killed server again and waits until it
// accepts connections; a Galera node, until it is Synced in the cluster's
// Primary component too (it cannot be if no running node holds a quorum).
func (s *Server) Restart(ctx context.Context) error {
	if err := s.start(); err != nil {
		return err
	}
	if err := s.waitReady(ctx); err != nil {
		return err
	}
	if s.c.Kind == Galera {
		return s.c.WaitSynced(ctx, s)
	}
	return nil
}

// waitReady waits until s accepts connections, its process exits, or ctx
// ends.
func (s *Server) waitReady(ctx context.Context) error {
	db, err := sql.Open(s.c.DriverName(), s.c.AdminDSN(s))
	if err != nil {
		return err
	}
	defer db.Close()
	return s.poll(ctx, time.Second, "ready", db.PingContext)
}

// poll calls check every 50 ms, each call bounded by per, until it returns
// nil, s's process exits, or ctx ends. what names the state awaited, and
// check's last error says why s was not in it yet.
func (s *Server) poll(ctx context.Context, per time.Duration, what string, check func(context.Context) error) error {
	s.mu.Lock()
	done := s.done
	s.mu.Unlock()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		cctx, cancel := context.WithTimeout(ctx, per)
		err := check(cctx)
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-done:
			return fmt.Errorf("testcluster: %s exited while waiting to be %s:\n%s", s.Name, what, s.Log())
		case <-ctx.Done():
			return fmt.Errorf("testcluster: %s not %s: %w (last error: %v)\n%s", s.Name, what, ctx.Err(), err, s.Log())
		case <-tick.C:
		}
	}
}

// freePort returns a port on 127.0.0.1 that was free a moment ago and that
// it has not returned before in this process.
//
// It prefers a port below the kernel's ephemeral range: a server binds its
// ports seconds after they are chosen (a Galera joiner its IST and SST ports
// only when it joins), and a port of the ephemeral range may meanwhile be
// taken by any outgoing connection on the machine, which a port below it
// never is. Only when none is found there does it take an ephemeral one.
// Meanwhile the same port must not go to another cluster: this process
// remembers what it handed out, and each process picks from its own part of
// the range (by its process id), so that the test binaries make test runs
// side by side rarely meet.
func freePort() (int, error) {
	low := ephemeralLow()
	span := (low - portFloor) / portSlices
	base := portFloor + (os.Getpid()%portSlices)*span
	handedOut.Lock()
	defer handedOut.Unlock()
	for range 50 {
		port := base + rand.IntN(span)
		if handedOut.ports[port] {
			continue
		}
		if l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			l.Close()
			handedOut.ports[port] = true
			return port, nil
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// handedOut records the ports freePort returned. Ports are the machine's,
// so the record is the process's, not a cluster's.
var handedOut = struct {
	sync.Mutex
	ports map[int]bool
}{ports: map[int]bool{}}

// portSlices is how many parts freePort's range is cut into, one per
// process id modulo it.
const portSlices = 8

// portFloor is the lowest port freePort picks: below it lie the ports
// well-known services use.
const portFloor = 10000

// ephemeralLow returns the first port of the kernel's ephemeral range
// (net.ipv4.ip_local_port_range), or Linux's default when it cannot be read.
func ephemeralLow() int {
	low := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil && n > portFloor+1000 {
				low = n
			}
		}
	}
	return low
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// startAll starts servers in parallel and waits until each is ready.
func startAll(ctx context.Context, servers ...*Server) error {
	errs := make([]error, len(servers))
	var wg sync.WaitGroup
	for i, s := range servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.Restart(ctx)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}
