// Command cluster starts test clusters for development and prints their
// DSNs, then waits for Ctrl-C and removes them.
//
//	go run ./internal/cmd/cluster [-kind postgresql|mariadb|mysql] [-replicas 2] [-delay 2s]
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/sqlreplica/sqlreplica/internal/testcluster"
)

func main() {
	kind := flag.String("kind", "postgresql", "postgresql, mariadb or mysql")
	replicas := flag.Int("replicas", 2, "number of replicas")
	delay := flag.Duration("delay", 0, "apply delay of the last replica")
	flag.Parse()
	start := map[string]func(context.Context, testcluster.Options) (*testcluster.Cluster, error){
		"postgresql": testcluster.StartPostgres, "mariadb": testcluster.StartMariaDB, "mysql": testcluster.StartMySQL,
	}[*kind]
	if start == nil {
		log.Fatalf("unknown kind %q", *kind)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	c, err := start(ctx, testcluster.Options{Replicas: *replicas, Delay: *delay, Logf: log.Printf})
	cancel()
	if err != nil {
		log.Fatal(err)
	}
	defer c.Stop()
	for _, s := range c.Servers() {
		fmt.Printf("%-9s %s\n          admin: %s\n", s.Name, c.DSN(s), c.AdminDSN(s))
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
}
