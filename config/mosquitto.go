package config

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mastmq/mast/listener"
)

// Mosquitto's configuration file, read as Mosquitto 2.0 reads it: one
// directive per line, "#" comments, listener blocks, the deprecated default
// listener (port, bind_address), per_listener_settings and include_dir.
// Every directive either means something to mast or is an error naming its
// file and line; none is skipped in silence. docs/config.md lists them.

// Formats a configuration file can be in.
const (
	FormatYAML      = "yaml"
	FormatMosquitto = "mosquitto"
)

// ErrUnsupported marks a Mosquitto directive (or value) that mast knows
// but does not implement yet.
var ErrUnsupported = listener.ErrNotSupported

// LineError is a problem at one line of a Mosquitto configuration file.
type LineError struct {
	File string
	Line int
	Err  error
}

func (e *LineError) Error() string { return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err) }
func (e *LineError) Unwrap() error { return e.Err }

// DetectFormat says which format a configuration file is in. A name
// ending in .yaml or .yml is YAML and one ending in .conf is Mosquitto's;
// otherwise a file whose first directive (the first line that is neither
// blank nor a comment) begins with a word Mosquitto knows, not followed by
// a colon, is Mosquitto's, and anything else is YAML.
func DetectFormat(path string, data []byte) string {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".yaml", ".yml":
		return FormatYAML
	case ".conf":
		return FormatMosquitto
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		if f := strings.Fields(line); knownMosquittoDirective(f[0]) {
			return FormatMosquitto
		}
		return FormatYAML
	}
	return FormatYAML
}

// LoadAny reads a configuration file in either format (see DetectFormat):
// what `mast serve -c FILE` and `mast check-config FILE` read.
func LoadAny(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if DetectFormat(path, data) == FormatMosquitto {
		return ParseMosquitto(path, data)
	}
	c, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// LoadMosquitto reads a Mosquitto configuration file. Every error names its
// file and line (a *LineError); all of them are reported, joined, rather
// than only the first, so that one run lists everything to change.
func LoadMosquitto(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return ParseMosquitto(path, data)
}

// ParseMosquitto reads Mosquitto configuration text; name is the file it
// came from, for messages. Relative paths in it (include_dir, password
// files, certificates) are relative to the current directory, as they are
// for Mosquitto.
func ParseMosquitto(name string, data []byte) (*Config, error) {
	p := &mparser{c: Default(), main: name, localOnly: true}
	p.def = &mlistener{maxConn: -1}
	p.parseFile(name, data, 0)
	p.finish()
	if len(p.errs) > 0 {
		return nil, errors.Join(p.errs...)
	}
	p.c.Warnings = p.warns
	return p.c, nil
}

// pos is a place in a configuration file.
type pos struct {
	file string
	line int
}

func (p pos) String() string { return fmt.Sprintf("%s:%d", p.file, p.line) }

// directive is one line: its name, its space-separated arguments and the
// rest of the line after the name (for values that may hold spaces, such
// as paths).
type directive struct {
	at   pos
	name string
	args []string
	rest string
}

// mauth is authentication for the whole broker or one listener.
type mauth struct {
	anon          *bool
	anonAt        pos
	pw, acl       string
	pwAt, aclAt   pos
	zeroLengthIDs *bool
}

// mlistener is a listener as the file describes it.
type mlistener struct {
	at       pos // the listener line; for the default listener, its first setting
	port     int
	host     string
	unixPath string
	domain   string
	protocol string

	certfile, keyfile, cafile  string
	certAt, keyAt, caAt        pos
	require, identity, subject bool
	tlsVersion                 string
	maxConn                    int // -1: no limit
	auth                       mauth
	portSet, used              bool
}

type mparser struct {
	c     *Config
	main  string
	errs  []error
	warns []string

	def       *mlistener   // the default listener: port, bind_address and settings before any listener line
	ls        []*mlistener // listener lines, in order
	cur       *mlistener   // where listener settings go
	global    mauth
	localOnly bool // no listener, port or bind_address: Mosquitto 2's local only mode

	perListener bool
	securityAt  pos // first security setting, for per_listener_settings' rule
	persistence bool
	location    string
	locationAt  pos
	logDests    []string
	logDestSet  bool
	logFileAt   pos
	logTypes    map[string]bool
	logTypeSet  bool
	pidAt       pos
}

func (p *mparser) errorf(at pos, format string, args ...any) {
	p.errs = append(p.errs, &LineError{File: at.file, Line: at.line, Err: fmt.Errorf(format, args...)})
}

// unsupported reports "WHAT: not supported by mast yet (NOTE)".
func (p *mparser) unsupported(at pos, what, note string) {
	if note != "" {
		note = " (" + note + ")"
	}
	p.errs = append(p.errs, &LineError{File: at.file, Line: at.line, Err: fmt.Errorf("%s: %w%s", what, ErrUnsupported, note)})
}

func (p *mparser) warnf(at pos, format string, args ...any) {
	p.warns = append(p.warns, at.String()+": "+fmt.Sprintf(format, args...))
}

func (p *mparser) parseFile(name string, data []byte, level int) {
	// Each file starts at the default listener, as in Mosquitto: settings
	// at the top of an included file do not join the main file's last
	// listener.
	saved := p.cur
	p.cur = p.def
	defer func() { p.cur = saved }()

	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		f := strings.Fields(line)
		d := &directive{at: pos{name, n}, name: f[0], args: f[1:], rest: strings.TrimSpace(line[len(f[0]):])}
		p.directive(d, level)
	}
	if err := sc.Err(); err != nil {
		p.errorf(pos{name, n + 1}, "%v", err)
	}
}

