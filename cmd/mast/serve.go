package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/mastmq/mast/admin"
	"github.com/mastmq/mast/broker"
	"github.com/mastmq/mast/config"
	"github.com/mastmq/mast/listener"
	"github.com/mastmq/mast/metrics"
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
	cfgPath := fs.String("c", "", "read the YAML configuration `file`")
	fs.Var(&ports, "p", "listen on 127.0.0.1:`port` (repeatable)")
	fs.Var(&listens, "listen", "listen on `host:port` or unix:PATH (repeatable)")
	verbose := fs.Bool("v", false, "verbose: log every packet the way mosquitto -v does")
	logFormat := fs.String("log-format", "", "log format: text or json")
	logLevel := fs.String("log-level", "", "log level: debug, info, warn or error")
	dataDir := fs.String("data-dir", "", "keep sessions and retained messages in `dir` (default "+config.DefaultDataDir+")")
	memory := fs.Bool("memory", false, "keep everything in memory: nothing survives a restart")
	durability := fs.String("durability", "", "when writes are synced: sync (default), batch or none")
	httpAddr := fs.String("http", "", "serve /metrics, /healthz, /readyz and the admin API on `host:port`")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "mast serve: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	cfg := config.Default()
	if *cfgPath != "" {
		var err error
		if cfg, err = config.Load(*cfgPath); err != nil {
			fmt.Fprintln(stderr, "mast serve:", err)
			return 1
		}
	}
	if err := applyServeFlags(cfg, ports, listens, *verbose, *logFormat, *logLevel); err != nil {
		fmt.Fprintln(stderr, "mast serve:", err)
		return 2
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
			fmt.Fprintln(stderr, "mast serve: --durability:", err)
			return 2
		}
		cfg.Persistence.Durability = d
	}
	if *httpAddr != "" {
		cfg.HTTP.Listen = *httpAddr
	}
	if err := cfg.CheckExposure(); err != nil {
		fmt.Fprintln(stderr, "mast serve:", err)
		return 1
	}
	return serve(cfg, stderr)
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

func serve(cfg *config.Config, stderr io.Writer) int {
	logger := newLogger(cfg.Log, stderr)
	opts := cfg.Broker
	opts.Logger = logger
	opts.Verbose = cfg.Log.Verbose
	opts.Version = "mast " + version
	logger.Info("mast " + version + " starting")
	st, err := openStore(cfg.Persistence, logger)
	if err != nil {
		logger.Error(err.Error())
		return 1
	}
	if st != nil {
		defer st.Close()
		opts.Store = st
		opts.Durability = cfg.Persistence.Durability
		opts.SyncInterval = cfg.Persistence.SyncInterval
	}
	m := metrics.New()
	opts.Observer = m
	srv, err := broker.Open(opts)
	if err != nil {
		logger.Error(err.Error())
		return 1
	}
	m.Attach(srv)
	var web *admin.Server
	if cfg.HTTP.Listen != "" {
		web = admin.New(srv, m, admin.Options{Token: cfg.HTTP.Token})
		hln, err := net.Listen("tcp", cfg.HTTP.Listen)
		if err != nil {
			logger.Error("cannot open http listener", "address", cfg.HTTP.Listen, "err", err)
			return 1
		}
		hs := &http.Server{Handler: web, ReadHeaderTimeout: 10 * time.Second}
		go hs.Serve(hln)
		defer hs.Close()
		logger.Info("http on " + hln.Addr().String() + " (/metrics, /healthz, /readyz, /debug/pprof)")
	}

	var lns []net.Listener
	for _, lc := range cfg.Listeners {
		ln, err := listener.Listen(lc)
		if err != nil {
			logger.Error("cannot open listener", "address", lc.String(), "err", err)
			for _, l := range lns {
				l.Close()
			}
			return 1
		}
		lns = append(lns, ln)
		logger.Info("listening on " + ln.Addr().Network() + " " + ln.Addr().String())
	}
	errc := make(chan error, len(lns))
	for _, ln := range lns {
		go func() { errc <- srv.Serve(ln) }()
	}
	if web != nil {
		web.SetReady(true)
	}

	sigc := make(chan os.Signal, 1)
	signal.Notify(sigc, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigc)
	code := 0
	select {
	case sig := <-sigc:
		logger.Info("mast received signal " + sig.String() + ", shutting down")
	case err := <-errc:
		logger.Error("listener failed", "err", err)
		code = 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil && !errors.Is(err, broker.ErrServerClosed) {
		logger.Error("shutdown", "err", err)
		code = 1
	}
	logger.Info("mast " + version + " terminating")
	return code
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

func durabilityName(d broker.Durability) string {
	switch d {
	case broker.DurabilityBatch:
		return "batch"
	case broker.DurabilityNone:
		return "none"
	}
	return "sync"
}

// newLogger builds the process logger: JSON, or the console format with a
// Unix timestamp first as Mosquitto prints it.
func newLogger(l config.Log, w io.Writer) *slog.Logger {
	level := l.Level
	if l.Verbose && level > slog.LevelDebug {
		level = slog.LevelDebug
	}
	if l.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level}))
	}
	return slog.New(newConsoleHandler(w, level))
}
