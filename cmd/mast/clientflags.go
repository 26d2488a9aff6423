package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/mastmq/mast/client"
	"github.com/mastmq/mast/packet"
	"github.com/mastmq/mast/topic"
)

// The flags of mosquitto_pub and mosquitto_sub, shared by "mast pub" and
// "mast sub": the same names, arguments, defaults, error messages and exit
// codes, so that scripts written for the Mosquitto tools run unchanged.
// Flags are parsed by hand because mosquitto's take several arguments (-D
// command identifier value) and may repeat.

// mqttFlags holds the parsed command line of mast pub or mast sub.
type mqttFlags struct {
	cmd string // "pub" or "sub"

	host      string
	port      int // 0: 1883, or 8883 with TLS
	unixPath  string
	id        string
	idPrefix  string
	user      string
	userSet   bool
	password  string
	passSet   bool
	keepalive int
	version   byte
	qos       byte
	clean     bool
	expiry    int64 // -x; -1 never expires; unset: mosquitto's default
	expirySet bool
	debug     bool
	quiet     bool
	topics    []string

	willTopic      string
	willPayload    string
	willPayloadSet bool
	willQoS        byte
	willRetain     bool

	tls        bool
	cafile     string
	capath     string
	cert, key  string
	insecure   bool
	tlsVersion string
	osCerts    bool

	props map[string]*packet.Properties // -D, by command

	// mast pub
	msgMode     string // "-m", "-f", "-l", "-n" or "-s"
	message     []byte
	retain      bool
	repeat      int
	repeatDelay time.Duration

	// mast sub
	count          int
	exitAfterSub   bool
	noRetain       bool
	retainedOnly   bool
	removeRetained bool
	filterOut      []string
	unsub          []string
	verbose        bool
	noEOL          bool
	format         string
	pretty         bool
	timeout        int
}

// usageError is a bad command line: printed with a pointer to --help,
// exit code 1, as mosquitto does.
type usageError string

func (e usageError) Error() string { return string(e) }

// errHelp asks for the usage text.
var errHelp = errors.New("help")

func usagef(format string, args ...any) error { return usageError(fmt.Sprintf(format, args...)) }