func (p *mparser) directive(d *directive, level int) {
	if d.name == "include_dir" {
		p.includeDir(d, level)
		return
	}
	if h, ok := mosquittoDirectives[d.name]; ok {
		h(p, d)
		return
	}
	if note, ok := unsupportedNote(d.name); ok {
		p.unsupported(d.at, d.name, note)
		return
	}
	hint := ""
	if strings.HasSuffix(d.name, ":") {
		hint = " (is this YAML? name the file .yaml)"
	}
	p.errorf(d.at, "unknown directive %q%s", d.name, hint)
}

// Value helpers. Each reports its own error and returns ok=false.

// value is the single argument of d. A trailing "#..." is a comment.
func (p *mparser) value(d *directive) (string, bool) {
	args := d.args
	for i, a := range args {
		if strings.HasPrefix(a, "#") {
			args = args[:i]
			break
		}
	}
	switch {
	case len(args) == 0:
		p.errorf(d.at, "%s needs a value", d.name)
		return "", false
	case len(args) > 1:
		p.errorf(d.at, "%s takes one value, got %q", d.name, strings.Join(args, " "))
		return "", false
	}
	return args[0], true
}

// text is the rest of the line after the name: a path may hold spaces.
func (p *mparser) text(d *directive) (string, bool) {
	if d.rest == "" {
		p.errorf(d.at, "%s needs a value", d.name)
		return "", false
	}
	return d.rest, true
}

func (p *mparser) boolean(d *directive) (bool, bool) {
	v, ok := p.value(d)
	if !ok {
		return false, false
	}
	switch v {
	case "true", "1":
		return true, true
	case "false", "0":
		return false, true
	}
	p.errorf(d.at, "%s: %q is not true or false", d.name, v)
	return false, false
}

// integer reads a whole number in [min, max].
func (p *mparser) integer(d *directive, min, max int) (int, bool) {
	v, ok := p.value(d)
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		p.errorf(d.at, "%s: %q is not a whole number", d.name, v)
		return 0, false
	}
	if n < min || n > max {
		p.errorf(d.at, "%s: %d is out of range %d..%d", d.name, n, min, max)
		return 0, false
	}
	return n, true
}

// setOnce sets a string that may be given once per scope, as Mosquitto
// requires ("Duplicate ... value").
func (p *mparser) setOnce(d *directive, dst *string, at *pos) {
	v, ok := p.text(d)
	if !ok {
		return
	}
	if *dst != "" {
		p.errorf(d.at, "%s given twice (first at %s)", d.name, *at)
		return
	}
	*dst, *at = v, d.at
}

// security is where authentication settings go: the current listener
// with per_listener_settings, the whole broker otherwise.
func (p *mparser) security(d *directive) *mauth {
	if p.securityAt.file == "" {
		p.securityAt = d.at
	}
	if p.perListener {
		return &p.cur.auth
	}
	return &p.global
}

