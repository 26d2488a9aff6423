package client

import (
	"errors"
	"fmt"

	"github.com/mastmq/mast/packet"
)

// Errors returned by the client. Operations wrap them, so test with
// errors.Is.
var (
	// ErrNotConnected: the client has no connection and the operation cannot
	// wait for one (Connect not called, Disconnect called, or a publish made
	// while reconnecting with the offline buffer off or full).
	ErrNotConnected = errors.New("client: not connected")
	// ErrAlreadyConnected: Connect was called on a client that is connected
	// or connecting.
	ErrAlreadyConnected = errors.New("client: already connected")
	// ErrConnectionLost: the connection ended before the operation completed
	// and no reconnect will complete it. A QoS 1 or 2 message that fails with
	// it may or may not have reached the server.
	ErrConnectionLost = errors.New("client: connection lost")
	// ErrClosed: Disconnect ended the operation.
	ErrClosed = errors.New("client: disconnected")
	// ErrSessionLost: a QoS 2 message was in flight when the server lost the
	// session (a reconnect with Session Present 0); it may or may not have
	// been delivered, and resending it could deliver it twice.
	ErrSessionLost = errors.New("client: session lost with QoS 2 message in flight")
	// ErrPingTimeout: no PINGRESP came within the ping timeout; the
	// connection was closed as dead.
	ErrPingTimeout = errors.New("client: no PINGRESP within the ping timeout")
	// ErrPacketTooLarge: the packet exceeds the server's Maximum Packet Size
	// [MQTT-3.2.2-15], so it was not sent.
	ErrPacketTooLarge = errors.New("client: packet larger than the server's maximum packet size")
	// ErrNotSupported: the server said in CONNACK that it does not support
	// what was asked (a QoS above its Maximum QoS, a retained message when
	// Retain Available is 0).
	ErrNotSupported = errors.New("client: not supported by the server")
)

// ReasonError is a refusal by the server: a CONNACK that refuses the
// connection, a PUBACK, PUBREC or PUBCOMP with a failure reason code, a
// SUBACK or UNSUBACK refusing a filter, or a DISCONNECT from the server.
type ReasonError struct {
	Packet  packet.Type // CONNACK, PUBACK, PUBREC, PUBCOMP, SUBACK, UNSUBACK or DISCONNECT
	Version byte        // protocol level of the connection
	Code    byte        // v5 reason code, or 3.1.1 CONNACK return code / SUBACK 0x80
	Reason  string      // v5 Reason String property, if the server sent one
	Filter  string      // SUBACK, UNSUBACK: the filter refused
}

func (e *ReasonError) Error() string {
	s := fmt.Sprintf("client: %v: %s (0x%02X)", e.Packet, ReasonText(e.Version, e.Packet, e.Code), e.Code)
	if e.Filter != "" {
		s += fmt.Sprintf(" for %q", e.Filter)
	}
	if e.Reason != "" {
		s += ": " + e.Reason
	}
	return s
}

// ReasonText describes a reason code the way the MQTT standards name it.
// For protocol levels 3 and 4 a CONNACK code is a 3.1.1 return code; every
// other code is a v5 reason code.
func ReasonText(version byte, t packet.Type, code byte) string {
	if version < packet.Version5 {
		switch t {
		case packet.CONNACK:
			switch code {
			case packet.ConnAccepted:
				return "Connection Accepted."
			case packet.ConnRefusedVersion:
				return "Connection Refused: unacceptable protocol version."
			case packet.ConnRefusedIdentifier:
				return "Connection Refused: identifier rejected."
			case packet.ConnRefusedUnavailable:
				return "Connection Refused: broker unavailable."
			case packet.ConnRefusedBadCredentials:
				return "Connection Refused: bad user name or password."
			case packet.ConnRefusedNotAuthorized:
				return "Connection Refused: not authorised."
			}
			return "Connection Refused: unknown reason."
		case packet.SUBACK:
			if code == packet.SubackFailure {
				return "Failure"
			}
		}
	}
	if s, ok := reasonNames[code]; ok {
		if code == packet.Success && t == packet.DISCONNECT {
			return "Normal disconnection"
		}
		if code <= packet.GrantedQoS2 && t == packet.SUBACK {
			return fmt.Sprintf("Granted QoS %d", code)
		}
		return s
	}
	return "Unknown reason"
}

// reasonNames are the names MQTT 5.0 §2.4 gives the reason codes.
var reasonNames = map[byte]string{
	0x00: "Success",
	0x01: "Granted QoS 1",
	0x02: "Granted QoS 2",
	0x04: "Disconnect with Will Message",
	0x10: "No matching subscribers",
	0x11: "No subscription existed",
	0x18: "Continue authentication",
	0x19: "Re-authenticate",
	0x80: "Unspecified error",
	0x81: "Malformed Packet",
	0x82: "Protocol Error",
	0x83: "Implementation specific error",
	0x84: "Unsupported Protocol Version",
	0x85: "Client Identifier not valid",
	0x86: "Bad User Name or Password",
	0x87: "Not authorized",
	0x88: "Server unavailable",
	0x89: "Server busy",
	0x8A: "Banned",
	0x8B: "Server shutting down",
	0x8C: "Bad authentication method",
	0x8D: "Keep Alive timeout",
	0x8E: "Session taken over",
	0x8F: "Topic Filter invalid",
	0x90: "Topic Name invalid",
	0x91: "Packet Identifier in use",
	0x92: "Packet Identifier not found",
	0x93: "Receive Maximum exceeded",
	0x94: "Topic Alias invalid",
	0x95: "Packet too large",
	0x96: "Message rate too high",
	0x97: "Quota exceeded",
	0x98: "Administrative action",
	0x99: "Payload format invalid",
	0x9A: "Retain not supported",
	0x9B: "QoS not supported",
	0x9C: "Use another server",
	0x9D: "Server moved",
	0x9E: "Shared Subscriptions not supported",
	0x9F: "Connection rate exceeded",
	0xA0: "Maximum connect time",
	0xA1: "Subscription Identifiers not supported",
	0xA2: "Wildcard Subscriptions not supported",
}

// ackError returns the error a PUBACK, PUBREC or PUBCOMP reason code means,
// nil for success (codes below 0x80 [MQTT 5.0 §2.4]).
func ackError(version byte, a *packet.Ack) error {
	if a.ReasonCode < 0x80 {
		return nil
	}
	return &ReasonError{Packet: a.Kind, Version: version, Code: a.ReasonCode, Reason: a.Properties.ReasonString}
}