// parseMQTTFlags parses the command line of "mast pub" or "mast sub".
func parseMQTTFlags(cmd string, args []string) (*mqttFlags, error) {
	f := &mqttFlags{cmd: cmd, host: "localhost", keepalive: 60, version: packet.Version311, clean: true,
		props: make(map[string]*packet.Properties)}
	pub, sub := cmd == "pub", cmd == "sub"
	for i := 0; i < len(args); i++ {
		a := args[i]
		// arg returns the next argument; what names it in the error.
		arg := func(what string) (string, error) {
			if i+1 >= len(args) {
				return "", usagef("%s argument given but no %s specified.", a, what)
			}
			i++
			return args[i], nil
		}
		var v string
		var err error
		switch a {
		case "--help":
			return nil, errHelp
		case "-h", "--host":
			f.host, err = arg("host")
		case "-p", "--port":
			if v, err = arg("port"); err == nil {
				f.port, err = strconv.Atoi(v)
				if err != nil || f.port < 1 || f.port > 65535 {
					err = usagef("Invalid port given: %s", v)
				}
			}
		case "--unix":
			f.unixPath, err = arg("unix socket path")
		case "-L", "--url":
			if v, err = arg("URL"); err == nil {
				err = f.parseURL(v)
			}
		case "-i", "--id":
			f.id, err = arg("id")
		case "-I", "--id-prefix":
			f.idPrefix, err = arg("id prefix")
		case "-u", "--username":
			f.user, err = arg("username")
			f.userSet = true
		case "-P", "--pw":
			f.password, err = arg("password")
			f.passSet = true
		case "-k", "--keepalive":
			if v, err = arg("keepalive"); err == nil {
				f.keepalive, err = strconv.Atoi(v)
				if err != nil || f.keepalive > 65535 || f.keepalive < 0 || (f.keepalive > 0 && f.keepalive < 5) {
					err = usagef("Invalid keepalive given, it must be between 5 and 65535 inclusive.")
				}
			}
		case "-V", "--protocol-version":
			if v, err = arg("protocol version"); err == nil {
				switch v {
				case "mqttv31", "31":
					f.version = packet.Version31
				case "mqttv311", "311":
					f.version = packet.Version311
				case "mqttv5", "5":
					f.version = packet.Version5
				default:
					err = usagef("Invalid protocol version argument given.")
				}
			}
		case "-q", "--qos":
			if v, err = arg("QoS"); err == nil {
				f.qos, err = parseQoS(v, "QoS given")
			}
		case "-c", "--disable-clean-session":
			f.clean = false
		case "-x", "--session-expiry-interval":
			if v, err = arg("session expiry interval"); err == nil {
				f.expirySet = true
				switch v {
				case "-1", "∞":
					f.expiry = -1
				default:
					n, e := strconv.ParseUint(v, 10, 32)
					if e != nil {
						err = usagef("session-expiry-interval not a number.")
					}
					f.expiry = int64(n)
					if n == math.MaxUint32 {
						f.expiry = -1
					}
				}
			}
		case "-d", "--debug":
			f.debug = true
		case "--quiet":
			f.quiet = true
		case "--nodelay":
			// Go sets TCP_NODELAY on every TCP connection.
		case "-t", "--topic":
			if v, err = arg("topic"); err == nil {
				if pub && len(f.topics) > 0 {
					err = usagef("Only one topic can be specified.")
				}
				f.topics = append(f.topics, v)
			}
		case "-D", "--property":
			err = f.parseProperty(args, &i)
		case "--will-topic":
			f.willTopic, err = arg("will topic")
			if err == nil && topic.ValidateName(f.willTopic) != nil {
				err = usagef("Invalid will topic '%s', does it contain '+' or '#'?", f.willTopic)
			}
		case "--will-payload":
			f.willPayload, err = arg("will payload")
			f.willPayloadSet = true
		case "--will-qos":
			if v, err = arg("will QoS"); err == nil {
				if f.willQoS, err = parseQoS(v, "will QoS"); err != nil {
					err = usagef("Invalid will QoS %s.", v)
				}
			}
		case "--will-retain":
			f.willRetain = true
		case "--cafile":
			f.cafile, err = arg("certificate")
			f.tls = true
		case "--capath":
			f.capath, err = arg("certificate directory")
			f.tls = true
		case "--cert":
			f.cert, err = arg("certificate")
			f.tls = true
		case "--key":
			f.key, err = arg("key")
		case "--insecure":
			f.insecure = true
		case "--tls-version":
			f.tlsVersion, err = arg("TLS version")
		case "--tls-use-os-certs":
			f.osCerts, f.tls = true, true

		default:
			handled := false
			switch {
			case pub:
				handled, err = f.pubFlag(a, arg)
			case sub:
				handled, err = f.subFlag(a, arg)
			}
			if !handled {
				return nil, usagef("Unknown option '%s'.", a)
			}
		}
		if err != nil {
			var ue usageError
			var fe fileError
			if !errors.As(err, &ue) && !errors.As(err, &fe) {
				err = usagef("Invalid argument for %s: %s", a, v)
			}
			return nil, err
		}
	}
	return f, f.check()
}

// fileError is how mosquitto_pub reports an unreadable -f file.
type fileError string

func (e fileError) Error() string {
	return fmt.Sprintf("Error: Unable to open file \"%s\".\nError loading input file \"%s\".", string(e), string(e))
}

func parseQoS(v, what string) (byte, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > 2 {
		return 0, usagef("Invalid %s: %s", what, v)
	}
	return byte(n), nil
}

func (f *mqttFlags) setMessage(mode string, b []byte) error {
	if f.msgMode != "" {
		return usagef("Only one type of message can be sent at once.")
	}
	f.msgMode, f.message = mode, b
	return nil
}

