package conformance_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mastmq/mast/broker"
	"github.com/mastmq/mast/packet"
)

// Protocol levels as the CONNECT packet carries them.
const (
	v31  byte = 3 // MQTT 3.1, protocol name "MQIsdp"
	v311 byte = 4 // MQTT 3.1.1
	v5   byte = 5 // MQTT 5.0
)

// How long a test waits for a packet it expects, and how long it listens
// to be sure that a packet it does not expect is not coming.
const (
	waitFor = 5 * time.Second
	quiet   = 300 * time.Millisecond
)

// versionName names a protocol level in subtest names.
func versionName(v byte) string {
	switch v {
	case v31:
		return "3.1"
	case v311:
		return "3.1.1"
	case v5:
		return "5.0"
	}
	return fmt.Sprintf("level%d", v)
}

// startBroker runs a broker on 127.0.0.1 port 0 with $SYS off unless the
// options ask for it, and shuts it down when the test ends. It returns the
// address to dial.
func startBroker(t *testing.T, opts broker.Options) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if opts.SysInterval == 0 {
		opts.SysInterval = -1
	}
	srv := broker.New(opts)
	go srv.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("broker shutdown: %v", err)
		}
	})
	return ln.Addr().String()
}

// client is one raw TCP connection to the broker. It sends the bytes the
// test wrote and reads whole packets back.
type client struct {
	t       *testing.T
	name    string
	nc      net.Conn
	br      *bufio.Reader
	version byte
}

// dial opens a connection without sending anything.
func dial(t *testing.T, addr string, version byte, name string) *client {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, waitFor)
	if err != nil {
		t.Fatalf("%s: dial: %v", name, err)
	}
	t.Cleanup(func() { nc.Close() })
	return &client{t: t, name: name, nc: nc, br: bufio.NewReader(nc), version: version}
}

// send writes the concatenation of parts in one write.
func (c *client) send(parts ...[]byte) {
	c.t.Helper()
	b := bytes.Join(parts, nil)
	c.nc.SetWriteDeadline(time.Now().Add(waitFor))
	if _, err := c.nc.Write(b); err != nil {
		c.t.Fatalf("%s: write % X: %v", c.name, b, err)
	}
}

// drop closes the connection abruptly, without DISCONNECT.
func (c *client) drop() { c.nc.Close() }

