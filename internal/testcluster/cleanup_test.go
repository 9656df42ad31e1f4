package testcluster

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// cleanupScript returns the path of the checkout's scripts/cleanup.sh.
func cleanupScript(t *testing.T) string {
	t.Helper()
	root := checkout()
	if root == "" {
		t.Fatal("not in a sqlreplica checkout")
	}
	return filepath.Join(root, "scripts", "cleanup.sh")
}

// newLinkedRun makes a run directory in the temporary directory, linked
// from parent's links/ so that parent's cleanup finds it if this test
// binary is killed before the test removes it.
func newLinkedRun(t *testing.T, parent, pattern string) string {
	t.Helper()
	dir, err := newRunDir(os.TempDir(), pattern)
	if err != nil {
		t.Fatal(err)
	}
	links := filepath.Join(parent, "links")
	if err := os.MkdirAll(links, 0o755); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(links, filepath.Base(dir))
	if err := os.Symlink(dir, link); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		os.RemoveAll(dir)
		os.Remove(link)
	})
	return dir
}

func (s *Server) pid() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cmd.Process.Pid
}

func (s *Server) waitExit(d time.Duration) bool {
	s.mu.Lock()
	done := s.done
	s.mu.Unlock()
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}

func records(t *testing.T, run string) []string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(run, "procs", "*"))
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// TestCleanupKillsOnlyItsOwnRun runs the real scripts/cleanup.sh on one
// run's directory while a "foreign" PostgreSQL cluster of another run, with
// the old /tmp/sqlreplica-postgresql-… naming, runs next to it. The foreign
// servers must still answer and keep their files, even though this run's
// directory holds records that name the foreign primary's PID with another
// start time or from another boot (a recycled PID); this run's own servers,
// left running as by a test binary that died without Stop, must be killed
// and its directory removed.
func TestCleanupKillsOnlyItsOwnRun(t *testing.T) {
	script := cleanupScript(t)
	outer, release, err := acquireRunDir(Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(release)
	foreignRun := newLinkedRun(t, outer, "sqlreplica-postgresql-")
	ownRun := newLinkedRun(t, outer, "sqlreplica-run-")

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	foreign, err := StartPostgres(ctx, Options{Replicas: 1, Logf: t.Logf, runDir: foreignRun})
	if err != nil {
		unavailable(t, Postgres, err)
	}
	t.Cleanup(func() { _ = foreign.Stop() })
	if old := filepath.Join(os.TempDir(), "sqlreplica-postgresql-"); !strings.HasPrefix(foreign.Primary.Dir, old) {
		t.Fatalf("foreign data directory %s does not have the old naming %s…", foreign.Primary.Dir, old)
	}
	own, err := StartPostgres(ctx, Options{Replicas: 1, Logf: t.Logf, runDir: ownRun})
	if err != nil {
		unavailable(t, Postgres, err)
	}
	// By the time this runs the servers are gone; it releases the handles.
	t.Cleanup(func() { _ = own.Stop() })
	if n := len(records(t, ownRun)); n != 2 {
		t.Fatalf("%d process groups recorded in %s, want 2 (primary and replica)", n, ownRun)
	}

	// Records a recycled PID would leave: the foreign primary's PID with
	// another start time, and with its own start time but another boot.
	id, err := identify(foreign.Primary.pid())
	if err != nil {
		t.Fatal(err)
	}
	for i, rec := range []string{
		fmt.Sprintf("%d %d %s", id.pid, id.start+1, id.boot),
		fmt.Sprintf("%d %d %s", id.pid, id.start, "00000000-0000-0000-0000-000000000000"),
	} {
		if err := os.WriteFile(filepath.Join(ownRun, "procs", fmt.Sprintf("recycled-%d", i)), []byte(rec+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	out, err := exec.Command("bash", script, ownRun).CombinedOutput()
	t.Logf("scripts/cleanup.sh %s:\n%s", ownRun, out)
	if err != nil {
		t.Fatalf("cleanup.sh: %v", err)
	}

	// The foreign cluster is untouched.
	for _, s := range foreign.Servers() {
		if !s.Running() {
			t.Errorf("foreign %s was killed:\n%s", s.Name, s.Log())
			continue
		}
		db, err := sql.Open("pgx", foreign.DSN(s))
		if err != nil {
			t.Fatal(err)
		}
		var one int
		if err := db.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
			t.Errorf("foreign %s does not answer: %v", s.Name, err)
		}
		db.Close()
		if _, err := os.Stat(filepath.Join(s.Dir, "PG_VERSION")); err != nil {
			t.Errorf("foreign %s lost its files: %v", s.Name, err)
		}
	}
	// This run's servers are gone and so is its directory.
	for _, s := range own.Servers() {
		if !s.waitExit(10 * time.Second) {
			t.Errorf("own %s still runs after cleanup", s.Name)
		}
	}
	if _, err := os.Stat(ownRun); !os.IsNotExist(err) {
		t.Errorf("own run directory %s still there after cleanup: %v", ownRun, err)
	}

	// Stop stops the foreign servers by their PIDs and leaves nothing: no
	// record, no cluster directory.
	if err := foreign.Stop(); err != nil {
		t.Fatal(err)
	}
	for _, s := range foreign.Servers() {
		if s.Running() {
			t.Errorf("foreign %s still runs after Stop", s.Name)
		}
	}
	if recs := records(t, foreignRun); len(recs) != 0 {
		t.Errorf("records left after Stop: %v", recs)
	}
	if _, err := os.Stat(foreign.dir); !os.IsNotExist(err) {
		t.Errorf("cluster directory %s still there after Stop: %v", foreign.dir, err)
	}
}

// TestRunDirFromEnvironment checks that a run directory named by
// SQLREPLICA_RUN_DIR is used only when it is one: marked, and searchable by
// the servers' user.
func TestRunDirFromEnvironment(t *testing.T) {
	unmarked := t.TempDir()
	closed := t.TempDir()
	if err := os.WriteFile(filepath.Join(closed, runMarker), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(closed, 0o700); err != nil {
		t.Fatal(err)
	}
	good := t.TempDir()
	if err := os.WriteFile(filepath.Join(good, runMarker), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(good, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		dir     string
		wantErr string
	}{
		{unmarked, "is not a run directory"},
		{closed, "must be searchable"},
		{good, ""},
	} {
		t.Run(filepath.Base(tc.dir), func(t *testing.T) {
			t.Setenv(RunDirEnv, tc.dir)
			dir, release, err := acquireRunDir(Options{})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			release()
			if dir != tc.dir {
				t.Fatalf("run directory %s, want %s", dir, tc.dir)
			}
			if _, err := os.Stat(dir); err != nil {
				t.Fatalf("the harness removed a run directory it did not make: %v", err)
			}
		})
	}
}

// TestProcessRunDir checks the run directory a process makes without
// SQLREPLICA_RUN_DIR: shared by its clusters, marked with this process and
// checkout, and removed with the last user.
func TestProcessRunDir(t *testing.T) {
	t.Setenv(RunDirEnv, "")
	procRun.mu.Lock()
	busy := procRun.users > 0 // clusters of other tests use it
	procRun.mu.Unlock()
	a, releaseA, err := acquireRunDir(Options{})
	if err != nil {
		t.Fatal(err)
	}
	b, releaseB, err := acquireRunDir(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if a != b {
		t.Fatalf("two run directories in one process: %s, %s", a, b)
	}
	marker, err := os.ReadFile(filepath.Join(a, runMarker))
	if err != nil {
		t.Fatal(err)
	}
	me, err := identify(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("owner=%s\ncheckout=%s\n", me, checkout())
	if string(marker) != want {
		t.Fatalf("marker %q, want %q", marker, want)
	}
	releaseA()
	releaseA() // a second call must not release b's share
	if _, err := os.Stat(a); err != nil {
		t.Fatalf("run directory removed while still in use: %v", err)
	}
	releaseB()
	if _, err := os.Stat(a); !busy && !os.IsNotExist(err) {
		t.Fatalf("run directory %s left after its last user: %v", a, err)
	}
}