// parseURL reads -L mqtt(s)://[username[:password]@]host[:port]/topic.
// It is split by hand, as mosquitto does, because a topic may hold '#' and
// '?', which a URL parser takes for a fragment and a query.
func (f *mqttFlags) parseURL(s string) error {
	rest, ok := strings.CutPrefix(s, "mqtt://")
	if !ok {
		if rest, ok = strings.CutPrefix(s, "mqtts://"); !ok {
			return usagef("Unsupported URL scheme.")
		}
		f.tls = true
	}
	hostPart, topicPart, _ := strings.Cut(rest, "/")
	if at := strings.LastIndexByte(hostPart, '@'); at >= 0 {
		user, pass, hasPass := strings.Cut(hostPart[:at], ":")
		f.user, f.userSet = user, true
		if hasPass {
			f.password, f.passSet = pass, true
		}
		hostPart = hostPart[at+1:]
	}
	host, port, err := net.SplitHostPort(hostPart)
	if err != nil {
		host, port = hostPart, ""
	}
	if host == "" {
		return usagef("Invalid URL for -L argument specified - no host.")
	}
	f.host = host
	if port != "" {
		if f.port, err = strconv.Atoi(port); err != nil || f.port < 1 || f.port > 65535 {
			return usagef("Invalid port given: %s", port)
		}
	}
	if topicPart != "" {
		f.topics = append(f.topics, topicPart)
	}
	return nil
}

// check applies the rules mosquitto applies once every flag is read.
func (f *mqttFlags) check() error {
	if f.id != "" && f.idPrefix != "" {
		return usagef("-i and -I argument cannot be used together.")
	}
	if f.willPayloadSet && f.willTopic == "" {
		return usagef("Will payload given, but no will topic given.")
	}
	if f.willRetain && f.willTopic == "" {
		return usagef("Will retain given, but no will topic given.")
	}
	if !f.clean && f.id == "" && f.idPrefix == "" {
		if f.version == packet.Version5 {
			return usagef("You must provide a client id if you are using an infinite session expiry interval.")
		}
		return usagef("You must provide a client id if you are using the -c option.")
	}
	switch f.cmd {
	case "pub":
		if len(f.topics) == 0 || f.msgMode == "" {
			return usagef("Both topic and message must be supplied.")
		}
		if err := topic.ValidateName(f.topics[0]); err != nil {
			return usagef("Invalid publish topic '%s', does it contain '+' or '#'?", f.topics[0])
		}
	case "sub":
		if len(f.topics) == 0 {
			return usagef("You must specify a topic to subscribe to.")
		}
		for _, t := range f.topics {
			if topic.ValidateFilter(t) != nil {
				return usagef("Invalid subscription topic '%s', are all '+' and '#' wildcards correct?", t)
			}
		}
		if f.noRetain && f.retainedOnly {
			return usagef("Combining '-R' and '--retained-only' makes no sense.")
		}
		if f.format != "" {
			if err := checkFormat(f.format); err != nil {
				return err
			}
		}
	}
	return nil
}

// propNames are mosquitto's -D identifiers.
var propNames = map[string]packet.PropID{
	"payload-format-indicator":          packet.PropPayloadFormat,
	"message-expiry-interval":           packet.PropMessageExpiry,
	"content-type":                      packet.PropContentType,
	"response-topic":                    packet.PropResponseTopic,
	"correlation-data":                  packet.PropCorrelationData,
	"subscription-identifier":           packet.PropSubscriptionID,
	"session-expiry-interval":           packet.PropSessionExpiry,
	"assigned-client-identifier":        packet.PropAssignedClientID,
	"server-keep-alive":                 packet.PropServerKeepAlive,
	"authentication-method":             packet.PropAuthMethod,
	"authentication-data":               packet.PropAuthData,
	"request-problem-information":       packet.PropRequestProblemInfo,
	"will-delay-interval":               packet.PropWillDelay,
	"request-response-information":      packet.PropRequestResponseInfo,
	"response-information":              packet.PropResponseInfo,
	"server-reference":                  packet.PropServerReference,
	"reason-string":                     packet.PropReasonString,
	"receive-maximum":                   packet.PropReceiveMaximum,
	"topic-alias-maximum":               packet.PropTopicAliasMaximum,
	"topic-alias":                       packet.PropTopicAlias,
	"maximum-qos":                       packet.PropMaximumQoS,
	"retain-available":                  packet.PropRetainAvailable,
	"user-property":                     packet.PropUserProperty,
	"maximum-packet-size":               packet.PropMaximumPacketSize,
	"wildcard-subscription-available":   packet.PropWildcardSubAvailable,
	"subscription-identifier-available": packet.PropSubIDAvailable,
	"shared-subscription-available":     packet.PropSharedSubAvailable,
}