// listenerSetting marks a setting of the current listener; one given
// before any listener line belongs to the default listener, and makes
// Mosquitto open it.
func (p *mparser) listenerSetting(d *directive, opens bool) *mlistener {
	if p.cur == p.def && opens && !p.def.used {
		p.def.used = true
		if p.def.at.file == "" {
			p.def.at = d.at
		}
	}
	return p.cur
}

// mosquittoDirectives are the directives mast supports, but include_dir,
// which directive handles itself.
var mosquittoDirectives = map[string]func(*mparser, *directive){
	"listener":                   (*mparser).listener,
	"port":                       (*mparser).port,
	"bind_address":               (*mparser).bindAddress,
	"socket_domain":              (*mparser).socketDomain,
	"protocol":                   (*mparser).protocol,
	"allow_anonymous":            (*mparser).allowAnonymous,
	"password_file":              (*mparser).passwordFile,
	"acl_file":                   func(p *mparser, d *directive) { a := p.security(d); p.setOnce(d, &a.acl, &a.aclAt) },
	"allow_zero_length_clientid": (*mparser).allowZeroLengthClientID,
	"cafile":                     func(p *mparser, d *directive) { l := p.listenerSetting(d, true); p.setOnce(d, &l.cafile, &l.caAt) },
	"certfile":                   func(p *mparser, d *directive) { l := p.listenerSetting(d, true); p.setOnce(d, &l.certfile, &l.certAt) },
	"keyfile":                    func(p *mparser, d *directive) { l := p.listenerSetting(d, true); p.setOnce(d, &l.keyfile, &l.keyAt) },
	"require_certificate":        func(p *mparser, d *directive) { p.listenerBool(d, func(l *mlistener) *bool { return &l.require }) },
	"use_identity_as_username":   func(p *mparser, d *directive) { p.listenerBool(d, func(l *mlistener) *bool { return &l.identity }) },
	"use_subject_as_username":    func(p *mparser, d *directive) { p.listenerBool(d, func(l *mlistener) *bool { return &l.subject }) },
	"tls_version":                (*mparser).tlsVersion,
	"max_connections":            (*mparser).maxConnections,
	"global_max_connections":     (*mparser).globalMaxConnections,
	"max_inflight_messages":      (*mparser).maxInflight,
	"max_queued_messages":        (*mparser).maxQueued,
	"max_packet_size":            (*mparser).maxPacketSize,
	"message_size_limit":         (*mparser).messageSizeLimit,
	"max_keepalive":              (*mparser).maxKeepAlive,
	"persistence":                func(p *mparser, d *directive) { p.persistence, _ = p.boolean(d) },
	"persistence_location":       func(p *mparser, d *directive) { p.setOnce(d, &p.location, &p.locationAt) },
	"retain_available":           (*mparser).retainAvailable,
	"queue_qos0_messages":        (*mparser).queueQoS0,
	"sys_interval":               (*mparser).sysInterval,
	"log_dest":                   (*mparser).logDest,
	"log_type":                   (*mparser).logType,
	"log_timestamp":              (*mparser).logTimestamp,
	"connection_messages":        (*mparser).connectionMessages,
	"per_listener_settings":      (*mparser).perListenerSettings,
	"set_tcp_nodelay":            (*mparser).setTCPNoDelay,
	"retry_interval":             (*mparser).retryInterval,
	"pid_file":                   func(p *mparser, d *directive) { p.setOnce(d, &p.c.PIDFile, &p.pidAt) },
}

func (p *mparser) listener(d *directive) {
	p.localOnly = false
	args := d.args
	for i, a := range args {
		if strings.HasPrefix(a, "#") {
			args = args[:i]
			break
		}
	}
	if len(args) == 0 || len(args) > 2 {
		p.errorf(d.at, "listener takes a port and an optional bind address or unix socket path, got %q", d.rest)
		p.cur = &mlistener{maxConn: -1} // keep reading its settings, but open nothing
		return
	}
	port, err := strconv.Atoi(args[0])
	if err != nil || port < 0 || port > 65535 {
		p.errorf(d.at, "listener: %q is not a port number (0 with a unix socket path, or 1..65535)", args[0])
		p.cur = &mlistener{maxConn: -1}
		return
	}
	l := &mlistener{at: d.at, port: port, maxConn: -1}
	switch {
	case port == 0 && len(args) < 2:
		p.errorf(d.at, "listener 0 needs a unix socket path")
	case port == 0:
		l.unixPath = args[1]
	case len(args) == 2:
		l.host = args[1]
	}
	p.ls = append(p.ls, l)
	p.cur = l
}

