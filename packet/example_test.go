package packet_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"

	"github.com/mastmq/mast/packet"
)

// A server reads the first packet at level 0, learns the client's level
// from its CONNECT and answers at that level.
func Example() {
	conn := bytes.NewBuffer(nil) // stands for a network connection
	conn.Write([]byte{
		0x10, 0x13, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x02, 0x00, 0x3C, // CONNECT 3.1.1
		0x00, 0x07, 's', 'e', 'n', 's', 'o', 'r', '1', // client identifier
		0xC0, 0x00, // PINGREQ
	})
	r := bufio.NewReader(conn)

	p, err := packet.Read(r, 0, 1<<20)
	if err != nil {
		fmt.Println(err)
		return
	}
	c := p.(*packet.Connect)
	fmt.Println(c.ProtocolName, c.Version, c.ClientID)

	out, _ := packet.Append(nil, c.Version, &packet.Connack{ReasonCode: packet.ConnAccepted})
	fmt.Printf("% X\n", out)

	p, _ = packet.Read(r, c.Version, 1<<20)
	fmt.Println(p.Type())
	// Output:
	// MQTT 4 sensor1
	// 20 02 00 00
	// PINGREQ
}

// A CONNECT at a level the server does not speak still says which level
// it asked for, so the refusal can be sent in a form the client reads.
func ExampleErrUnsupportedVersion() {
	raw := []byte{0x10, 0x0C, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x06, 0x02, 0x00, 0x3C, 0x00, 0x00}
	p, err := packet.Read(bytes.NewReader(raw), 0, 0)
	if c, ok := p.(*packet.Connect); ok && errors.Is(err, packet.ErrUnsupportedVersion) {
		ack := &packet.Connack{ReasonCode: packet.ConnRefusedVersion}
		level := packet.Version311
		if c.Version == packet.Version5 {
			ack.ReasonCode, level = packet.UnsupportedProtocolVersion, packet.Version5
		}
		out, _ := packet.Append(nil, level, ack)
		fmt.Printf("level %d: % X\n", c.Version, out)
	}
	// Output:
	// level 6: 20 02 00 01
}

// A broker encodes one PUBLISH per subscriber; built on the stack and
// appended to the connection's write buffer, it allocates nothing.
func ExamplePublish_Append() {
	buf := make([]byte, 0, 512)
	payload := []byte("21.5")
	for i, qos := range []byte{0, 1} {
		p := packet.Publish{QoS: qos, Topic: "house/sensor1", Payload: payload}
		if qos > 0 {
			p.PacketID = uint16(i)
		}
		buf, _ = p.Append(buf, packet.Version311)
	}
	fmt.Printf("% X\n", buf)
	// Output:
	// 30 13 00 0D 68 6F 75 73 65 2F 73 65 6E 73 6F 72 31 32 31 2E 35 32 15 00 0D 68 6F 75 73 65 2F 73 65 6E 73 6F 72 31 00 01 32 31 2E 35
}
