package packet

import "io"

// ReadFixedHeader reads a fixed header: the type and flags byte and the
// remaining length (a variable byte integer of at most four bytes
// [MQTT-1.5.5-1]). It checks the flags reserved for each type
// [MQTT-2.2.2-1] [MQTT-2.2.2-2].
func ReadFixedHeader(r io.ByteReader) (FixedHeader, error) {
	panic("not yet")
}

// Read reads one whole packet from r. When maxSize > 0 a packet whose total
// size (fixed header included) exceeds it fails with ErrTooLarge before its
// body is allocated. version is the connection's protocol level (0 before
// CONNECT, when only CONNECT is accepted).
func Read(r io.Reader, version byte, maxSize int) (Packet, error) {
	panic("not yet")
}

// Decode decodes a packet body. The result aliases body.
func Decode(version byte, h FixedHeader, body []byte) (Packet, error) {
	panic("not yet")
}

// Append encodes p for protocol level version and appends it to dst.
func Append(dst []byte, version byte, p Packet) ([]byte, error) {
	panic("not yet")
}
