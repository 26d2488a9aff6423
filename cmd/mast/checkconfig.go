package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/mastmq/mast/broker"
	"github.com/mastmq/mast/config"
	"github.com/mastmq/mast/listener"
)

// runCheckConfig reads a configuration file (YAML or mosquitto.conf), says
// what it means to mast, and checks what serve would check before
// starting: certificate and key files, password and ACL files, exposure.
func runCheckConfig(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("mast check-config", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: mast check-config FILE")
		fmt.Fprintln(stderr)
		fmt.Fprintln(stderr, "Reads a mast YAML file or a Mosquitto configuration file (mosquitto.conf),")
		fmt.Fprintln(stderr, "prints what it means to mast, and exits 1 if mast serve would refuse it.")
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return 2
	}
	path := fs.Arg(0)
	data, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintln(stderr, "mast check-config:", err)
		return 1
	}
	cfg, err := config.LoadAny(path)
	if err != nil {
		for _, line := range strings.Split(err.Error(), "\n") {
			fmt.Fprintln(stderr, "mast check-config:", line)
		}
		return 1
	}
	describeConfig(stdout, path, config.DetectFormat(path, data), cfg)
	problems := checkConfigFiles(cfg)
	if len(problems) > 0 {
		for _, p := range problems {
			fmt.Fprintln(stderr, "mast check-config:", p)
		}
		return 1
	}
	fmt.Fprintln(stdout, "\nOK")
	return 0
}

// checkConfigFiles finds what would stop serve: files it cannot read and
// listeners open to anyone.
func checkConfigFiles(cfg *config.Config) []string {
	var problems []string
	readable := func(what, path string) {
		if path == "" {
			return
		}
		f, err := os.Open(path)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", what, err))
			return
		}
		f.Close()
	}
	readable("password file", cfg.Auth.PasswordFile)
	readable("ACL file", cfg.Auth.ACLFile)
	for _, l := range cfg.Listeners {
		if l.TLS != nil {
			if _, err := l.TLS.ServerConfig(); err != nil {
				problems = append(problems, fmt.Sprintf("listener %s: %v", l, err))
			}
		}
		if l.Auth != nil {
			readable("listener "+l.String()+": password file", l.Auth.PasswordFile)
			readable("listener "+l.String()+": ACL file", l.Auth.ACLFile)
		}
	}
	if err := cfg.CheckExposure(); err != nil {
		problems = append(problems, "mast serve would refuse to start: "+err.Error())
	}
	return problems
}

func describeConfig(w io.Writer, path, format string, cfg *config.Config) {
	what := "mast YAML configuration"
	if format == config.FormatMosquitto {
		what = "Mosquitto configuration"
	}
	fmt.Fprintf(w, "%s: %s, as mast reads it\n", path, what)

	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	section := func(name string) { fmt.Fprintf(tw, "\n%s\n", name) }
	row := func(k, v string) { fmt.Fprintf(tw, "  %s\t%s\n", k, v) }

	section("listeners")
	for _, l := range cfg.Listeners {
		lines := describeListener(l)
		row(l.String(), lines[0])
		for _, more := range lines[1:] {
			row("", more)
		}
	}

	section("authentication")
	if cfg.PerListenerSettings {
		row("per listener", "yes (per_listener_settings): see each listener above")
	} else {
		row("anonymous clients", anonymousAccess(cfg.Auth.AllowAnonymous, cfg.Auth.PasswordFile, cfg.Listeners))
		row("password file", noneIfEmpty(cfg.Auth.PasswordFile))
		row("ACL file", noneIfEmpty(cfg.Auth.ACLFile))
	}
	if cfg.Broker.DisallowEmptyClientID {
		row("empty client ids", "refused")
	}

	o := cfg.Broker.Defaults()
	section("limits")
	if cfg.Limits.MaxConnections > 0 {
		row("connections", fmt.Sprintf("at most %d over all listeners", cfg.Limits.MaxConnections))
	} else {
		row("connections", "no limit over all listeners")
	}
	row("packet size", fmt.Sprintf("at most %d bytes", o.MaxPacketSize))
	if cfg.Limits.MessageSizeLimit > 0 {
		row("message payload", fmt.Sprintf("at most %d bytes", cfg.Limits.MessageSizeLimit))
	}
	row("in flight to a client", fmt.Sprint(o.MaxInflight))
	row("queued per session", fmt.Sprint(o.MaxQueued))
	row("receive maximum", fmt.Sprint(o.ReceiveMaximum))
	row("outbound bytes", fmt.Sprintf("%d per connection", o.MaxOutboundBytes))
	if o.MaxKeepAlive > 0 {
		row("keep alive", fmt.Sprintf("at most %d s", o.MaxKeepAlive))
	} else {
		row("keep alive", "no cap")
	}
	row("CONNECT timeout", o.ConnectTimeout.String())

	section("mqtt")
	row("max QoS", fmt.Sprint(o.MaxQoS))
	row("retained messages", onOrOff(!o.DisableRetain))
	row("QoS 0 for offline sessions", onOrOff(o.QueueQoS0))
	if o.SysInterval < 0 {
		row("$SYS topics", "off")
	} else {
		row("$SYS topics", "every "+o.SysInterval.String())
	}

	section("persistence")
	p := cfg.Persistence
	if p.Memory {
		row("store", "none: in memory only, lost at exit")
	} else {
		row("store", p.DataDir)
		every := broker.Options{SyncInterval: p.SyncInterval}.Defaults().SyncInterval
		durability := map[broker.Durability]string{
			broker.DurabilitySync:  "sync: acknowledged once on disk",
			broker.DurabilityBatch: "batch: synced every " + every.String(),
			broker.DurabilityNone:  "none: the system writes back when it likes",
		}[p.Durability]
		row("durability", durability)
	}

	section("logging")
	row("level", levelName(cfg.Log.Level))
	row("every packet (-v)", onOrOff(cfg.Log.Verbose))
	row("format", cfg.Log.Format)
	dest := "stderr"
	if len(cfg.Log.Dest) > 0 {
		dest = strings.Join(cfg.Log.Dest, ", ")
	}
	if cfg.Log.File != "" {
		dest = strings.Replace(dest, "file", "file "+cfg.Log.File, 1)
	}
	row("to", dest)
	if cfg.Log.Types != nil {
		var types []string
		for t := range cfg.Log.Types {
			types = append(types, t)
		}
		slices.Sort(types)
		row("Mosquitto log types", noneIfEmpty(strings.Join(types, ", ")))
	}
	row("connection messages", onOrOff(!cfg.Log.NoConnectionMessages))
	if cfg.PIDFile != "" {
		row("pid file", cfg.PIDFile)
	}
	if cfg.HTTP.Listen != "" {
		section("http")
		row("address", cfg.HTTP.Listen)
		row("token", map[bool]string{true: "set", false: "none"}[cfg.HTTP.Token != ""])
	}
	if c := cfg.Cluster; c.Listen != "" {
		section("cluster")
		row("node", c.Name)
		row("routes accepted on", c.Listen)
		row("seed routes", noneIfEmpty(strings.Join(c.Routes, ", ")))
		row("route secret", map[bool]string{true: "set", false: "none"}[c.Secret != ""])
		if c.JetStream {
			row("replicated sessions", fmt.Sprintf("on, %d replicas, messages kept %v, partition policy %s",
				c.Replicas, c.LogMaxAge, map[bool]string{true: c.Partition, false: "quorum"}[c.Partition != ""]))
		} else {
			row("replicated sessions", "off: sessions stay on their node")
		}
	}
	tw.Flush()

	if len(cfg.Warnings) > 0 {
		fmt.Fprintln(w, "\nwarnings")
		for _, warn := range cfg.Warnings {
			fmt.Fprintln(w, "  "+warn)
		}
	}
}