// readRaw reads one whole packet, fixed header included, waiting at most d.
func (c *client) readRaw(d time.Duration) ([]byte, error) {
	c.nc.SetReadDeadline(time.Now().Add(d))
	first, err := c.br.ReadByte()
	if err != nil {
		return nil, err
	}
	raw := []byte{first}
	n, mul := 0, 1
	for i := 0; ; i++ {
		b, err := c.br.ReadByte()
		if err != nil {
			return raw, unexpected(err)
		}
		raw = append(raw, b)
		n += int(b&0x7F) * mul
		if b&0x80 == 0 {
			break
		}
		if i == 3 {
			return raw, fmt.Errorf("remaining length longer than four bytes: % X", raw)
		}
		mul *= 128
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(c.br, body); err != nil {
		return raw, unexpected(err)
	}
	return append(raw, body...), nil
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// next returns the next packet's bytes, failing the test when none comes.
func (c *client) next() []byte {
	c.t.Helper()
	raw, err := c.readRaw(waitFor)
	if err != nil {
		c.t.Fatalf("%s: waiting for a packet: %v (read % X)", c.name, err, raw)
	}
	return raw
}

// expect reads the next packet and compares it byte for byte with want.
func (c *client) expect(want []byte, what string) {
	c.t.Helper()
	got := c.next()
	if !bytes.Equal(got, want) {
		c.t.Fatalf("%s: %s: got % X (%s), want % X", c.name, what, got, c.describe(got), want)
	}
}

// decode decodes packet bytes with package packet.
func (c *client) decode(raw []byte) packet.Packet {
	c.t.Helper()
	p, err := packet.Read(bytes.NewReader(raw), c.version, 0)
	if err != nil {
		c.t.Fatalf("%s: decoding % X: %v", c.name, raw, err)
	}
	return p
}

// describe is a short account of packet bytes for failure messages.
func (c *client) describe(raw []byte) string {
	if len(raw) == 0 {
		return "nothing"
	}
	p, err := packet.Read(bytes.NewReader(raw), c.version, 0)
	if err != nil {
		return fmt.Sprintf("%v, undecodable: %v", packet.Type(raw[0]>>4), err)
	}
	switch p := p.(type) {
	case *packet.Publish:
		return fmt.Sprintf("PUBLISH topic %q payload %q QoS %d retain %v dup %v id %d", p.Topic, p.Payload, p.QoS, p.Retain, p.Dup, p.PacketID)
	case *packet.Connack:
		return fmt.Sprintf("CONNACK session present %v reason 0x%02X", p.SessionPresent, p.ReasonCode)
	case *packet.Disconnect:
		return fmt.Sprintf("DISCONNECT reason 0x%02X", p.ReasonCode)
	case *packet.Ack:
		return fmt.Sprintf("%v id %d reason 0x%02X", p.Kind, p.PacketID, p.ReasonCode)
	}
	return fmt.Sprintf("%v %+v", p.Type(), p)
}

// read reads and decodes the next packet.
func (c *client) read() packet.Packet {
	c.t.Helper()
	return c.decode(c.next())
}

// expectPublish reads the next packet, which must be a PUBLISH.
func (c *client) expectPublish() *packet.Publish {
	c.t.Helper()
	raw := c.next()
	p, ok := c.decode(raw).(*packet.Publish)
	if !ok {
		c.t.Fatalf("%s: got % X (%s), want a PUBLISH", c.name, raw, c.describe(raw))
	}
	return p
}

// expectMessage reads a PUBLISH and checks its topic, payload, QoS and
// retain flag. It returns the packet for further checks.
func (c *client) expectMessage(topic, payload string, qos byte, retain bool) *packet.Publish {
	c.t.Helper()
	p := c.expectPublish()
	if p.Topic != topic || string(p.Payload) != payload || p.QoS != qos || p.Retain != retain {
		c.t.Fatalf("%s: got PUBLISH topic %q payload %q QoS %d retain %v, want topic %q payload %q QoS %d retain %v",
			c.name, p.Topic, p.Payload, p.QoS, p.Retain, topic, payload, qos, retain)
	}
	return p
}

// expectNothing checks that no packet arrives for a short while and that
// the connection is still open.
func (c *client) expectNothing() {
	c.t.Helper()
	raw, err := c.readRaw(quiet)
	var ne net.Error
	switch {
	case err == nil:
		c.t.Fatalf("%s: got % X (%s), want nothing", c.name, raw, c.describe(raw))
	case errors.As(err, &ne) && ne.Timeout() && len(raw) == 0:
	default:
		c.t.Fatalf("%s: want nothing, but the read failed: %v (read % X)", c.name, err, raw)
	}
}

// expectClosed reads until the broker closes the connection and returns
// what it sent before closing. It fails when the connection stays open.
func (c *client) expectClosed() []byte {
	c.t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(waitFor))
	var got []byte
	buf := make([]byte, 512)
	for {
		n, err := c.br.Read(buf)
		got = append(got, buf[:n]...)
		if err == nil {
			continue
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			c.t.Fatalf("%s: connection still open after %v (received % X)", c.name, waitFor, got)
		}
		if err != io.EOF && !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, os.ErrClosed) {
			c.t.Logf("%s: connection ended with %v", c.name, err)
		}
		return got
	}
}

// expectCloseSilently checks that the broker closes the connection without
// sending anything: what a 3.1.1 server does on a protocol violation.
func (c *client) expectCloseSilently() {
	c.t.Helper()
	if got := c.expectClosed(); len(got) > 0 {
		c.t.Fatalf("%s: got % X (%s) before the close, want nothing", c.name, got, c.describe(got))
	}
}

// expectDisconnect checks for a v5 DISCONNECT with the reason code, and
// then for the close. Only the first three bytes are compared: the broker
// may add a Reason String or User Properties after the reason code.
func (c *client) expectDisconnect(reason byte) {
	c.t.Helper()
	got := c.expectClosed()
	if len(got) < 3 || got[0] != 0xE0 || got[2] != reason {
		c.t.Fatalf("%s: got % X (%s) before the close, want DISCONNECT reason 0x%02X (E0 xx %02X ...)",
			c.name, got, c.describe(got), reason, reason)
	}
}

