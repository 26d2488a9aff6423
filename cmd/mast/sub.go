package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/mastmq/mast/client"
	"github.com/mastmq/mast/packet"
	"github.com/mastmq/mast/topic"
)

// mast sub: mosquitto_sub's command line on the client package. It
// subscribes, prints each message as -v, -N and -F ask, and exits after -C
// messages, after the SUBACK with -E, after -W seconds (exit code 27) or on
// SIGINT / SIGTERM. It reconnects on its own, as mosquitto_sub does.

const subUsage = `mast sub is a simple MQTT client that will subscribe to a set of topics and print all messages it receives.
It takes mosquitto_sub's flags.

Usage: mast sub {[-h host] [--unix path] [-p port] [-u username] [-P password] -t topic | -L URL [-t topic]}
                [-c] [-k keepalive] [-q qos] [-x session-expiry-interval]
                [-C msg_count] [-E] [-R] [--retained-only] [--remove-retained] [-T filter_out] [-U topic ...]
                [-F format] [-W timeout_secs]
                [-i id] [-I id_prefix] [-d] [-N] [--quiet] [-v] [-V protocol-version]
                [--will-topic [--will-payload payload] [--will-qos qos] [--will-retain]]
                [{--cafile file | --capath dir} [--cert file] [--key file] [--insecure]]
                [-D command identifier value]
       mast sub --help

 -C : disconnect and exit after receiving the 'msg_count' messages.
 -E : Exit once all subscriptions have been acknowledged by the broker.
 -F : output format: %t topic, %p payload, %q QoS, %r retain, %l length, %m message id,
      %x / %X payload in hex, %j / %J JSON, %I ISO-8601 time, %U Unix time, %% a %,
      v5 properties %A %C %D %E %F %P %R %S; @ followed by a strftime letter; \n \t \\ ...
 -N : do not add an end of line character when printing the payload.
 -R : do not print stale messages (those with retain set).
 -T : topic string to filter out of results. May be repeated.
 -U : unsubscribe from a topic. May be repeated.
 -v : print published messages verbosely.
 -W : Specifies a timeout in seconds how long to process incoming MQTT messages.
 --pretty : print formatted output rather than minimised output when using the JSON output format option.
 --retained-only : only handle messages with the retained flag set, and exit when the
                   first non-retained message is received.
 --remove-retained : send a message to the server to clear any received retained messages.
` + mqttUsage

// exitTimedOut is mosquitto_sub's exit code for -W (MOSQ_ERR_TIMEOUT).
const exitTimedOut = 27

// subFlag parses a flag only mast sub has.
func (f *mqttFlags) subFlag(a string, arg func(string) (string, error)) (bool, error) {
	var v string
	var err error
	switch a {
	case "-C":
		if v, err = arg("count"); err == nil {
			if f.count, err = strconv.Atoi(v); err != nil || f.count < 1 {
				err = usagef("Invalid message count \"%s\".", v)
			}
		}
	case "-E":
		f.exitAfterSub = true
	case "-F":
		f.format, err = arg("format")
	case "-N":
		f.noEOL = true
	case "-R":
		f.noRetain = true
	case "-T", "--filter-out":
		if v, err = arg("topic filter"); err == nil {
			if topic.ValidateFilter(v) != nil {
				err = usagef("Invalid filter topic '%s', are all '+' and '#' wildcards correct?", v)
			}
			f.filterOut = append(f.filterOut, v)
		}
	case "-U", "--unsubscribe":
		if v, err = arg("unsubscribe topic"); err == nil {
			if topic.ValidateFilter(v) != nil {
				err = usagef("Invalid unsubscribe topic '%s', are all '+' and '#' wildcards correct?", v)
			}
			f.unsub = append(f.unsub, v)
		}
	case "-v", "--verbose":
		f.verbose = true
	case "-W", "--timeout":
		if v, err = arg("timeout"); err == nil {
			if f.timeout, err = strconv.Atoi(v); err != nil || f.timeout < 1 {
				err = usagef("Invalid timeout \"%s\".", v)
			}
		}
	case "--retained-only":
		f.retainedOnly = true
	case "--remove-retained":
		f.removeRetained = true
	case "--pretty":
		f.pretty = true
	default:
		return false, nil
	}
	return true, err
}

// subscriber is the state of a running mast sub.
type subscriber struct {
	f      *mqttFlags
	out    *lockedWriter
	stderr io.Writer

	mu      sync.Mutex
	n       int  // messages printed
	stopped bool // no more messages are handled
	done    chan struct{}
}