// propAllowed is what a client may send, per -D command (MQTT 5.0 §2.2.2.2).
var propAllowed = map[string][]packet.PropID{
	"connect": {packet.PropSessionExpiry, packet.PropAuthMethod, packet.PropAuthData, packet.PropRequestProblemInfo,
		packet.PropRequestResponseInfo, packet.PropReceiveMaximum, packet.PropTopicAliasMaximum,
		packet.PropUserProperty, packet.PropMaximumPacketSize},
	"publish": {packet.PropPayloadFormat, packet.PropMessageExpiry, packet.PropContentType, packet.PropResponseTopic,
		packet.PropCorrelationData, packet.PropTopicAlias, packet.PropUserProperty},
	"subscribe":   {packet.PropSubscriptionID, packet.PropUserProperty},
	"unsubscribe": {packet.PropUserProperty},
	"disconnect":  {packet.PropSessionExpiry, packet.PropReasonString, packet.PropUserProperty},
	"will": {packet.PropPayloadFormat, packet.PropMessageExpiry, packet.PropContentType, packet.PropResponseTopic,
		packet.PropCorrelationData, packet.PropWillDelay, packet.PropUserProperty},
}

// parseProperty reads "-D command identifier value" (user-property takes a
// name and a value) at args[*i].
func (f *mqttFlags) parseProperty(args []string, i *int) error {
	rest := args[*i+1:]
	if len(rest) < 3 {
		return usagef("--property argument given but not enough arguments specified.")
	}
	cmd, name, val := rest[0], rest[1], rest[2]
	allowed, ok := propAllowed[cmd]
	if !ok {
		return usagef("Invalid command given in --property argument.")
	}
	id, ok := propNames[name]
	if !ok {
		return usagef("Invalid property name given in --property argument.")
	}
	found := false
	for _, a := range allowed {
		found = found || a == id
	}
	if !found {
		return usagef("%s property not allowed for %s in --property argument.", name, cmd)
	}
	p := f.props[cmd]
	if p == nil {
		p = new(packet.Properties)
		f.props[cmd] = p
	}
	*i += 3
	bad := usagef("Invalid %s value given in --property argument.", name)
	num := func(bits int) (uint64, error) {
		n, err := strconv.ParseUint(val, 10, bits)
		if err != nil {
			return 0, bad
		}
		return n, nil
	}
	switch id {
	case packet.PropUserProperty:
		if len(rest) < 4 {
			return usagef("--property argument given but not enough arguments specified.")
		}
		p.User = append(p.User, packet.UserProperty{Key: val, Value: rest[3]})
		*i++
		return nil
	case packet.PropSubscriptionID:
		n, err := num(32)
		if err != nil || n == 0 || n > packet.MaxRemainingLength {
			return bad
		}
		p.SubscriptionIDs = []uint32{uint32(n)}
		return nil
	case packet.PropPayloadFormat, packet.PropRequestProblemInfo, packet.PropRequestResponseInfo:
		n, err := num(8)
		if err != nil {
			return err
		}
		switch id {
		case packet.PropPayloadFormat:
			p.PayloadFormat = byte(n)
		case packet.PropRequestProblemInfo:
			p.RequestProblemInfo = byte(n)
		default:
			p.RequestResponseInfo = byte(n)
		}
	case packet.PropReceiveMaximum, packet.PropTopicAliasMaximum, packet.PropTopicAlias:
		n, err := num(16)
		if err != nil {
			return err
		}
		switch id {
		case packet.PropReceiveMaximum:
			p.ReceiveMaximum = uint16(n)
		case packet.PropTopicAliasMaximum:
			p.TopicAliasMaximum = uint16(n)
		default:
			p.TopicAlias = uint16(n)
		}
	case packet.PropMessageExpiry, packet.PropSessionExpiry, packet.PropWillDelay, packet.PropMaximumPacketSize:
		n, err := num(32)
		if err != nil {
			return err
		}
		switch id {
		case packet.PropMessageExpiry:
			p.MessageExpiry = uint32(n)
		case packet.PropSessionExpiry:
			p.SessionExpiry = uint32(n)
		case packet.PropWillDelay:
			p.WillDelay = uint32(n)
		default:
			p.MaximumPacketSize = uint32(n)
		}
	case packet.PropContentType:
		p.ContentType = val
	case packet.PropResponseTopic:
		p.ResponseTopic = val
	case packet.PropCorrelationData:
		p.CorrelationData = []byte(val)
	case packet.PropAuthMethod:
		p.AuthMethod = val
	case packet.PropAuthData:
		p.AuthData = []byte(val)
	case packet.PropReasonString:
		p.ReasonString = val
	}
	p.Set(id)
	return nil
}

