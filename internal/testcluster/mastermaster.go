package testcluster

import (
	"context"
	"fmt"
	"os"
	"time"
)

// StartMasterMaster starts 1+opts.Replicas MariaDB servers (default 2) in a
// ring, each replicating the one before it by GTID: with two, a
// master-master pair. Every server is writable and has its own
// gtid_domain_id (server n: n) and auto_increment_offset (n), with
// auto_increment_increment the number of servers, so their ids never
// collide. The Primary is master1, the Replicas the others; opts.Delay
// delays the replication into the last server.
func StartMasterMaster(ctx context.Context, opts Options) (*Cluster, error) {
	if opts.Replicas < 0 {
		return nil, fmt.Errorf("testcluster: master-master: Replicas %d: want 0 (default: 1) or more", opts.Replicas)
	}
	if opts.Delay < 0 {
		return nil, fmt.Errorf("testcluster: master-master: Delay %v: want 0 or more", opts.Delay)
	}
	server, installer, err := mariadbPaths()
	if err != nil {
		return nil, err
	}
	return launch(MasterMaster, "mysql", opts, func(c *Cluster) error { return c.startMasterMaster(ctx, server, installer) })
}

func (c *Cluster) startMasterMaster(ctx context.Context, server, installer string) error {
	t0 := time.Now()
	template, err := c.installMariaDB(ctx, installer)
	if err != nil {
		return err
	}
	n := 1 + c.opts.Replicas
	for i := 0; i < n; i++ {
		s, flags, err := c.copyNamedServer(ctx, i, fmt.Sprintf("master%d", i+1), template)
		if err != nil {
			return err
		}
		s.args = append([]string{server, "--no-defaults"}, flags...)
		s.args = append(s.args, fastFlags...)
		s.args = append(s.args,
			"--gtid-strict-mode=1",
			fmt.Sprintf("--gtid-domain-id=%d", i+1),
			fmt.Sprintf("--auto-increment-increment=%d", n),
			fmt.Sprintf("--auto-increment-offset=%d", i+1),
		)
		if i == 0 {
			c.Primary = s
		} else {
			c.Replicas = append(c.Replicas, s)
		}
	}
	os.RemoveAll(template)
	servers := c.Servers()
	if err := startAll(ctx, servers...); err != nil {
		return err
	}
	c.logf("master-master servers up after %v", time.Since(t0).Round(time.Millisecond))
	for i, s := range servers {
		delay := time.Duration(0)
		if i == n-1 {
			delay = c.opts.Delay
		}
		if err := c.PointReplica(ctx, s, servers[(i+n-1)%n], delay); err != nil {
			return err
		}
	}
	if err := c.waitThreads(ctx, servers); err != nil {
		return err
	}
	c.logf("master-master ring of %d replicating after %v", n, time.Since(t0).Round(time.Millisecond))
	return nil
}