func describeListener(l listener.Config) []string {
	var first []string
	switch l.Network {
	case "unix":
		first = append(first, "unix socket")
	case "tcp4":
		first = append(first, "IPv4")
	case "tcp6":
		first = append(first, "IPv6")
	default:
		first = append(first, "IPv4 and IPv6")
	}
	proto := "MQTT"
	if l.TLS != nil {
		min := l.TLS.MinVersion
		if min == "" {
			min = "1.2"
		}
		proto = "MQTT over TLS " + min + "+"
	}
	first = append([]string{proto}, first...)
	if l.IsLoopback() && l.Network != "unix" {
		first = append(first, "this machine only")
	}
	if l.MaxConnections > 0 {
		first = append(first, fmt.Sprintf("at most %d connections", l.MaxConnections))
	}
	lines := []string{strings.Join(first, ", ")}
	if t := l.TLS; t != nil {
		lines = append(lines, "certificate "+t.CertFile+", key "+t.KeyFile)
		switch {
		case t.RequireCertificate:
			lines = append(lines, "client certificate required, signed by a CA in "+t.CAFile)
		case t.CAFile != "":
			lines = append(lines, "client certificates not asked for (CA file "+t.CAFile+" unused without require_certificate)")
		}
		switch {
		case t.UseIdentityAsUsername:
			lines = append(lines, "user name: the certificate's Common Name (password file not used)")
		case t.UseSubjectAsUsername:
			lines = append(lines, "user name: the certificate's subject (password file not used)")
		}
	}
	if a := l.Auth; a != nil {
		lines = append(lines, "anonymous clients "+anonymousAccess(a.AllowAnonymous, a.PasswordFile, []listener.Config{l}))
		lines = append(lines, "password file "+noneIfEmpty(a.PasswordFile)+", ACL file "+noneIfEmpty(a.ACLFile))
	}
	return lines
}

// anonymous says whether anonymous clients get in, by the same rule as
// the broker: allowed when said, refused when said, and when not said,
// allowed only on loopback listeners without a password file.
func anonymousAccess(allow *bool, passwordFile string, ls []listener.Config) string {
	switch {
	case allow != nil && *allow:
		return "allowed"
	case allow != nil:
		return "refused"
	case passwordFile != "":
		return "refused (not said; there is a password file)"
	}
	for _, l := range ls {
		if !l.IsLoopback() {
			return "refused (not said; a listener is reachable from other machines)"
		}
	}
	return "allowed (not said; every listener is on this machine only)"
}

func noneIfEmpty(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func onOrOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

func levelName(l slog.Level) string {
	if l >= config.LevelOff {
		return "off"
	}
	return strings.ToLower(l.String())
}