func (s *subscriber) finish() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.stopped {
		s.stopped = true
		close(s.done)
	}
}

func runSub(args []string, stdout, stderr io.Writer) int {
	f, err := parseMQTTFlags("sub", args)
	if err != nil {
		return reportParseError("sub", err, stdout, stderr, subUsage)
	}
	out := &lockedWriter{w: stdout}
	opts, err := f.options(out)
	if err != nil {
		f.errorf(stderr, "%v\n", err)
		return 1
	}
	s := &subscriber{f: f, out: out, stderr: stderr, done: make(chan struct{})}
	opts.OnMessage = s.handle
	opts.AutoReconnect = true
	c, err := client.New(opts)
	if err != nil {
		f.errorf(stderr, "Error: %v\n", err)
		return 1
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sig)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-sig:
			cancel()
		case <-ctx.Done():
		}
	}()
	var timeout <-chan time.Time
	if f.timeout > 0 {
		t := time.NewTimer(time.Duration(f.timeout) * time.Second)
		defer t.Stop()
		timeout = t.C
	}
	if _, err := c.Connect(ctx); err != nil {
		return f.connectFailure(err, stderr)
	}
	rc := s.run(ctx, c, timeout)
	// On a signal mosquitto_sub asks a v5 server to publish the will
	// anyway (reason 0x04); otherwise a normal disconnection.
	disc := &packet.Disconnect{}
	if ctx.Err() != nil {
		disc.ReasonCode = packet.DisconnectWithWill
	}
	if p := f.props["disconnect"]; p != nil && f.version == packet.Version5 {
		disc.Properties = *p
	}
	dctx, dcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer dcancel()
	c.DisconnectWith(dctx, disc)
	if rc == exitTimedOut {
		f.errorf(stderr, "Timed out\n")
	}
	return rc
}

// run subscribes and waits for the end, returning the exit code.
func (s *subscriber) run(ctx context.Context, c *client.Client, timeout <-chan time.Time) int {
	f := s.f
	req := &client.SubscribeRequest{}
	for _, t := range f.topics {
		req.Subscriptions = append(req.Subscriptions, packet.Subscription{Filter: t, QoS: f.qos})
	}
	if p := f.props["subscribe"]; p != nil && f.version == packet.Version5 {
		if len(p.SubscriptionIDs) > 0 {
			req.ID = p.SubscriptionIDs[0]
		}
		req.User = p.User
	}
	type subResult struct {
		sa  *packet.Suback
		err error
	}
	subDone := make(chan subResult, 1)
	go func() {
		sa, err := c.SubscribeWith(ctx, req)
		subDone <- subResult{sa, err}
	}()
	for _, u := range f.unsub {
		go c.Unsubscribe(ctx, u)
	}
	var subscribed <-chan subResult = subDone
	for {
		select {
		case r := <-subscribed:
			subscribed = nil
			var re *client.ReasonError
			if r.err != nil && !errors.As(r.err, &re) {
				if ctx.Err() != nil {
					return 0
				}
				f.errorf(s.stderr, "Error: %v\n", r.err)
				return 1
			}
			if f.debug && !f.quiet && r.sa != nil {
				codes := make([]string, len(r.sa.ReasonCodes))
				for i, c := range r.sa.ReasonCodes {
					codes[i] = strconv.Itoa(int(c))
				}
				s.out.println(fmt.Sprintf("Subscribed (mid: %d): %s", r.sa.PacketID, strings.Join(codes, ", ")))
			}
			if r.sa != nil && allRefused(r.sa.ReasonCodes) {
				f.errorf(s.stderr, "All subscription requests were denied.\n")
				return 0
			}
			if f.exitAfterSub {
				return 0
			}
		case <-s.done:
			return 0
		case <-timeout:
			s.finish()
			return exitTimedOut
		case <-ctx.Done():
			s.finish()
			return 0
		}
	}
}

func allRefused(codes []byte) bool {
	for _, c := range codes {
		if c < 0x80 {
			return false
		}
	}
	return len(codes) > 0
}