// options builds the client's options. Debug lines (-d) go to out.
func (f *mqttFlags) options(out *lockedWriter) (client.Options, error) {
	o := client.Options{
		Version:    f.version,
		CleanStart: f.clean,
		KeepAlive:  time.Duration(f.keepalive) * time.Second,
		// mosquitto waits for CONNACK as long as its keepalive.
		ConnectTimeout: max(time.Duration(f.keepalive)*time.Second, 10*time.Second),
	}
	if f.keepalive == 0 {
		o.KeepAlive = -1
	}
	switch {
	case f.unixPath != "":
		o.Servers = []string{"unix://" + filepath.ToSlash(f.unixPath)}
	default:
		scheme, port := "mqtt", f.port
		if f.tls {
			scheme = "mqtts"
			if port == 0 {
				port = 8883
			}
		}
		if port == 0 {
			port = 1883
		}
		o.Servers = []string{scheme + "://" + net.JoinHostPort(f.host, strconv.Itoa(port))}
	}
	o.ClientID = f.id
	if f.idPrefix != "" {
		o.ClientID = f.idPrefix + strconv.Itoa(os.Getpid())
	}
	if f.passSet && !f.userSet && f.version < packet.Version5 {
		return o, errors.New("Error: Problem setting username and/or password.")
	}
	if f.userSet {
		o.Username = f.user
	}
	if f.passSet {
		o.Password = []byte(f.password)
	}
	if f.version == packet.Version5 {
		if p := f.props["connect"]; p != nil {
			o.ConnectProperties = *p
			if p.Has(packet.PropSessionExpiry) && !f.expirySet {
				f.expiry, f.expirySet = int64(p.SessionExpiry), true
			}
		}
		if f.expirySet {
			o.SessionExpiry = uint32(f.expiry)
			if f.expiry < 0 {
				o.SessionExpiry = client.SessionExpiryNever
			}
		}
	}
	if f.willTopic != "" {
		o.Will = &client.Will{Topic: f.willTopic, Payload: []byte(f.willPayload), QoS: f.willQoS, Retain: f.willRetain}
		if p := f.props["will"]; p != nil && f.version == packet.Version5 {
			o.Will.Properties = *p
		}
	}
	if f.tls {
		cfg, err := f.tlsConfig()
		if err != nil {
			return o, err
		}
		o.TLSConfig = cfg
	}
	if f.debug && !f.quiet {
		o.Logger = func(line string) { out.println(line) }
	}
	return o, nil
}

