package packet

import (
	"errors"
	"fmt"
)

// Protocol levels as carried in CONNECT.
const (
	Version31  byte = 3 // MQTT 3.1, protocol name "MQIsdp"
	Version311 byte = 4 // MQTT 3.1.1, protocol name "MQTT"
	Version5   byte = 5 // MQTT 5.0, protocol name "MQTT"
)

// Type is the control packet type from the fixed header's high nibble.
type Type byte

// Control packet types.
const (
	CONNECT     Type = 1
	CONNACK     Type = 2
	PUBLISH     Type = 3
	PUBACK      Type = 4
	PUBREC      Type = 5
	PUBREL      Type = 6
	PUBCOMP     Type = 7
	SUBSCRIBE   Type = 8
	SUBACK      Type = 9
	UNSUBSCRIBE Type = 10
	UNSUBACK    Type = 11
	PINGREQ     Type = 12
	PINGRESP    Type = 13
	DISCONNECT  Type = 14
	AUTH        Type = 15
)

var typeNames = [...]string{"RESERVED", "CONNECT", "CONNACK", "PUBLISH", "PUBACK", "PUBREC", "PUBREL", "PUBCOMP",
	"SUBSCRIBE", "SUBACK", "UNSUBSCRIBE", "UNSUBACK", "PINGREQ", "PINGRESP", "DISCONNECT", "AUTH"}

func (t Type) String() string {
	if int(t) < len(typeNames) {
		return typeNames[t]
	}
	return fmt.Sprintf("TYPE(%d)", byte(t))
}

// Errors returned by Decode and ReadFixedHeader wrap one of these, so a
// server can pick the reason code: 0x81 Malformed Packet, 0x82 Protocol
// Error, 0x95 Packet Too Large.
var (
	ErrMalformed = errors.New("malformed packet")
	ErrProtocol  = errors.New("protocol error")
	ErrTooLarge  = errors.New("packet too large")
)

// MaxRemainingLength is the largest remaining length a variable byte
// integer of four bytes can express [MQTT-1.5.5].
const MaxRemainingLength = 268435455

// Packet is any decoded control packet.
type Packet interface {
	Type() Type
}

// FixedHeader is the first part of every control packet.
type FixedHeader struct {
	Type      Type
	Flags     byte // the low nibble of the first byte
	Remaining int  // remaining length: bytes after the fixed header
}

// Connect is the CONNECT packet.
type Connect struct {
	ProtocolName string // "MQTT", or "MQIsdp" for 3.1
	Version      byte   // protocol level: 3, 4 or 5
	CleanStart   bool   // Clean Session in 3.1.1
	KeepAlive    uint16
	ClientID     string
	Properties   Properties // v5 only

	WillFlag       bool
	WillQoS        byte
	WillRetain     bool
	WillTopic      string
	WillPayload    []byte
	WillProperties Properties // v5 only

	UsernameFlag bool
	Username     string
	PasswordFlag bool
	Password     []byte
}

// Connack is the CONNACK packet. ReasonCode holds the 3.1.1 return code for
// levels 3 and 4 and the v5 reason code for level 5.
type Connack struct {
	SessionPresent bool
	ReasonCode     byte
	Properties     Properties
}

// Publish is the PUBLISH packet.
type Publish struct {
	Dup        bool
	QoS        byte
	Retain     bool
	Topic      string
	PacketID   uint16 // only for QoS 1 and 2
	Properties Properties
	Payload    []byte
}

// Ack is PUBACK, PUBREC, PUBREL or PUBCOMP, which share one layout. In v5 a
// reason code of 0 with no properties is encoded in the short form.
type Ack struct {
	Kind       Type // PUBACK, PUBREC, PUBREL or PUBCOMP
	PacketID   uint16
	ReasonCode byte
	Properties Properties
}

// Subscription is one topic filter of a SUBSCRIBE with its options.
type Subscription struct {
	Filter            string
	QoS               byte
	NoLocal           bool // v5
	RetainAsPublished bool // v5
	RetainHandling    byte // v5: 0, 1 or 2
}

// Subscribe is the SUBSCRIBE packet.
type Subscribe struct {
	PacketID      uint16
	Properties    Properties // v5: subscription identifier, user properties
	Subscriptions []Subscription
}

// Suback is the SUBACK packet; one reason code (3.1.1: return code) per filter.
type Suback struct {
	PacketID    uint16
	Properties  Properties
	ReasonCodes []byte
}

// Unsubscribe is the UNSUBSCRIBE packet.
type Unsubscribe struct {
	PacketID   uint16
	Properties Properties
	Filters    []string
}

// Unsuback is the UNSUBACK packet. ReasonCodes is used in v5 only; 3.1.1
// UNSUBACK carries none.
type Unsuback struct {
	PacketID    uint16
	Properties  Properties
	ReasonCodes []byte
}

// Pingreq is the PINGREQ packet.
type Pingreq struct{}

// Pingresp is the PINGRESP packet.
type Pingresp struct{}

// Disconnect is the DISCONNECT packet; reason code and properties are v5 only.
type Disconnect struct {
	ReasonCode byte
	Properties Properties
}

// Auth is the v5 AUTH packet.
type Auth struct {
	ReasonCode byte
	Properties Properties
}

func (*Connect) Type() Type     { return CONNECT }
func (*Connack) Type() Type     { return CONNACK }
func (*Publish) Type() Type     { return PUBLISH }
func (a *Ack) Type() Type       { return a.Kind }
func (*Subscribe) Type() Type   { return SUBSCRIBE }
func (*Suback) Type() Type      { return SUBACK }
func (*Unsubscribe) Type() Type { return UNSUBSCRIBE }
func (*Unsuback) Type() Type    { return UNSUBACK }
func (*Pingreq) Type() Type     { return PINGREQ }
func (*Pingresp) Type() Type    { return PINGRESP }
func (*Disconnect) Type() Type  { return DISCONNECT }
func (*Auth) Type() Type        { return AUTH }
