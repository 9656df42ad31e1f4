// Command cluster starts a test cluster for development, prints its DSNs,
// and on SIGINT (Ctrl-C) or SIGTERM stops its servers and removes its files.
//
//	make cluster CLUSTER_FLAGS='-kind mariadb -replicas 1'
//
// or, by hand:
//
//	go build -o bin/cluster ./internal/cmd/cluster && bin/cluster [-kind postgresql|mariadb|mysql|galera|master-master] [-replicas 2] [-delay 2s]
//
// -kind galera starts a Galera cluster of 1+replicas nodes (all writable);
// -kind master-master a ring of 1+replicas MariaDB masters (default: a
// pair).
//
// Build it first rather than `go run` it: `go run` does not pass a SIGINT it
// gets on to the program (Ctrl-C in a terminal reaches both, `kill -INT`
// does not). If the program dies without stopping, its servers die with it
// (they get SIGKILL when it exits) and its run directory (see
// testcluster.RunDirEnv) is what scripts/cleanup.sh removes.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/sqlreplica/sqlreplica/internal/testcluster"
)

func main() {
	if err := run(); err != nil {
		log.Print(err)
		os.Exit(1)
	}
}

func run() error {
	kind := flag.String("kind", "postgresql", "postgresql, mariadb, mysql, galera or master-master")
	replicas := flag.Int("replicas", 2, "number of replicas (galera: nodes after the first; master-master: masters after the first, default 1)")
	delay := flag.Duration("delay", 0, "apply delay of the last replica")
	flag.Parse()
	if *kind == "master-master" && !flagSet("replicas") {
		*replicas = 1 // a pair
	}
	start := map[string]func(context.Context, testcluster.Options) (*testcluster.Cluster, error){
		"postgresql": testcluster.StartPostgres, "mariadb": testcluster.StartMariaDB, "mysql": testcluster.StartMySQL,
		"galera": testcluster.StartGalera, "master-master": testcluster.StartMasterMaster,
	}[*kind]
	if start == nil {
		return fmt.Errorf("unknown kind %q (want postgresql, mariadb, mysql, galera or master-master)", *kind)
	}
	if *replicas < 1 {
		return fmt.Errorf("-replicas %d: want 1 or more", *replicas)
	}
	if *delay < 0 {
		return fmt.Errorf("-delay %v: want 0 or more", *delay)
	}

	// A signal during start-up cancels it: the start functions stop what
	// they started when they fail.
	sigCtx, stopSignals := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stopSignals()
	ctx, cancel := context.WithTimeout(sigCtx, 2*time.Minute)
	c, err := start(ctx, testcluster.Options{Replicas: *replicas, Delay: *delay, Logf: log.Printf})
	cancel()
	if err != nil {
		return err
	}
	for _, s := range c.Servers() {
		fmt.Printf("%-9s %s\n          admin: %s\n", s.Name, c.DSN(s), c.AdminDSN(s))
	}
	fmt.Println("\nFor examples/quickstart, in another shell:")
	for _, kv := range c.Env() {
		fmt.Printf("export %s=%s\n", kv[0], shellQuote(kv[1]))
	}
	fmt.Println("go run ./examples/quickstart")
	fmt.Println("\nCtrl-C stops the cluster.")
	<-sigCtx.Done()
	// A second Ctrl-C kills the program at once; the servers die with it.
	stopSignals()
	log.Print("stopping the cluster")
	if err := c.Stop(); err != nil {
		return fmt.Errorf("stop: %w", err)
	}
	log.Print("stopped")
	return nil
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// flagSet reports whether the command line set the flag name.
func flagSet(name string) bool {
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}