// handle prints one message, on the client's delivery goroutine.
func (s *subscriber) handle(c *client.Client, m *client.Message) {
	f := s.f
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return
	}
	if f.retainedOnly && !m.Retain {
		s.mu.Unlock()
		s.finish()
		return
	}
	s.mu.Unlock()
	if m.Retain && f.noRetain {
		return
	}
	for _, fo := range f.filterOut {
		if topic.Match(fo, m.Topic) {
			return
		}
	}
	if f.removeRetained && m.Retain {
		go c.Publish(context.Background(), &client.Message{Topic: m.Topic, QoS: 1, Retain: true})
	}
	var b bytes.Buffer
	switch {
	case f.format != "":
		if err := formatMessage(&b, f.format, m, time.Now(), f.pretty); err != nil {
			f.errorf(s.stderr, "%v\n", err)
		}
		if !f.noEOL {
			b.WriteByte('\n')
		}
	case f.verbose:
		if len(m.Payload) > 0 {
			b.WriteString(m.Topic)
			b.WriteByte(' ')
			b.Write(m.Payload)
			if !f.noEOL {
				b.WriteByte('\n')
			}
		} else if !f.noEOL {
			b.WriteString(m.Topic + " (null)\n")
		}
	default:
		if len(m.Payload) > 0 {
			b.Write(m.Payload)
			if !f.noEOL {
				b.WriteByte('\n')
			}
		}
	}
	s.out.write(b.Bytes())
	if f.count > 0 {
		s.mu.Lock()
		s.n++
		last := s.n >= f.count
		s.mu.Unlock()
		if last {
			s.finish()
		}
	}
}

// checkFormat refuses the -F specifiers mosquitto_sub does not know.
func checkFormat(format string) error {
	for i := 0; i < len(format); i++ {
		if format[i] != '%' || i+1 >= len(format) {
			continue
		}
		j := i + 1
		for j < len(format) && strings.IndexByte("-0123456789.", format[j]) >= 0 {
			j++
		}
		if j >= len(format) {
			break
		}
		if strings.IndexByte("%ACDEFIJPRSUXjlmpqrtx", format[j]) < 0 {
			return usagef("Invalid format specifier '%c'.", format[j])
		}
		i = j
	}
	return nil
}