func (f *mqttFlags) tlsConfig() (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	switch f.tlsVersion {
	case "", "tlsv1.2":
	case "tlsv1.3":
		cfg.MinVersion = tls.VersionTLS13
	case "tlsv1.1":
		cfg.MinVersion = tls.VersionTLS11
	default:
		return nil, fmt.Errorf("Error: Unsupported TLS version %q.", f.tlsVersion)
	}
	if f.cafile != "" || f.capath != "" {
		pool := x509.NewCertPool()
		if f.osCerts {
			if sys, err := x509.SystemCertPool(); err == nil {
				pool = sys
			}
		}
		files := []string{}
		if f.cafile != "" {
			files = append(files, f.cafile)
		}
		if f.capath != "" {
			entries, _ := os.ReadDir(f.capath)
			for _, e := range entries {
				files = append(files, filepath.Join(f.capath, e.Name()))
			}
		}
		for _, name := range files {
			pem, err := os.ReadFile(name)
			if err != nil {
				return nil, fmt.Errorf("Error: Problem setting TLS options: %v.", err)
			}
			pool.AppendCertsFromPEM(pem)
		}
		cfg.RootCAs = pool
	}
	if f.cert != "" || f.key != "" {
		if f.cert == "" || f.key == "" {
			return nil, errors.New("Error: Both certfile and keyfile must be provided if one of them is set.")
		}
		pair, err := tls.LoadX509KeyPair(f.cert, f.key)
		if err != nil {
			return nil, fmt.Errorf("Error: Problem setting TLS options: %v.", err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	if f.insecure {
		// mosquitto's --insecure skips the host name check only; Go cannot
		// separate it from chain verification without a custom verifier.
		cfg.InsecureSkipVerify = true
		roots := cfg.RootCAs
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("no server certificate")
			}
			inter := x509.NewCertPool()
			for _, c := range cs.PeerCertificates[1:] {
				inter.AddCert(c)
			}
			_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter})
			return err
		}
	}
	return cfg, nil
}

// connectFailure prints why Connect failed, as mosquitto words it, and
// returns mosquitto's exit code: the CONNACK code for a refusal, 1 for a
// network error.
func (f *mqttFlags) connectFailure(err error, stderr io.Writer) int {
	var re *client.ReasonError
	if errors.As(err, &re) && re.Packet == packet.CONNACK {
		if f.version == packet.Version5 {
			if re.Code == packet.UnsupportedProtocolVersion {
				f.errorf(stderr, "Connection error: %s. Try connecting to an MQTT v5 broker, or use MQTT v3.x mode.\n", mosquittoReason(re.Code))
			} else {
				f.errorf(stderr, "Connection error: %s\n", mosquittoReason(re.Code))
			}
			if f.cmd == "pub" {
				f.errorf(stderr, "Error: A network protocol error occurred when communicating with the broker.\n")
			}
		} else {
			f.errorf(stderr, "Connection error: %s\n", client.ReasonText(f.version, packet.CONNACK, re.Code))
			if f.cmd == "pub" {
				f.errorf(stderr, "Error: The connection was refused.\n")
			}
		}
		return int(re.Code)
	}
	var dns *net.DNSError
	switch {
	case isTLSError(err):
		f.errorf(stderr, "Error: A TLS error occurred.\n")
		return 8 // MOSQ_ERR_TLS
	case errors.Is(err, syscall.ECONNREFUSED):
		f.errorf(stderr, "Error: Connection refused\n")
	case errors.As(err, &dns):
		f.errorf(stderr, "Unable to connect (Lookup error.).\n")
	case errors.Is(err, syscall.ENOENT):
		f.errorf(stderr, "Error: No such file or directory\n")
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		f.errorf(stderr, "Error: Operation timed out\n")
	default:
		f.errorf(stderr, "Error: %v\n", err)
	}
	return 1
}