// expectProtocolClose checks that a protocol violation closes the
// connection: silently at levels 3 and 4, after a DISCONNECT carrying one
// of reasons at level 5.
func (c *client) expectProtocolClose(reasons ...byte) {
	c.t.Helper()
	if c.version != v5 {
		c.expectCloseSilently()
		return
	}
	got := c.expectClosed()
	if len(got) >= 3 && got[0] == 0xE0 {
		for _, r := range reasons {
			if got[2] == r {
				return
			}
		}
	}
	c.t.Fatalf("%s: got % X (%s) before the close, want DISCONNECT with a reason in % X", c.name, got, c.describe(got), reasons)
}

// ping checks that the connection is alive: PINGREQ gets PINGRESP.
func (c *client) ping() {
	c.t.Helper()
	c.send([]byte{
		0xC0, // PINGREQ
		0x00, // remaining length 0
	})
	c.expect([]byte{0xD0, 0x00}, "PINGRESP") // [MQTT-3.12.4-1]
}

// ---- Byte builders. They lay out bytes by hand, independently of package
// packet, for the packets whose fields vary from test to test. Packets
// whose bytes are the point of a test are written out literally there.

// u16 is a Two Byte Integer, big-endian [MQTT-1.5.2].
func u16(n uint16) []byte { return []byte{byte(n >> 8), byte(n)} }

// u32 is a Four Byte Integer, big-endian [MQTT-1.5.3 (5.0)].
func u32(n uint32) []byte { return []byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)} }

// str is a UTF-8 Encoded String or Binary Data: a Two Byte length, then
// the bytes.
func str(s string) []byte { return append(u16(uint16(len(s))), s...) }

// varint is a Variable Byte Integer: seven bits a byte, low first, the top
// bit set on all but the last.
func varint(n int) []byte {
	var b []byte
	for {
		d := byte(n % 128)
		n /= 128
		if n > 0 {
			b = append(b, d|0x80)
			continue
		}
		return append(b, d)
	}
}

// pkt assembles a packet: the first byte (type and flags), the remaining
// length as a Variable Byte Integer, then the body.
func pkt(first byte, body ...[]byte) []byte {
	b := bytes.Join(body, nil)
	return append(append([]byte{first}, varint(len(b))...), b...)
}

// props is a v5 property block: its length, then the properties.
func props(ps ...[]byte) []byte {
	b := bytes.Join(ps, nil)
	return append(varint(len(b)), b...)
}

// CONNECT flags [MQTT 3.1.1 §3.1.2.3] [MQTT 5.0 §3.1.2.3].
const (
	flagClean    byte = 0x02 // Clean Session (3.1.1), Clean Start (5.0)
	flagWill     byte = 0x04
	flagWillQoS1 byte = 0x08
	flagWillQoS2 byte = 0x10
	flagWillRet  byte = 0x20
	flagPassword byte = 0x40
	flagUsername byte = 0x80
)

// connect311 is a 3.1.1 CONNECT: protocol name "MQTT", level 4, the
// flags, the keep alive, the client id, then the rest of the payload.
func connect311(id string, flags byte, keepAlive uint16, payload ...[]byte) []byte {
	return pkt(0x10, // CONNECT
		str("MQTT"),              // protocol name
		[]byte{4},                // protocol level 4
		[]byte{flags},            // connect flags
		u16(keepAlive),           // keep alive, seconds
		str(id),                  // client identifier
		bytes.Join(payload, nil)) // will topic, will message, user name, password
}

// connect31 is a 3.1 CONNECT: protocol name "MQIsdp", level 3.
func connect31(id string, flags byte, keepAlive uint16) []byte {
	return pkt(0x10, // CONNECT
		str("MQIsdp"),  // protocol name
		[]byte{3},      // protocol level 3
		[]byte{flags},  // connect flags
		u16(keepAlive), // keep alive
		str(id))        // client identifier
}

// connect5 is a 5.0 CONNECT: protocol name "MQTT", level 5, flags, keep
// alive, the property block (properties without their length), the client
// id, then the rest of the payload (will properties, will topic ...).
func connect5(id string, flags byte, keepAlive uint16, properties []byte, payload ...[]byte) []byte {
	return pkt(0x10, // CONNECT
		str("MQTT"),       // protocol name
		[]byte{5},         // protocol level 5
		[]byte{flags},     // connect flags
		u16(keepAlive),    // keep alive
		props(properties), // property length and properties
		str(id),           // client identifier
		bytes.Join(payload, nil))
}