func (p *mparser) port(d *directive) {
	p.localOnly = false
	n, ok := p.integer(d, 1, 65535)
	if !ok {
		return
	}
	if p.def.portSet {
		p.warnf(d.at, "port given again; the last one is used")
	}
	p.def.port, p.def.portSet = n, true
	if p.def.at.file == "" {
		p.def.at = d.at
	}
}

func (p *mparser) bindAddress(d *directive) {
	p.localOnly = false
	v, ok := p.value(d)
	if !ok {
		return
	}
	if p.def.host != "" {
		p.errorf(d.at, "bind_address given twice")
		return
	}
	p.def.host = v
	if p.def.at.file == "" {
		p.def.at = d.at
	}
}

func (p *mparser) socketDomain(d *directive) {
	v, ok := p.value(d)
	if !ok {
		return
	}
	if v != "ipv4" && v != "ipv6" {
		p.errorf(d.at, "socket_domain: %q is not ipv4 or ipv6", v)
		return
	}
	p.listenerSetting(d, true).domain = v
}

func (p *mparser) protocol(d *directive) {
	v, ok := p.value(d)
	if !ok {
		return
	}
	switch v {
	case listener.ProtocolMQTT:
		p.listenerSetting(d, false).protocol = v
	case listener.ProtocolWebSockets:
		// Mosquitto ignores the HTTP path of WebSocket clients.
		p.listenerSetting(d, false).protocol = v
	default:
		p.errorf(d.at, "protocol: %q is not mqtt or websockets", v)
	}
}

func (p *mparser) allowAnonymous(d *directive) {
	a := p.security(d)
	if v, ok := p.boolean(d); ok {
		a.anon, a.anonAt = &v, d.at
	}
}

func (p *mparser) passwordFile(d *directive) {
	a := p.security(d)
	p.setOnce(d, &a.pw, &a.pwAt)
	if p.perListener {
		// A password file of its own opens the default listener in
		// Mosquitto; an acl_file or allow_anonymous alone does not.
		p.listenerSetting(d, true)
	}
}

func (p *mparser) allowZeroLengthClientID(d *directive) {
	a := p.security(d)
	if p.perListener {
		p.unsupported(d.at, "allow_zero_length_clientid for one listener (per_listener_settings true)", "")
		return
	}
	if v, ok := p.boolean(d); ok {
		a.zeroLengthIDs = &v
	}
}

func (p *mparser) listenerBool(d *directive, field func(*mlistener) *bool) {
	v, ok := p.boolean(d)
	if !ok {
		return
	}
	*field(p.listenerSetting(d, v)) = v
}

func (p *mparser) tlsVersion(d *directive) {
	v, ok := p.value(d)
	if !ok {
		return
	}
	l := p.listenerSetting(d, true)
	switch v {
	case "tlsv1.2":
		l.tlsVersion = "1.2"
	case "tlsv1.3":
		l.tlsVersion = "1.3"
	case "tlsv1.1", "tlsv1":
		p.unsupported(d.at, "tls_version "+v, "TLS 1.2 and 1.3 only")
	default:
		p.errorf(d.at, "tls_version: %q is not tlsv1.2 or tlsv1.3", v)
	}
}

func (p *mparser) maxConnections(d *directive) {
	n, ok := p.integer(d, math.MinInt32, math.MaxInt32)
	if !ok {
		return
	}
	if n == 0 {
		p.errorf(d.at, "max_connections 0 would refuse every client; use -1 for no limit")
		return
	}
	if n < 0 {
		n = -1
	}
	p.listenerSetting(d, n > 0).maxConn = n
}

func (p *mparser) globalMaxConnections(d *directive) {
	if n, ok := p.integer(d, math.MinInt32, math.MaxInt32); ok {
		p.c.Limits.MaxConnections = max(n, 0)
	}
}

func (p *mparser) maxInflight(d *directive) {
	n, ok := p.integer(d, math.MinInt32, 65535)
	if !ok {
		return
	}
	if n <= 0 {
		n = 65535 // no maximum: the client's Receive Maximum is the only bound
	}
	p.c.Broker.MaxInflight = n
}

func (p *mparser) maxQueued(d *directive) {
	n, ok := p.integer(d, math.MinInt32, math.MaxInt32)
	if !ok {
		return
	}
	if n <= 0 {
		p.warnf(d.at, "max_queued_messages %d means no maximum: a session's queue is bounded only by memory", n)
		n = math.MaxInt32
	}
	p.c.Broker.MaxQueued = n
}

