package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/mastmq/mast/broker"
	"github.com/mastmq/mast/config"
	"github.com/mastmq/mast/listener"
	"github.com/mastmq/mast/store"
	pebblestore "github.com/mastmq/mast/store/pebble"
)

// listFlag collects a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func runServe(args []string, _, stderr io.Writer) int {
	fs := flag.NewFlagSet("mast serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var listens, ports listFlag
	cfgPath := fs.String("c", "", "read the configuration `file` (mast YAML or mosquitto.conf)")
	fs.Var(&ports, "p", "listen on 127.0.0.1:`port` (repeatable)")
	fs.Var(&listens, "listen", "listen on `host:port`, unix:PATH or ws://host:port/path (repeatable)")
	verbose := fs.Bool("v", false, "verbose: log every packet the way mosquitto -v does")
	logFormat := fs.String("log-format", "", "log format: text or json")
	logLevel := fs.String("log-level", "", "log level: debug, info, warn or error")
	dataDir := fs.String("data-dir", "", "keep sessions and retained messages in `dir` (default "+config.DefaultDataDir+")")
	memory := fs.Bool("memory", false, "keep everything in memory: nothing survives a restart")
	durability := fs.String("durability", "", "when writes are synced: sync (default), batch or none")
	httpAddr := fs.String("http", "", "serve the dashboard, /metrics, /healthz, /readyz and /api/v1 on `host:port`")
	var cf clusterFlags
	cf.register(fs)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "mast serve: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	// load reads the configuration and applies the flags over it; a
	// reload (SIGHUP) calls it again.
	load := func() (*config.Config, error) {
		cfg := config.Default()
		if *cfgPath != "" {
			var err error
			if cfg, err = config.LoadAny(*cfgPath); err != nil {
				return nil, err
			}
		}
		if err := applyServeFlags(cfg, ports, listens, *verbose, *logFormat, *logLevel); err != nil {
			return nil, err
		}
		if *dataDir != "" {
			cfg.Persistence.DataDir = *dataDir
		}
		if *memory {
			cfg.Persistence.Memory = true
		}
		if *durability != "" {
			d, err := config.ParseDurability(*durability)
			if err != nil {
				return nil, fmt.Errorf("--durability: %w", err)
			}
			cfg.Persistence.Durability = d
		}
		if *httpAddr != "" {
			cfg.HTTP.Listen = *httpAddr
		}
		if err := cf.apply(cfg); err != nil {
			return nil, err
		}
		if err := cfg.CheckExposure(); err != nil {
			return nil, err
		}
		return cfg, nil
	}
	cfg, err := load()
	if err != nil {
		fmt.Fprintln(stderr, "mast serve:", err)
		return 1
	}
	return serve(cfg, load, stderr)
}

func applyServeFlags(cfg *config.Config, ports, listens []string, verbose bool, format, level string) error {
	if len(ports)+len(listens) > 0 {
		cfg.Listeners = nil
	}
	for _, p := range ports {
		if _, err := strconv.ParseUint(p, 10, 16); err != nil {
			return fmt.Errorf("-p %q is not a port number", p)
		}
		l, _ := listener.Parse(net.JoinHostPort("127.0.0.1", p))
		cfg.Listeners = append(cfg.Listeners, l)
	}
	for _, a := range listens {
		l, err := listener.Parse(a)
		if err != nil {
			return err
		}
		cfg.Listeners = append(cfg.Listeners, l)
	}
	if verbose {
		cfg.Log.Verbose = true
	}
	switch format {
	case "":
	case "text", "json":
		cfg.Log.Format = format
	default:
		return fmt.Errorf("--log-format %q is not text or json", format)
	}
	if level != "" {
		if err := cfg.Log.Level.UnmarshalText([]byte(level)); err != nil {
			return fmt.Errorf("--log-level %q is not debug, info, warn or error", level)
		}
	}
	return nil
}

// openStore opens the data directory, or returns nil for --memory.
func openStore(p config.Persistence, logger *slog.Logger) (store.Store, error) {
	if p.Memory {
		logger.Info("persistence off: sessions and retained messages live in memory only")
		return nil, nil
	}
	dir, err := filepath.Abs(p.DataDir)
	if err != nil {
		return nil, err
	}
	st, err := pebblestore.Open(dir, &pebblestore.Options{Logger: logger})
	if err != nil {
		return nil, fmt.Errorf("cannot open data directory %s: %w", dir, err)
	}
	logger.Info("data directory " + dir + " (durability " + durabilityName(p.Durability) + ")")
	return st, nil
}

// clusterStoreDir is where the cluster keeps its JetStream replicas:
// <data dir>/cluster, or a temporary directory (removed by cleanup)
// when persistence is off.
func clusterStoreDir(p config.Persistence) (dir string, cleanup func(), err error) {
	if p.Memory {
		dir, err = os.MkdirTemp("", "mast-cluster-")
		if err != nil {
			return "", nil, err
		}
		return dir, func() { os.RemoveAll(dir) }, nil
	}
	dir, err = filepath.Abs(filepath.Join(p.DataDir, pebblestore.ClusterDir))
	if err != nil {
		return "", nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", nil, fmt.Errorf("cluster store directory: %w", err)
	}
	return dir, func() {}, nil
}

func durabilityName(d broker.Durability) string {
	switch d {
	case broker.DurabilityBatch:
		return "batch"
	case broker.DurabilityNone:
		return "none"
	}
	return "sync"
}
