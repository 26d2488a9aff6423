package broker

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"

	"github.com/mastmq/mast/packet"
)

// The Mosquitto-style console: with Options.Verbose the server logs one
// line per packet at Debug level, worded as `mosquitto -v` words them, so
// people who read Mosquitto's console read ours.

func itoa(n int) string { return strconv.Itoa(n) }

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// protoTag is Mosquitto's p1/p2/p5 notation for the protocol level.
func protoTag(v byte) string {
	switch v {
	case packet.Version31:
		return "p1"
	case packet.Version311:
		return "p2"
	}
	return "p5"
}

// connLog writes a connection line (new connection, client connected,
// disconnected) at Info level, as Mosquitto does without -v, unless
// connection messages are turned off.
func (s *Server) connLog(msg string) {
	if !s.opts.NoConnectionMessages {
		s.log.Info(msg)
	}
}

// connLogOn reports whether connLog writes anything, so that a line the
// logger would drop (at a level above Info) is not formatted: at a
// connection storm that is a few per cent of the broker's CPU.
func (s *Server) connLogOn() bool {
	return !s.opts.NoConnectionMessages && s.log.Enabled(context.Background(), slog.LevelInfo)
}

func (c *conn) logConnect(p *packet.Connect, will *message) {
	if c.srv.connLogOn() {
		user := ""
		if p.UsernameFlag {
			user = ", u'" + p.Username + "'"
		}
		c.srv.log.Info(fmt.Sprintf("New client connected from %s as %s (%s, c%d, k%d%s).",
			c.remote, c.clientID, protoTag(p.Version), b2i(p.CleanStart), p.KeepAlive, user))
	}
	if !c.srv.verbose {
		return
	}
	if will == nil {
		c.srv.log.Debug("No will message specified.")
	} else {
		c.srv.log.Debug(fmt.Sprintf("Will message specified (%d bytes) (r%d, q%d).", len(will.payload), b2i(will.retain), will.qos))
		c.srv.log.Debug("\t" + will.topic)
	}
}

// logPublish writes "Received PUBLISH from c (d0, q1, r0, m5, 't', ... (n bytes))".
func (c *conn) logPublish(prefix string, p *packet.Publish) {
	c.logPublishTopic(prefix, p, p.Topic)
}

// logPublishTopic logs with the topic resolved from an alias, as Mosquitto
// prints it.
func (c *conn) logPublishTopic(prefix string, p *packet.Publish, t string) {
	if t == "" && p.Properties.Has(packet.PropTopicAlias) {
		t = "alias " + itoa(int(p.Properties.TopicAlias))
	}
	c.srv.log.Debug(fmt.Sprintf("%s %s (d%d, q%d, r%d, m%d, '%s', ... (%d bytes))",
		prefix, c.clientID, b2i(p.Dup), p.QoS, b2i(p.Retain), p.PacketID, t, len(p.Payload)))
}

func (c *conn) logSubscribe(p *packet.Subscribe) {
	c.srv.log.Debug("Received SUBSCRIBE from " + c.clientID)
	for _, s := range p.Subscriptions {
		c.srv.log.Debug(fmt.Sprintf("\t%s (QoS %d)", s.Filter, s.QoS))
		c.srv.log.Debug(fmt.Sprintf("%s %d %s", c.clientID, s.QoS, s.Filter))
	}
}

// logSent writes the "Sending X to client" line for a control packet.
func (c *conn) logSent(p packet.Packet) {
	var b strings.Builder
	b.WriteString("Sending ")
	b.WriteString(p.Type().String())
	b.WriteString(" to ")
	b.WriteString(c.clientID)
	switch p := p.(type) {
	case *packet.Connack:
		fmt.Fprintf(&b, " (%d, %d)", b2i(p.SessionPresent), p.ReasonCode)
	case *packet.Ack:
		fmt.Fprintf(&b, " (m%d, rc%d)", p.PacketID, p.ReasonCode)
	case *packet.Disconnect:
		fmt.Fprintf(&b, " (rc%d)", p.ReasonCode)
	}
	c.srv.log.Debug(b.String())
}