func (p *mparser) maxPacketSize(d *directive) {
	if n, ok := p.integer(d, 20, 268435455); ok {
		p.c.Broker.MaxPacketSize = uint32(n)
	}
}

func (p *mparser) messageSizeLimit(d *directive) {
	if n, ok := p.integer(d, 0, 268435455); ok {
		p.c.Limits.MessageSizeLimit = uint32(n)
	}
}

func (p *mparser) maxKeepAlive(d *directive) {
	n, ok := p.integer(d, 0, 65535)
	if !ok {
		return
	}
	if n == 65535 {
		n = 0 // Mosquitto's default: no cap below the protocol's own
	}
	p.c.Broker.MaxKeepAlive = uint16(n)
}

func (p *mparser) retainAvailable(d *directive) {
	if v, ok := p.boolean(d); ok {
		p.c.Broker.DisableRetain = !v
	}
}

func (p *mparser) queueQoS0(d *directive) {
	if v, ok := p.boolean(d); ok {
		p.c.Broker.QueueQoS0 = v
	}
}

func (p *mparser) sysInterval(d *directive) {
	n, ok := p.integer(d, 0, 65535)
	if !ok {
		return
	}
	p.c.Broker.SysInterval = time.Duration(n) * time.Second
	if n == 0 {
		p.c.Broker.SysInterval = -1 // off
	}
}

func (p *mparser) logDest(d *directive) {
	if len(d.args) == 0 {
		p.errorf(d.at, "log_dest needs a destination")
		return
	}
	dest := d.args[0]
	switch dest {
	case "none":
		p.logDests = nil
	case "stderr", "stdout", "syslog", "topic", "dlt":
		if len(d.args) > 1 && !strings.HasPrefix(d.args[1], "#") {
			p.errorf(d.at, "log_dest takes one destination per line, got %q", d.rest)
			return
		}
	case "file":
		path := strings.TrimSpace(strings.TrimPrefix(d.rest, "file"))
		if path == "" {
			p.errorf(d.at, "log_dest file needs a file name")
			return
		}
		if p.c.Log.File != "" {
			p.errorf(d.at, "log_dest file given twice (first at %s); only one log file is possible", p.logFileAt)
			return
		}
		p.c.Log.File, p.logFileAt = path, d.at
	default:
		p.errorf(d.at, "log_dest: %q is not stderr, stdout, file, syslog, topic, dlt or none", dest)
		return
	}
	p.logDestSet = true
	if dest != "none" && !slices.Contains(p.logDests, dest) {
		p.logDests = append(p.logDests, dest)
	}
}

var mosquittoLogTypes = []string{"error", "warning", "notice", "information", "debug", "subscribe", "unsubscribe", "websockets", "internal", "all"}

func (p *mparser) logType(d *directive) {
	v, ok := p.value(d)
	if !ok {
		return
	}
	if v != "none" && !slices.Contains(mosquittoLogTypes, v) {
		p.errorf(d.at, "log_type: %q is not one of %s, none", v, strings.Join(mosquittoLogTypes, ", "))
		return
	}
	if !p.logTypeSet || v == "none" {
		p.logTypes = map[string]bool{}
	}
	p.logTypeSet = true
	if v != "none" {
		p.logTypes[v] = true
	}
}

func (p *mparser) logTimestamp(d *directive) {
	if v, ok := p.boolean(d); ok && !v {
		p.unsupported(d.at, "log_timestamp false", "every console line starts with its time")
	}
}

func (p *mparser) connectionMessages(d *directive) {
	if v, ok := p.boolean(d); ok {
		p.c.Log.NoConnectionMessages = !v
	}
}

func (p *mparser) perListenerSettings(d *directive) {
	v, ok := p.boolean(d)
	if !ok {
		return
	}
	if p.perListener {
		if !v {
			p.warnf(d.at, "per_listener_settings false ignored: once true it stays true, as in Mosquitto")
		}
		return
	}
	if v && p.securityAt.file != "" {
		p.errorf(d.at, "per_listener_settings must come before any other security setting (the first is at %s)", p.securityAt)
		return
	}
	p.perListener = v
}