// connectPacket is a CONNECT with no will, user name or password at any
// level; v5 ones carry the given properties.
func connectPacket(version byte, id string, flags byte, properties ...[]byte) []byte {
	switch version {
	case v31:
		return connect31(id, flags, 0)
	case v311:
		return connect311(id, flags, 0)
	}
	return connect5(id, flags, 0, bytes.Join(properties, nil))
}

// v5 properties used by many tests, as identifier and value.
func propSessionExpiry(s uint32) []byte   { return append([]byte{0x11}, u32(s)...) }
func propReceiveMaximum(n uint16) []byte  { return append([]byte{0x21}, u16(n)...) }
func propTopicAliasMax(n uint16) []byte   { return append([]byte{0x22}, u16(n)...) }
func propTopicAlias(n uint16) []byte      { return append([]byte{0x23}, u16(n)...) }
func propMaxPacketSize(n uint32) []byte   { return append([]byte{0x27}, u32(n)...) }
func propMessageExpiry(s uint32) []byte   { return append([]byte{0x02}, u32(s)...) }
func propWillDelay(s uint32) []byte       { return append([]byte{0x18}, u32(s)...) }
func propSubscriptionID(id int) []byte    { return append([]byte{0x0B}, varint(id)...) }
func propPayloadFormat(b byte) []byte     { return []byte{0x01, b} }
func propUser(k, v string) []byte         { return append(append([]byte{0x26}, str(k)...), str(v)...) }
func propContentType(s string) []byte     { return append([]byte{0x03}, str(s)...) }
func propResponseTopic(s string) []byte   { return append([]byte{0x08}, str(s)...) }
func propCorrelationData(s string) []byte { return append([]byte{0x09}, str(s)...) }

// connack311 is the CONNACK a 3.1 or 3.1.1 server sends: flags (session
// present in bit 0) and the return code [MQTT 3.1.1 §3.2].
func connack311(sessionPresent bool, code byte) []byte {
	sp := byte(0)
	if sessionPresent {
		sp = 1
	}
	return []byte{
		0x20, // CONNACK
		0x02, // remaining length 2
		sp,   // connect acknowledge flags
		code, // return code
	}
}

// connect dials, sends a CONNECT for id at the level with the flags (and
// v5 properties) and checks that it is accepted with the given session
// present flag. It returns the client and, for v5, the CONNACK.
func connect(t *testing.T, addr string, version byte, id string, flags byte, sessionPresent bool, properties ...[]byte) (*client, *packet.Connack) {
	t.Helper()
	c := dial(t, addr, version, id)
	c.send(connectPacket(version, id, flags, properties...))
	if version != v5 {
		c.expect(connack311(sessionPresent, 0x00), "CONNACK")
		return c, nil
	}
	ack := c.expectConnack5()
	if ack.ReasonCode != 0 || ack.SessionPresent != sessionPresent {
		t.Fatalf("%s: CONNACK reason 0x%02X session present %v, want 0x00 and %v", id, ack.ReasonCode, ack.SessionPresent, sessionPresent)
	}
	return c, ack
}

// connectClean connects with a clean session / clean start. The client id
// is name with a suffix that makes it unique, so that parallel tests
// sharing a broker never take over each other's connections.
func connectClean(t *testing.T, addr string, version byte, name string, properties ...[]byte) *client {
	t.Helper()
	c, _ := connect(t, addr, version, fmt.Sprintf("%s-%d", name, clientSeq.Add(1)), flagClean, false, properties...)
	c.name = name
	return c
}

// clientSeq numbers the clients connectClean makes.
var clientSeq atomic.Uint64

// expectConnack5 reads a v5 CONNACK.
func (c *client) expectConnack5() *packet.Connack {
	c.t.Helper()
	raw := c.next()
	ack, ok := c.decode(raw).(*packet.Connack)
	if !ok {
		c.t.Fatalf("%s: got % X (%s), want CONNACK", c.name, raw, c.describe(raw))
	}
	return ack
}

