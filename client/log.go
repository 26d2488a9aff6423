package client

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/mastmq/mast/packet"
)

// Log lines worded as Paho's on_log words them, so that people who debug
// with Paho's output read ours. They are built only when Options.Logger is
// set.

func (c *Client) logf(format string, args ...any) {
	if c.opts.Logger != nil {
		c.opts.Logger(fmt.Sprintf(format, args...))
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (c *Client) logConnect(p *packet.Connect) {
	if c.opts.Logger == nil {
		return
	}
	s := fmt.Sprintf("Sending CONNECT (u%d, p%d, wr%d, wq%d, wf%d, c%d, k%d) client_id=b'%s'",
		b2i(p.UsernameFlag), b2i(p.PasswordFlag), b2i(p.WillRetain), p.WillQoS, b2i(p.WillFlag),
		b2i(p.CleanStart), p.KeepAlive, p.ClientID)
	if p.Version == packet.Version5 {
		s += " properties=" + propsString(&p.Properties)
	}
	c.opts.Logger(s)
}

func (c *Client) logConnack(v byte, a *packet.Connack) {
	if c.opts.Logger == nil {
		return
	}
	if v == packet.Version5 {
		c.opts.Logger(fmt.Sprintf("Received CONNACK (%d, %s) properties=%s",
			b2i(a.SessionPresent), ReasonText(v, packet.CONNACK, a.ReasonCode), propsString(&a.Properties)))
		return
	}
	c.opts.Logger(fmt.Sprintf("Received CONNACK (%d, %d)", b2i(a.SessionPresent), a.ReasonCode))
}

// logPublish logs a PUBLISH sent or received. Paho puts two spaces before
// the byte count of a received one; so do we.
func (c *Client) logPublish(dir string, v byte, p *packet.Publish) {
	if c.opts.Logger == nil {
		return
	}
	sep := " "
	if dir == "Received" {
		sep = "  "
	}
	props := ""
	if v == packet.Version5 {
		props = " properties=" + propsString(&p.Properties) + ","
	}
	c.opts.Logger(fmt.Sprintf("%s PUBLISH (d%d, q%d, r%d, m%d), '%s',%s ...%s(%d bytes)",
		dir, b2i(p.Dup), p.QoS, b2i(p.Retain), p.PacketID, p.Topic, props, sep, len(p.Payload)))
}

func (c *Client) logAck(dir string, a *packet.Ack) {
	if c.opts.Logger != nil {
		c.opts.Logger(fmt.Sprintf("%s %v (Mid: %d)", dir, a.Kind, a.PacketID))
	}
}

func (c *Client) logSubscribe(v byte, p *packet.Subscribe) {
	if c.opts.Logger == nil {
		return
	}
	var b strings.Builder
	b.WriteString("[")
	for i, s := range p.Subscriptions {
		if i > 0 {
			b.WriteString(", ")
		}
		if v == packet.Version5 {
			fmt.Fprintf(&b, "(b'%s', {'QoS': %d, 'noLocal': %s, 'retainAsPublished': %s, 'retainHandling': %d})",
				s.Filter, s.QoS, pyBool(s.NoLocal), pyBool(s.RetainAsPublished), s.RetainHandling)
		} else {
			fmt.Fprintf(&b, "(b'%s', %d)", s.Filter, s.QoS)
		}
	}
	b.WriteString("]")
	c.opts.Logger(fmt.Sprintf("Sending SUBSCRIBE (d0, m%d) %s", p.PacketID, b.String()))
}

func (c *Client) logUnsubscribe(p *packet.Unsubscribe) {
	if c.opts.Logger == nil {
		return
	}
	parts := make([]string, len(p.Filters))
	for i, f := range p.Filters {
		parts[i] = "b'" + f + "'"
	}
	c.opts.Logger(fmt.Sprintf("Sending UNSUBSCRIBE (d0, m%d) [%s]", p.PacketID, strings.Join(parts, ", ")))
}

func pyBool(b bool) string {
	if b {
		return "True"
	}
	return "False"
}

// propsString renders v5 properties as Paho prints them:
// "[SessionExpiryInterval : 0, UserProperty : [('k', 'v')]]".
func propsString(p *packet.Properties) string {
	var parts []string
	add := func(id packet.PropID, name, val string) {
		if p.Has(id) {
			parts = append(parts, name+" : "+val)
		}
	}
	add(packet.PropPayloadFormat, "PayloadFormatIndicator", strconv.Itoa(int(p.PayloadFormat)))
	add(packet.PropMessageExpiry, "MessageExpiryInterval", strconv.FormatUint(uint64(p.MessageExpiry), 10))
	add(packet.PropContentType, "ContentType", p.ContentType)
	add(packet.PropResponseTopic, "ResponseTopic", p.ResponseTopic)
	add(packet.PropCorrelationData, "CorrelationData", fmt.Sprintf("b'%s'", p.CorrelationData))
	if len(p.SubscriptionIDs) > 0 {
		ids := make([]string, len(p.SubscriptionIDs))
		for i, id := range p.SubscriptionIDs {
			ids[i] = strconv.FormatUint(uint64(id), 10)
		}
		v := ids[0]
		if len(ids) > 1 {
			v = "[" + strings.Join(ids, ", ") + "]"
		}
		parts = append(parts, "SubscriptionIdentifier : "+v)
	}
	add(packet.PropSessionExpiry, "SessionExpiryInterval", strconv.FormatUint(uint64(p.SessionExpiry), 10))
	add(packet.PropAssignedClientID, "AssignedClientIdentifier", p.AssignedClientID)
	add(packet.PropServerKeepAlive, "ServerKeepAlive", strconv.Itoa(int(p.ServerKeepAlive)))
	add(packet.PropAuthMethod, "AuthenticationMethod", p.AuthMethod)
	add(packet.PropRequestProblemInfo, "RequestProblemInformation", strconv.Itoa(int(p.RequestProblemInfo)))
	add(packet.PropWillDelay, "WillDelayInterval", strconv.FormatUint(uint64(p.WillDelay), 10))
	add(packet.PropRequestResponseInfo, "RequestResponseInformation", strconv.Itoa(int(p.RequestResponseInfo)))
	add(packet.PropResponseInfo, "ResponseInformation", p.ResponseInfo)
	add(packet.PropServerReference, "ServerReference", p.ServerReference)
	add(packet.PropReasonString, "ReasonString", p.ReasonString)
	add(packet.PropReceiveMaximum, "ReceiveMaximum", strconv.Itoa(int(p.ReceiveMaximum)))
	add(packet.PropTopicAliasMaximum, "TopicAliasMaximum", strconv.Itoa(int(p.TopicAliasMaximum)))
	add(packet.PropTopicAlias, "TopicAlias", strconv.Itoa(int(p.TopicAlias)))
	add(packet.PropMaximumQoS, "MaximumQoS", strconv.Itoa(int(p.MaximumQoS)))
	add(packet.PropRetainAvailable, "RetainAvailable", strconv.Itoa(int(p.RetainAvailable)))
	if len(p.User) > 0 {
		us := make([]string, len(p.User))
		for i, u := range p.User {
			us[i] = fmt.Sprintf("('%s', '%s')", u.Key, u.Value)
		}
		parts = append(parts, "UserProperty : ["+strings.Join(us, ", ")+"]")
	}
	add(packet.PropMaximumPacketSize, "MaximumPacketSize", strconv.FormatUint(uint64(p.MaximumPacketSize), 10))
	add(packet.PropWildcardSubAvailable, "WildcardSubscriptionAvailable", strconv.Itoa(int(p.WildcardSubAvailable)))
	add(packet.PropSubIDAvailable, "SubscriptionIdentifierAvailable", strconv.Itoa(int(p.SubIDAvailable)))
	add(packet.PropSharedSubAvailable, "SharedSubscriptionAvailable", strconv.Itoa(int(p.SharedSubAvailable)))
	return "[" + strings.Join(parts, ", ") + "]"
}