func (p *mparser) setTCPNoDelay(d *directive) {
	if v, ok := p.boolean(d); ok && !v {
		p.warnf(d.at, "set_tcp_nodelay false: mast always sets TCP_NODELAY on client sockets")
	}
}

func (p *mparser) retryInterval(d *directive) {
	p.warnf(d.at, "retry_interval is obsolete: Mosquitto 2 ignores it, and so does mast (QoS 1/2 are resent on reconnection)")
}

func (p *mparser) includeDir(d *directive, level int) {
	if level > 0 {
		p.warnf(d.at, "include_dir ignored: it is only read from the main configuration file, as in Mosquitto")
		return
	}
	dir, ok := p.text(d)
	if !ok {
		return
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		p.errorf(d.at, "include_dir: %v", err)
		return
	}
	var files []string
	for _, e := range entries {
		if n := e.Name(); !e.IsDir() && len(n) > len(".conf") && strings.HasSuffix(n, ".conf") {
			files = append(files, n)
		}
	}
	slices.SortFunc(files, compareIncludeNames)
	mainAbs, _ := filepath.Abs(p.main)
	for _, n := range files {
		path := filepath.Join(dir, n)
		if abs, _ := filepath.Abs(path); abs == mainAbs {
			p.errorf(d.at, "include_dir %s holds the main configuration file %s", dir, p.main)
			return
		}
		data, err := os.ReadFile(path)
		if err != nil {
			p.errorf(d.at, "include_dir: %v", err)
			continue
		}
		p.parseFile(path, data, level+1)
	}
}

// compareIncludeNames orders include_dir files as Mosquitto does: letter by
// letter ignoring case, and where two letters differ only in case, the
// capital first ("A.conf", "a.conf", "B.conf", "b.conf").
func compareIncludeNames(a, b string) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		ua, ub := upper(a[i]), upper(b[i])
		if ua != ub {
			return int(ua) - int(ub)
		}
		if a[i] != b[i] {
			return int(a[i]) - int(b[i])
		}
	}
	return len(a) - len(b)
}

func upper(c byte) byte {
	if 'a' <= c && c <= 'z' {
		return c - 'a' + 'A'
	}
	return c
}

// finish turns what was read into the Config, applying Mosquitto 2's
// rules for the default listener, local only mode and allow_anonymous.
func (p *mparser) finish() {
	c := p.c
	def := p.def
	if def.used && p.localOnly {
		// Mosquitto 2.0 opens the default listener on every interface
		// here; its documentation says anonymous access is only allowed
		// when no listener is configured. mast follows the documentation:
		// this is a configured listener, anonymous access is off by default.
		p.warnf(def.at, "this setting opens the default listener on port 1883 on all interfaces (no listener or port line)")
		p.localOnly = false
	}

	ls := slices.Clone(p.ls)
	if def.portSet || def.host != "" || def.used {
		if def.port == 0 {
			def.port = 1883
		}
		ls = append(ls, def) // Mosquitto adds it after the listener lines
	} else {
		p.warnUnopenedDefault()
	}

	if p.localOnly {
		// No listener at all: Mosquitto 2's local only mode, on the
		// loopback interface, anonymous clients allowed.
		l, _ := listener.Parse(DefaultListener)
		c.Listeners = []listener.Config{l}
		t := true
		if a := p.global.anon; a != nil && !*a {
			p.warnf(p.global.anonAt, "allow_anonymous false has no effect: with no listener configured, Mosquitto 2 (and mast) "+
				"listen on localhost only and let anonymous clients in; add a listener line to require a login")
		}
		if p.perListener {
			c.Listeners[0].Auth = &listener.Auth{AllowAnonymous: &t}
			c.PerListenerSettings = true
		} else {
			c.Auth = Auth{AllowAnonymous: &t, PasswordFile: p.global.pw, ACLFile: p.global.acl}
		}
	} else {
		c.Listeners = nil
		seen := map[string]pos{}
		for _, l := range ls {
			lc, err := p.listenerConfig(l)
			if err != nil {
				p.errorf(l.at, "%v", err)
				continue
			}
			key := lc.Network + " " + lc.Address
			if first, dup := seen[key]; dup {
				p.errorf(l.at, "listener %s is already defined at %s", lc, first)
				continue
			}
			seen[key] = l.at
			c.Listeners = append(c.Listeners, lc)
		}
		f := false
		if p.perListener {
			c.PerListenerSettings = true
		} else {
			c.Auth = Auth{AllowAnonymous: p.global.anon, PasswordFile: p.global.pw, ACLFile: p.global.acl}
			if c.Auth.AllowAnonymous == nil {
				c.Auth.AllowAnonymous = &f // Mosquitto 2's default once a listener is configured
			}
		}
	}
	if z := p.global.zeroLengthIDs; z != nil {
		c.Broker.DisallowEmptyClientID = !*z
	}

	// Persistence: off unless asked, as in Mosquitto. The store is a
	// directory of its own inside persistence_location, beside (never
	// in) a mosquitto.db.
	c.Persistence.Memory = !p.persistence
	if p.persistence {
		c.Persistence.DataDir = filepath.Join(p.location, DefaultDataDir)
	} else if p.location != "" {
		p.warnf(p.locationAt, "persistence_location has no effect: persistence is off (add persistence true)")
	}

	if p.logDestSet {
		c.Log.Dest = p.logDests
		if len(c.Log.Dest) == 0 {
			c.Log.Dest = []string{"none"}
		}
		if !slices.Contains(c.Log.Dest, "file") {
			c.Log.File = ""
		}
	}
	if p.logTypeSet {
		c.Log.Types = p.logTypes
		c.Log.Level, c.Log.Verbose = levelOf(p.logTypes)
	}
}