// subscribePacket is a SUBSCRIBE for one filter with the options byte
// (QoS in bits 0-1; v5 No Local bit 2, Retain As Published bit 3, Retain
// Handling bits 4-5), with v5 properties.
func subscribePacket(version byte, pid uint16, filter string, options byte, properties ...[]byte) []byte {
	var pr []byte
	if version == v5 {
		pr = props(properties...)
	}
	return pkt(0x82, // SUBSCRIBE, reserved flags 0010 [MQTT-3.8.1-1]
		u16(pid),        // packet identifier
		pr,              // v5 property block
		str(filter),     // topic filter
		[]byte{options}) // subscription options
}

// suback is the SUBACK for one filter: 3.1.1 has no properties, v5 an
// empty property block.
func suback(version byte, pid uint16, code byte) []byte {
	if version == v5 {
		return []byte{0x90, 0x04, byte(pid >> 8), byte(pid), 0x00, code}
	}
	return []byte{0x90, 0x03, byte(pid >> 8), byte(pid), code}
}

// subscribe subscribes to one filter and checks the SUBACK grants the
// requested QoS.
func (c *client) subscribe(pid uint16, filter string, options byte, properties ...[]byte) {
	c.t.Helper()
	c.send(subscribePacket(c.version, pid, filter, options, properties...))
	c.expect(suback(c.version, pid, options&3), "SUBACK for "+filter)
}

// publishPacket is a PUBLISH: fixed header flags from dup, qos and retain,
// topic, packet id when QoS > 0, v5 properties, payload.
func publishPacket(version byte, qos byte, retain bool, topic string, pid uint16, payload string, properties ...[]byte) []byte {
	first := byte(0x30) | qos<<1 // PUBLISH, QoS in bits 1-2
	if retain {
		first |= 0x01 // RETAIN
	}
	var id, pr []byte
	if qos > 0 {
		id = u16(pid)
	}
	if version == v5 {
		pr = props(properties...)
	}
	return pkt(first, str(topic), id, pr, []byte(payload))
}

// publish sends a PUBLISH and completes its QoS flow as the sender. For v5
// the PUBACK/PUBREC reason may be 0x10 (no matching subscribers), which is
// accepted.
func (c *client) publish(qos byte, retain bool, topic string, pid uint16, payload string, properties ...[]byte) {
	c.t.Helper()
	c.send(publishPacket(c.version, qos, retain, topic, pid, payload, properties...))
	switch qos {
	case 1:
		c.expectAck(0x40, pid, "PUBACK")
	case 2:
		c.expectAck(0x50, pid, "PUBREC")
		c.send(pubrel(pid))
		c.expect(ack(0x70, pid), "PUBCOMP")
	}
}

// expectAck reads a PUBACK or PUBREC (first byte kind) for pid with a
// success reason: 0x00, or in v5 0x10 No matching subscribers.
func (c *client) expectAck(kind byte, pid uint16, what string) {
	c.t.Helper()
	got := c.next()
	if bytes.Equal(got, ack(kind, pid)) {
		return
	}
	if c.version == v5 && bytes.Equal(got, []byte{kind, 0x03, byte(pid >> 8), byte(pid), 0x10}) {
		return
	}
	c.t.Fatalf("%s: got % X (%s), want %s % X", c.name, got, c.describe(got), what, ack(kind, pid))
}

// ack is a PUBACK (0x40), PUBREC (0x50), PUBREL (0x62) or PUBCOMP (0x70)
// with a packet id and nothing else: the 3.1.1 form, and the v5 form for
// reason 0x00 without properties [MQTT 5.0 §3.4.2.1].
func ack(first byte, pid uint16) []byte {
	return []byte{first, 0x02, byte(pid >> 8), byte(pid)}
}

func puback(pid uint16) []byte  { return ack(0x40, pid) }
func pubrec(pid uint16) []byte  { return ack(0x50, pid) }
func pubrel(pid uint16) []byte  { return ack(0x62, pid) } // flags 0010 [MQTT-3.6.1-1]
func pubcomp(pid uint16) []byte { return ack(0x70, pid) }

// disconnect is a DISCONNECT with no reason code: 0x00 Normal disconnection
// in v5 [MQTT 5.0 §3.14.2.1].
var disconnect = []byte{
	0xE0, // DISCONNECT
	0x00, // remaining length 0
}

// eventually retries f every 100 ms until it returns true or the deadline
// passes.
func eventually(t *testing.T, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after %v", what, waitFor)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
