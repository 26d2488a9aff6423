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
package packet
