package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/mastmq/mast/config"
)

// clusterFlags are the serve flags that join a cluster; they override
// the configuration file's cluster section.
type clusterFlags struct {
	node, listen, partition string
	routes                  listFlag
	jetstream               string // "", "true" or "false"
	replicas                int
}

func (f *clusterFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.node, "node", "", "this node's `name` in the cluster (unique)")
	fs.StringVar(&f.listen, "cluster-listen", "", "join a cluster: accept routes from other nodes on `host:port`")
	fs.Var(&f.routes, "route", "seed route to another node, nats-route://`host:port` (repeatable)")
	fs.StringVar(&f.jetstream, "cluster-jetstream", "", "keep persistent sessions, their messages and retained messages replicated: true (default) or false")
	fs.IntVar(&f.replicas, "cluster-replicas", 0, "replicas of the replicated state (default 3)")
	fs.StringVar(&f.partition, "cluster-partition", "", "partition policy: quorum (default) or available")
}

func (f *clusterFlags) apply(cfg *config.Config) error {
	secret := os.Getenv("MAST_CLUSTER_SECRET")
	set := f.node != "" || f.listen != "" || len(f.routes) > 0 || f.jetstream != "" || f.replicas != 0 || f.partition != ""
	if !set {
		if secret != "" && cfg.Cluster.Listen != "" {
			cfg.Cluster.Secret = secret
		}
		return nil
	}
	c := &cfg.Cluster
	if c.Listen == "" {
		*c = config.Cluster{JetStream: true, Replicas: 3, LogMaxAge: 24 * time.Hour}
	}
	if f.listen != "" {
		c.Listen = f.listen
	}
	if c.Listen == "" {
		return fmt.Errorf("cluster flags need --cluster-listen (or a cluster section in the configuration)")
	}
	if f.node != "" {
		c.Name = f.node
	}
	if secret != "" {
		// From the environment, not a flag: a flag shows in ps.
		c.Secret = secret
	}
	if len(f.routes) > 0 {
		c.Routes = append([]string(nil), f.routes...)
	}
	switch strings.ToLower(f.jetstream) {
	case "":
	case "true", "on", "1":
		c.JetStream = true
	case "false", "off", "0":
		c.JetStream = false
	default:
		return fmt.Errorf("--cluster-jetstream %q is not true or false", f.jetstream)
	}
	if f.replicas != 0 {
		if f.replicas < 1 || f.replicas > 5 {
			return fmt.Errorf("--cluster-replicas %d: want 1 to 5", f.replicas)
		}
		c.Replicas = f.replicas
	}
	switch f.partition {
	case "", "quorum", "available":
		if f.partition != "" {
			c.Partition = f.partition
		}
	default:
		return fmt.Errorf("--cluster-partition %q is not quorum or available", f.partition)
	}
	if c.JetStream && c.Name == "" {
		return fmt.Errorf("a cluster with replicated sessions needs a node name (--node or cluster.name)")
	}
	return nil
}
