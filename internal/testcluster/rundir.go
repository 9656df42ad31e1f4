package testcluster

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// RunDirEnv names the environment variable that gives the run directory
// every cluster directory of a run lives in. scripts/with-run-dir.sh makes
// one for `make test`, `make demo` and `make cluster`, and
// scripts/cleanup.sh removes it and everything it recorded when the run
// ends. Without it each process makes a run directory of its own, which the
// harness removes when the process's last cluster stops.
//
// A run directory holds:
//
//	sqlreplica-run       marker: "owner=PID STARTTIME BOOTID" and "checkout=DIR"
//	procs/PGID-STARTTIME  one record "PGID STARTTIME BOOTID" per live process group
//	links/NAME            symbolic links to other run directories to clean with it
//	KIND-XXXX/            one directory per cluster
//
// STARTTIME is field 22 of /proc/PID/stat and BOOTID the kernel's boot id:
// together they name a process so that a recycled PID never matches.
const RunDirEnv = "SQLREPLICA_RUN_DIR"

// runMarker is the file that makes a directory a run directory; cleanup
// removes nothing that lacks it.
const runMarker = "sqlreplica-run"

// procRun is the process's own run directory, shared by the clusters of a
// process started without [RunDirEnv] and removed with the last of them.
var procRun struct {
	mu    sync.Mutex // guards dir and users
	dir   string
	users int
}

// acquireRunDir returns the directory a new cluster's directory goes in, and
// a function the cluster calls once when it has removed its directory.
func acquireRunDir(opts Options) (string, func(), error) {
	if opts.runDir != "" {
		return opts.runDir, func() {}, nil
	}
	if dir := os.Getenv(RunDirEnv); dir != "" {
		if _, err := os.Stat(filepath.Join(dir, runMarker)); err != nil {
			return "", nil, fmt.Errorf("testcluster: %s=%q is not a run directory (make one with scripts/with-run-dir.sh): %w", RunDirEnv, dir, err)
		}
		if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm()&0o001 == 0 {
			return "", nil, fmt.Errorf("testcluster: %s=%q must be searchable by the servers' user (chmod 755)", RunDirEnv, dir)
		}
		return dir, func() {}, nil
	}
	procRun.mu.Lock()
	defer procRun.mu.Unlock()
	if procRun.dir == "" {
		dir, err := newRunDir(os.TempDir(), "sqlreplica-run-")
		if err != nil {
			return "", nil, err
		}
		procRun.dir = dir
	}
	procRun.users++
	dir := procRun.dir
	var once sync.Once
	return dir, func() {
		once.Do(func() {
			procRun.mu.Lock()
			defer procRun.mu.Unlock()
			procRun.users--
			if procRun.users == 0 {
				_ = os.RemoveAll(procRun.dir)
				procRun.dir = ""
			}
		})
	}, nil
}

// newRunDir makes a run directory in parent, owned by this process.
func newRunDir(parent, pattern string) (string, error) {
	dir, err := os.MkdirTemp(parent, pattern)
	if err != nil {
		return "", err
	}
	// The servers' user must reach its cluster directory inside.
	if err := os.Chmod(dir, 0o755); err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	me, err := identify(os.Getpid())
	if err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	marker := fmt.Sprintf("owner=%s\ncheckout=%s\n", me, checkout())
	if err := os.WriteFile(filepath.Join(dir, runMarker), []byte(marker), 0o644); err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	return dir, nil
}

// identity names a process for as long as it lives and never another one.
type identity struct {
	pid   int
	pgrp  int
	start uint64 // clock ticks after boot (field 22 of /proc/PID/stat)
	boot  string
}

// String returns the record form "PID STARTTIME BOOTID".
func (id identity) String() string {
	return fmt.Sprintf("%d %d %s", id.pid, id.start, id.boot)
}

// identify reads pid's identity from /proc.
func identify(pid int) (identity, error) {
	boot, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return identity{}, fmt.Errorf("testcluster: boot id: %w", err)
	}
	f, err := procStat(strconv.Itoa(pid))
	if err != nil {
		return identity{}, fmt.Errorf("testcluster: identify process %d: %w", pid, err)
	}
	pgrp, err1 := strconv.Atoi(f[2])
	start, err2 := strconv.ParseUint(f[19], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return identity{}, fmt.Errorf("testcluster: /proc/%d/stat: %w", pid, err)
	}
	return identity{pid: pid, pgrp: pgrp, start: start, boot: strings.TrimSpace(string(boot))}, nil
}

// recordGroup records the process group that pid leads in run's procs
// directory and returns the record's path, to remove once pid has been
// waited for.
func recordGroup(run string, pid int) (string, error) {
	id, err := identify(pid)
	if err != nil {
		return "", err
	}
	if id.pgrp != pid {
		return "", fmt.Errorf("testcluster: process %d does not lead its process group (%d)", pid, id.pgrp)
	}
	procs := filepath.Join(run, "procs")
	if err := os.MkdirAll(procs, 0o755); err != nil {
		return "", err
	}
	path := filepath.Join(procs, fmt.Sprintf("%d-%d", id.pid, id.start))
	// Write and rename, so that cleanup never reads half a record.
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(id.String()+"\n"), 0o644); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return "", err
	}
	return path, nil
}

// checkout returns the root of the sqlreplica checkout the process runs in
// (the first directory up from the working directory whose go.mod declares
// the module), or "" when there is none. scripts/cleanup.sh --abandoned
// cleans only runs that name its own checkout.
func checkout() string {
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	if d, err := filepath.EvalSymlinks(dir); err == nil {
		dir = d
	}
	for {
		if f, err := os.Open(filepath.Join(dir, "go.mod")); err == nil {
			sc := bufio.NewScanner(f)
			mod := ""
			for sc.Scan() {
				if rest, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "module "); ok {
					mod = strings.TrimSpace(rest)
					break
				}
			}
			f.Close()
			if mod == "github.com/sqlreplica/sqlreplica" {
				return dir
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// procStat returns the fields of /proc/PID/stat from the third (the state)
// on: f[0] is the state, f[2] the process group, f[19] the start time.
func procStat(pid string) ([]string, error) {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return nil, err
	}
	// The command name (field 2) is in parentheses and may hold anything.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 > len(b) {
		return nil, fmt.Errorf("/proc/%s/stat unreadable", pid)
	}
	f := strings.Fields(string(b[i+2:]))
	if len(f) < 20 {
		return nil, fmt.Errorf("/proc/%s/stat too short", pid)
	}
	return f, nil
}