// warnUnopenedDefault says when settings were given to the default
// listener that Mosquitto does not open (they are lost there too).
func (p *mparser) warnUnopenedDefault() {
	a := p.def.auth
	if a.anon != nil {
		p.warnf(a.anonAt, "allow_anonymous before the first listener line applies to the default listener, "+
			"which is not opened (per_listener_settings true): it has no effect")
	}
	if a.acl != "" {
		p.warnf(a.aclAt, "acl_file before the first listener line applies to the default listener, "+
			"which is not opened (per_listener_settings true): it has no effect")
	}
}

func (p *mparser) listenerConfig(l *mlistener) (listener.Config, error) {
	var lc listener.Config
	if l.unixPath != "" {
		lc = listener.Config{Network: "unix", Address: l.unixPath}
		if l.domain != "" {
			return lc, fmt.Errorf("socket_domain does not apply to unix socket %s", l.unixPath)
		}
	} else {
		var err error
		lc, err = listener.Parse(net.JoinHostPort(l.host, strconv.Itoa(l.port)))
		if err != nil {
			return lc, err
		}
		switch {
		case l.domain == "":
		case lc.Network == "tcp":
			lc.Network = map[string]string{"ipv4": "tcp4", "ipv6": "tcp6"}[l.domain]
		case lc.Network != map[string]string{"ipv4": "tcp4", "ipv6": "tcp6"}[l.domain]:
			return lc, fmt.Errorf("listener %s: socket_domain %s does not match the address", lc, l.domain)
		}
	}
	lc.Protocol = l.protocol
	if lc.Protocol == listener.ProtocolWebSockets {
		lc.WebSocketPath = listener.AnyWebSocketPath
	}
	if l.maxConn > 0 {
		lc.MaxConnections = l.maxConn
	}
	if l.certfile != "" || l.keyfile != "" || l.cafile != "" || l.require || l.identity || l.subject || l.tlsVersion != "" {
		lc.TLS = &listener.TLS{
			CertFile:              l.certfile,
			KeyFile:               l.keyfile,
			CAFile:                l.cafile,
			RequireCertificate:    l.require,
			UseIdentityAsUsername: l.identity,
			UseSubjectAsUsername:  l.subject,
			MinVersion:            l.tlsVersion,
		}
		if l.certfile == "" || l.keyfile == "" {
			return lc, fmt.Errorf("listener %s has TLS settings but not both certfile and keyfile (Mosquitto would serve it without TLS)", lc)
		}
	}
	if p.perListener {
		f := false
		lc.Auth = &listener.Auth{AllowAnonymous: l.auth.anon, PasswordFile: l.auth.pw, ACLFile: l.auth.acl}
		if lc.Auth.AllowAnonymous == nil {
			lc.Auth.AllowAnonymous = &f
		}
	}
	return lc, lc.Validate()
}

