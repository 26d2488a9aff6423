// Package packet is the MQTT wire format for protocol levels 3 (MQTT 3.1,
// "MQIsdp"), 4 (MQTT 3.1.1) and 5 (MQTT 5.0): every control packet, every v5
// property and reason code, and strict Encode/Decode.
//
// The package is pure: no network, no goroutines, no package-level mutable
// state. Decode validates everything the standards make a decoder's job
// (reserved flag bits, variable byte integer limits, UTF-8 rules, duplicate or
// misplaced properties, packet identifier 0) and returns errors that wrap
// ErrMalformed, ErrProtocol or ErrTooLarge so a server can choose the right
// reason code. Topic-level rules (wildcards in names, filter syntax) live in
// package topic.
//
// Decoded packets alias the body buffer they were decoded from (strings and
// byte slices point into it), so a caller hands Decode a fresh buffer per
// packet and never reuses it; that keeps decoding at one allocation per
// packet on the hot path.
//
// # Reading
//
// Read takes a whole packet from a stream: the fixed header, then (if the
// packet fits the caller's maximum size, else ErrTooLarge before anything is
// allocated) the body, then Decode. A connection starts at level 0, when
// only CONNECT is accepted; Decode reads CONNECT at the level it announces
// and, for a level it does not speak, returns the *Connect with the error
// ErrUnsupportedVersion so that the server can refuse it in the client's
// own format.
//
// Each error cites the normative statement it enforces, e.g.
// "[MQTT-3.3.1-4]", or the section where the standard numbers none. What
// needs session state (a second CONNECT, topic alias and receive maximum
// limits, properties that only one side may send) is the caller's to check.
//
// MQTT 3.1 was never an OASIS standard and its clients are loose; at level
// 3 Decode accepts what Mosquitto accepts from them: the DUP bit on PUBREL,
// SUBSCRIBE and UNSUBSCRIBE, user name and password flags whose fields are
// missing, and any first byte in CONNACK.
//
// # Writing
//
// Append writes a packet at a level, leaving out what that level lacks
// (properties and reason codes before 5.0), and refuses with ErrInvalid
// what it cannot write or a receiver would reject. It allocates only to grow
// its destination. Publish.Append and Publish.AppendHeader serve the
// broker's one-PUBLISH-per-subscriber path without any allocation.
package packet