// isTLSError reports whether err comes from the TLS handshake.
func isTLSError(err error) bool {
	var verr *tls.CertificateVerificationError
	var rerr tls.RecordHeaderError
	var aerr tls.AlertError
	var herr x509.HostnameError
	var uerr x509.UnknownAuthorityError
	var cerr x509.CertificateInvalidError
	return errors.As(err, &verr) || errors.As(err, &rerr) || errors.As(err, &aerr) ||
		errors.As(err, &herr) || errors.As(err, &uerr) || errors.As(err, &cerr)
}

// errorf prints an error unless --quiet.
func (f *mqttFlags) errorf(w io.Writer, format string, args ...any) {
	if !f.quiet {
		fmt.Fprintf(w, format, args...)
	}
}

// reportParseError prints a command-line error as mosquitto does and
// returns the exit code.
func reportParseError(cmd string, err error, stdout, stderr io.Writer, usage string) int {
	var ue usageError
	var fe fileError
	switch {
	case errors.Is(err, errHelp):
		io.WriteString(stdout, usage)
		return 0
	case errors.As(err, &fe):
		fmt.Fprintln(stderr, fe.Error())
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "Error: %s\n\nUse 'mast %s --help' to see usage.\n", ue, cmd)
	default:
		fmt.Fprintln(stderr, err)
	}
	return 1
}

// mosquittoReason words a v5 reason code as libmosquitto does: the
// standard's name in sentence case.
func mosquittoReason(code byte) string {
	switch code {
	case packet.BadUsernameOrPassword:
		return "Bad username or password"
	case packet.QoSNotSupported:
		return "QoS not supported"
	}
	s := client.ReasonText(packet.Version5, 0, code)
	if len(s) < 2 {
		return s
	}
	return s[:1] + strings.ToLower(s[1:])
}

// lockedWriter serialises lines written from the client's goroutines and
// the command's own.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) println(s string) {
	l.mu.Lock()
	io.WriteString(l.w, s+"\n")
	l.mu.Unlock()
}

func (l *lockedWriter) write(b []byte) {
	l.mu.Lock()
	l.w.Write(b)
	l.mu.Unlock()
}

// mqttUsage is the flag table shared by both commands' --help.
const mqttUsage = ` -c : disable clean session/enable persistent client mode.
 -d : enable debug messages (the lines Paho's on_log prints).
 -D : define an MQTT v5 property: -D command identifier value.
 -h : mqtt host to connect to. Defaults to localhost.
 -i : id to use for this client. Defaults to one the broker assigns.
 -I : define the client id as id_prefix appended with the process id.
 -k : keep alive in seconds for this client. Defaults to 60.
 -L : specify user, password, hostname, port and topic as a URL in the form:
      mqtt(s)://[username[:password]@]host[:port]/topic
 -p : network port to connect to. Defaults to 1883 for plain MQTT and 8883 for MQTT over TLS.
 -P : provide a password
 -q : quality of service level to use. Defaults to 0.
 -t : mqtt topic.
 -u : provide a username
 -V : specify the version of the MQTT protocol to use when connecting.
      Can be mqttv5, mqttv311 or mqttv31 (or 5, 311, 31). Defaults to mqttv311.
 -x : set the session-expiry-interval property on the CONNECT packet (MQTT v5), in seconds;
      -1 for a session that does not expire. Defaults to -1 if -c is also given, or 0.
 --help : display this message.
 --quiet : don't print error messages.
 --unix : connect to a broker through a unix domain socket instead of a TCP socket.
 --will-payload : payload for the client Will.
 --will-qos : QoS level for the client Will.
 --will-retain : if given, make the client Will retained.
 --will-topic : the topic on which to publish the client Will.
 --cafile : path to a file containing trusted CA certificates to enable encrypted communication.
 --capath : path to a directory containing trusted CA certificates.
 --cert : client certificate for authentication, if required by server.
 --key : client private key for authentication, if required by server.
 --tls-version : TLS protocol version: tlsv1.3, tlsv1.2 or tlsv1.1. Defaults to tlsv1.2.
 --tls-use-os-certs : load and trust OS provided CA certificates.
 --insecure : do not check that the server certificate hostname matches the remote hostname.
`