// levelOf maps Mosquitto log types to a level and Verbose.
func levelOf(types map[string]bool) (slog.Level, bool) {
	switch {
	case types["all"] || types["debug"]:
		return slog.LevelDebug, true
	case types["information"] || types["notice"] || types["subscribe"] || types["unsubscribe"]:
		return slog.LevelInfo, false
	case types["warning"]:
		return slog.LevelWarn, false
	case types["error"]:
		return slog.LevelError, false
	}
	return LevelOff, false
}

// Directives Mosquitto 2 knows and mast does not implement yet, with a
// word on what to do instead where there is one.
var unsupportedDirectives = map[string]string{
	"accept_protocol_versions":        "",
	"allow_duplicate_messages":        "",
	"auth_plugin":                     "plugins come later",
	"auth_plugin_deny_special_chars":  "plugins come later",
	"auto_id_prefix":                  "",
	"autosave_interval":               "mast writes its store as messages arrive",
	"autosave_on_changes":             "mast writes its store as messages arrive",
	"bind_interface":                  "give the interface's address to listener instead",
	"capath":                          "use cafile",
	"check_retain_source":             "",
	"ciphers":                         "Go's TLS cipher suites are used",
	"ciphers_tls1.3":                  "Go's TLS cipher suites are used",
	"clientid_prefixes":               "",
	"crlfile":                         "",
	"dhparamfile":                     "Go's TLS uses ECDHE",
	"disable_client_cert_date_checks": "",
	"enable_control_api":              "",
	"global_max_clients":              "",
	"global_plugin":                   "plugins come later",
	"http_dir":                        "WebSocket listeners come later",
	"log_facility":                    "",
	"log_timestamp_format":            "",
	"max_inflight_bytes":              "",
	"max_qos":                         "per listener; mast's YAML has mqtt.max_qos for the whole broker",
	"maximum_qos":                     "per listener; mast's YAML has mqtt.max_qos for the whole broker",
	"max_queued_bytes":                "",
	"max_topic_alias":                 "per listener; mast's YAML has mqtt.topic_alias_maximum for the whole broker",
	"max_topic_alias_broker":          "",
	"memory_limit":                    "",
	"mount_point":                     "",
	"persistence_file":                "mast keeps its store in a directory inside persistence_location",
	"persistent_client_expiration":    "",
	"plugin":                          "plugins come later",
	"psk_file":                        "TLS-PSK",
	"psk_hint":                        "TLS-PSK",
	"quic_log_level":                  "",
	"retained_persistence":            "use persistence",
	"tls_engine":                      "",
	"tls_engine_kpass_sha1":           "",
	"tls_keyform":                     "",
	"upgrade_outgoing_qos":            "",
	"use_username_as_clientid":        "",
	"user":                            "start mast as the user it should run as",
	"websockets_headers_size":         "WebSocket listeners come later",
	"websockets_log_level":            "WebSocket listeners come later",
	"websockets_origin":               "WebSocket listeners come later",
}

// Bridge directives: a connection line and what follows it.
var bridgeDirectives = []string{
	"connection", "address", "addresses", "cleansession", "local_cleansession", "clientid",
	"remote_clientid", "local_clientid", "username", "remote_username", "local_username",
	"password", "remote_password", "local_password", "idle_timeout", "keepalive_interval",
	"notifications", "notifications_local_only", "notification_topic", "restart_timeout",
	"round_robin", "start_type", "threshold", "topic", "try_private",
}

func unsupportedNote(name string) (string, bool) {
	if note, ok := unsupportedDirectives[name]; ok {
		return note, true
	}
	if slices.Contains(bridgeDirectives, name) || strings.HasPrefix(name, "bridge_") {
		return "bridges come later", true
	}
	if strings.HasPrefix(name, "auth_opt_") || strings.HasPrefix(name, "plugin_opt_") {
		return "plugins come later", true
	}
	return "", false
}

func knownMosquittoDirective(name string) bool {
	if _, ok := mosquittoDirectives[name]; ok || name == "include_dir" {
		return true
	}
	_, ok := unsupportedNote(name)
	return ok
}

// UnsupportedMosquittoDirectives lists the Mosquitto directives mast
// refuses for now (bridge_*, auth_opt_* and plugin_opt_* stand for their
// families), sorted.
func UnsupportedMosquittoDirectives() []string {
	var names []string
	for n := range unsupportedDirectives {
		names = append(names, n)
	}
	names = append(names, bridgeDirectives...)
	names = append(names, "bridge_*", "auth_opt_*", "plugin_opt_*")
	slices.Sort(names)
	return names
}