// formatMessage writes m as -F format asks (mosquitto_sub's specifiers).
// A %J whose payload is not JSON prints nothing for it and returns the
// error mosquitto_sub prints.
func formatMessage(w *bytes.Buffer, format string, m *client.Message, now time.Time, pretty bool) error {
	var jsonErr error
	for i := 0; i < len(format); i++ {
		ch := format[i]
		switch {
		case ch == '%' && i+1 < len(format):
			i++
			// Flags, width and precision as printf has them.
			left, zero := false, false
			for ; i < len(format) && (format[i] == '-' || format[i] == '0'); i++ {
				left = left || format[i] == '-'
				zero = zero || format[i] == '0'
			}
			width, prec := 0, -1
			for ; i < len(format) && format[i] >= '0' && format[i] <= '9'; i++ {
				width = width*10 + int(format[i]-'0')
			}
			if i < len(format) && format[i] == '.' {
				prec = 0
				for i++; i < len(format) && format[i] >= '0' && format[i] <= '9'; i++ {
					prec = prec*10 + int(format[i]-'0')
				}
			}
			if i >= len(format) {
				return nil
			}
			str := func(s string) {
				if prec >= 0 && len(s) > prec {
					s = s[:prec]
				}
				pad(w, s, width, left, false)
			}
			num := func(n uint64) { pad(w, strconv.FormatUint(n, 10), width, left, zero) }
			p := &m.Properties
			switch format[i] {
			case '%':
				w.WriteByte('%')
			case 't':
				str(m.Topic)
			case 'p':
				// mosquitto pads a short payload to the width and cuts a
				// long one.
				if width > 0 && len(m.Payload) > width {
					w.Write(m.Payload[:width])
				} else {
					pad(w, string(m.Payload), width, left, false)
				}
			case 'q':
				w.WriteString(strconv.Itoa(int(m.QoS)))
			case 'r':
				w.WriteString(strconv.Itoa(b2i(m.Retain)))
			case 'l':
				num(uint64(len(m.Payload)))
			case 'm':
				num(uint64(m.PacketID))
			case 'x':
				w.WriteString(hex.EncodeToString(m.Payload))
			case 'X':
				w.WriteString(strings.ToUpper(hex.EncodeToString(m.Payload)))
			case 'I':
				w.WriteString(now.Format("2006-01-02T15:04:05-0700"))
			case 'U':
				fmt.Fprintf(w, "%d.%09d", now.Unix(), now.Nanosecond())
			case 'j', 'J':
				if err := writeJSON(w, m, now, format[i] == 'J', pretty); err != nil {
					jsonErr = err
				}
			case 'A':
				if p.Has(packet.PropTopicAlias) {
					num(uint64(p.TopicAlias))
				}
			case 'C':
				if p.Has(packet.PropContentType) {
					str(p.ContentType)
				}
			case 'D':
				if p.Has(packet.PropCorrelationData) {
					str(string(p.CorrelationData))
				}
			case 'E':
				if p.Has(packet.PropMessageExpiry) {
					num(uint64(p.MessageExpiry))
				}
			case 'F':
				if p.Has(packet.PropPayloadFormat) {
					num(uint64(p.PayloadFormat))
				}
			case 'P':
				for j, u := range p.User {
					if j > 0 {
						w.WriteByte(' ')
					}
					w.WriteString(u.Key + ":" + u.Value)
				}
			case 'R':
				if p.Has(packet.PropResponseTopic) {
					str(p.ResponseTopic)
				}
			case 'S':
				for j, id := range p.SubscriptionIDs {
					if j > 0 {
						w.WriteByte(',')
					}
					w.WriteString(strconv.FormatUint(uint64(id), 10))
				}
			}
		case ch == '@' && i+1 < len(format):
			i++
			strftime(w, format[i], now)
		case ch == '\\' && i+1 < len(format):
			i++
			switch format[i] {
			case '\\':
				w.WriteByte('\\')
			case '0':
				w.WriteByte(0)
			case 'a':
				w.WriteByte('\a')
			case 'e':
				w.WriteByte(0x1b)
			case 'n':
				w.WriteByte('\n')
			case 'r':
				w.WriteByte('\r')
			case 't':
				w.WriteByte('\t')
			case 'v':
				w.WriteByte('\v')
			default:
				w.WriteByte('\\')
				w.WriteByte(format[i])
			}
		default:
			w.WriteByte(ch)
		}
	}
	if jsonErr != nil {
		return jsonErr
	}
	return nil
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func pad(w *bytes.Buffer, s string, width int, left, zero bool) {
	n := width - len(s) // bytes, as printf counts them
	if n <= 0 {
		w.WriteString(s)
		return
	}
	fill := " "
	if zero && !left {
		fill = "0"
	}
	if left {
		w.WriteString(s)
		w.WriteString(strings.Repeat(" ", n))
		return
	}
	w.WriteString(strings.Repeat(fill, n))
	w.WriteString(s)
}

// strftime writes what "@c" (strftime's "%c") means.
func strftime(w *bytes.Buffer, c byte, t time.Time) {
	layouts := map[byte]string{
		'a': "Mon", 'A': "Monday", 'b': "Jan", 'B': "January", 'c': "Mon Jan  2 15:04:05 2006",
		'd': "02", 'D': "01/02/06", 'F': "2006-01-02", 'h': "Jan", 'H': "15", 'I': "03", 'm': "01",
		'M': "04", 'p': "PM", 'r': "03:04:05 PM", 'R': "15:04", 'S': "05", 'T': "15:04:05",
		'x': "01/02/06", 'X': "15:04:05", 'y': "06", 'Y': "2006", 'z': "-0700", 'Z': "MST",
	}
	if l, ok := layouts[c]; ok {
		w.WriteString(t.Format(l))
		return
	}
	switch c {
	case '@':
		w.WriteByte('@')
	case 'e':
		fmt.Fprintf(w, "%2d", t.Day())
	case 'j':
		fmt.Fprintf(w, "%03d", t.YearDay())
	case 'k':
		fmt.Fprintf(w, "%2d", t.Hour())
	case 'l':
		fmt.Fprintf(w, "%2d", (t.Hour()+11)%12+1)
	case 'n':
		w.WriteByte('\n')
	case 't':
		w.WriteByte('\t')
	case 's':
		w.WriteString(strconv.FormatInt(t.Unix(), 10))
	case 'N':
		fmt.Fprintf(w, "%09d", t.Nanosecond())
	case 'u':
		w.WriteString(strconv.Itoa((int(t.Weekday())+6)%7 + 1))
	case 'w':
		w.WriteString(strconv.Itoa(int(t.Weekday())))
	case 'C':
		fmt.Fprintf(w, "%02d", t.Year()/100)
	case 'G', 'V':
		y, wk := t.ISOWeek()
		if c == 'G' {
			w.WriteString(strconv.Itoa(y))
		} else {
			fmt.Fprintf(w, "%02d", wk)
		}
	default:
		w.WriteByte('@')
		w.WriteByte(c)
	}
}

// jsonField is one member of the JSON object -F %j prints, in order.
type jsonField struct {
	key string
	val string // encoded JSON value
}

// writeJSON writes mosquitto_sub's %j (payload as a string) or %J (payload
// as embedded JSON) object; --pretty lays it out as cJSON does.
func writeJSON(w *bytes.Buffer, m *client.Message, now time.Time, embed, pretty bool) error {
	fields := []jsonField{
		{"tst", jsonString(now.Format("2006-01-02T15:04:05.000000Z-0700"))},
		{"topic", jsonString(m.Topic)},
		{"qos", strconv.Itoa(int(m.QoS))},
		{"retain", strconv.Itoa(b2i(m.Retain))},
		{"payloadlen", strconv.Itoa(len(m.Payload))},
	}
	if props := jsonProps(&m.Properties, pretty); props != "" {
		fields = append(fields, jsonField{"properties", props})
	}
	var payload string
	switch {
	case len(m.Payload) == 0:
		payload = "null"
	case embed:
		var c bytes.Buffer
		if !json.Valid(m.Payload) {
			return fmt.Errorf("Error: Message payload is not valid JSON on topic %s.", m.Topic)
		}
		if pretty {
			json.Indent(&c, m.Payload, "\t", "\t")
		} else {
			json.Compact(&c, m.Payload)
		}
		payload = c.String()
	default:
		payload = jsonString(string(m.Payload))
	}
	fields = append(fields, jsonField{"payload", payload})
	writeObject(w, fields, pretty, "")
	return nil
}

func writeObject(w *bytes.Buffer, fields []jsonField, pretty bool, indent string) {
	if !pretty {
		w.WriteByte('{')
		for i, f := range fields {
			if i > 0 {
				w.WriteByte(',')
			}
			w.WriteString(jsonString(f.key) + ":" + f.val)
		}
		w.WriteByte('}')
		return
	}
	w.WriteString("{\n")
	for i, f := range fields {
		w.WriteString(indent + "\t" + jsonString(f.key) + ":\t" + f.val)
		if i < len(fields)-1 {
			w.WriteByte(',')
		}
		w.WriteByte('\n')
	}
	w.WriteString(indent + "}")
}

// jsonProps renders the v5 properties of a message as mosquitto_sub's
// "properties" object, in the order they are on the wire (mast encodes
// them by identifier).
func jsonProps(p *packet.Properties, pretty bool) string {
	var fs []jsonField
	if p.Has(packet.PropPayloadFormat) {
		fs = append(fs, jsonField{"payload-format-indicator", strconv.Itoa(int(p.PayloadFormat))})
	}
	if p.Has(packet.PropMessageExpiry) {
		fs = append(fs, jsonField{"message-expiry-interval", strconv.FormatUint(uint64(p.MessageExpiry), 10)})
	}
	if p.Has(packet.PropContentType) {
		fs = append(fs, jsonField{"content-type", jsonString(p.ContentType)})
	}
	if p.Has(packet.PropResponseTopic) {
		fs = append(fs, jsonField{"response-topic", jsonString(p.ResponseTopic)})
	}
	if p.Has(packet.PropCorrelationData) {
		fs = append(fs, jsonField{"correlation-data", jsonString(string(p.CorrelationData))})
	}
	for _, id := range p.SubscriptionIDs {
		fs = append(fs, jsonField{"subscription-identifier", strconv.FormatUint(uint64(id), 10)})
	}
	if len(p.User) > 0 {
		var users []jsonField
		for _, u := range p.User {
			users = append(users, jsonField{u.Key, jsonString(u.Value)})
		}
		var b bytes.Buffer
		writeObject(&b, users, pretty, "\t\t")
		fs = append(fs, jsonField{"user-properties", b.String()})
	}
	if len(fs) == 0 {
		return ""
	}
	var b bytes.Buffer
	writeObject(&b, fs, pretty, "\t")
	return b.String()
}

// jsonString quotes s as cJSON does: ", \ and control characters escaped,
// everything else (non-ASCII UTF-8 included) as it is; invalid UTF-8
// becomes U+FFFD so that the output stays valid JSON.
func jsonString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range strings.ToValidUTF8(s, "\uFFFD") {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			if r < 0x20 {
				fmt.Fprintf(&b, `\u%04x`, r)
			} else {
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}
