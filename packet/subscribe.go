package packet

import (
	"encoding/binary"
	"fmt"
)

// SUBSCRIBE: MQTT 5.0 §3.8, 3.1.1 §3.8.

// Subscription options [MQTT 5.0 §3.8.3.1].
const (
	subNoLocal           = 0x04
	subRetainAsPublished = 0x08
	subRetainHandling    = 4 // shift of the two retain handling bits
)

func (p *Subscribe) decode(v byte, body []byte) error {
	d := decoder{b: body, v: v}
	var err error
	if p.PacketID, err = d.packetID(); err != nil {
		return err
	}
	if v == Version5 {
		if err := d.props(&p.Properties, SUBSCRIBE); err != nil {
			return err
		}
	}
	n := countFields(d.b, 1)
	if n == 0 {
		return protocolErr("no topic filter", rule(v, "MQTT-3.8.3-3", "MQTT-3.8.3-2"))
	}
	p.Subscriptions = make([]Subscription, n)
	for i := range p.Subscriptions {
		s := &p.Subscriptions[i]
		// Filter syntax (wildcards, $share) is package topic's.
		if s.Filter, err = d.str("topic filter"); err != nil {
			return err
		}
		o, err := d.byte("subscription options")
		if err != nil {
			return err
		}
		s.QoS = o & 3
		if v < Version5 {
			if o&^3 != 0 || s.QoS == 3 {
				// Reserved bits and QoS 3 are malformed [MQTT-3-8.3-4]
				// (the statement's number is misprinted so in 3.1.1).
				return malformed(fmt.Sprintf("subscription options 0x%02X", o), "MQTT-3-8.3-4")
			}
			continue
		}
		if o&0xC0 != 0 {
			return malformed(fmt.Sprintf("reserved subscription option bits 0x%02X", o), "MQTT-3.8.3-5")
		}
		s.NoLocal = o&subNoLocal != 0
		s.RetainAsPublished = o&subRetainAsPublished != 0
		s.RetainHandling = o >> subRetainHandling & 3
		if s.QoS == 3 {
			return protocolErr("maximum QoS 3", "§3.8.3.1")
		}
		if s.RetainHandling == 3 {
			return protocolErr("retain handling 3", "§3.8.3.1")
		}
	}
	return d.end()
}

// countFields counts the length-prefixed strings in b, each followed by
// extra bytes, so that the slice holding them is allocated once at its
// exact size. A truncated last field counts: decoding it reports the error.
func countFields(b []byte, extra int) int {
	n := 0
	for len(b) > 0 {
		n++
		if len(b) < 2 {
			break
		}
		l := 2 + int(binary.BigEndian.Uint16(b)) + extra
		if l > len(b) {
			break
		}
		b = b[l:]
	}
	return n
}

func (p *Subscribe) size(v byte) (sizes, error) {
	var s sizes
	if p == nil {
		return s, invalid(SUBSCRIBE, "nil packet")
	}
	if p.PacketID == 0 {
		return s, invalid(SUBSCRIBE, "packet identifier 0")
	}
	if len(p.Subscriptions) == 0 {
		return s, invalid(SUBSCRIBE, "no topic filter")
	}
	rl := 2
	if v == Version5 {
		var err error
		if s.props, err = p.Properties.size(SUBSCRIBE, SUBSCRIBE); err != nil {
			return s, err
		}
		rl += VarIntSize(s.props) + s.props
	}
	for i := range p.Subscriptions {
		sub := &p.Subscriptions[i]
		if sub.QoS > 2 {
			return s, invalid(SUBSCRIBE, "QoS 3")
		}
		if v == Version5 && sub.RetainHandling > 2 {
			return s, invalid(SUBSCRIBE, "retain handling 3")
		}
		f, err := fieldSize(SUBSCRIBE, len(sub.Filter), "topic filter")
		if err != nil {
			return s, err
		}
		rl += f + 1
	}
	s.rl = rl
	return s, nil
}

func (p *Subscribe) write(dst []byte, v byte, s sizes) []byte {
	dst = appendHeader(dst, byte(SUBSCRIBE)<<4|0x2, s.rl)
	dst = appendU16(dst, p.PacketID)
	if v == Version5 {
		dst = p.Properties.appendTo(dst, s.props)
	}
	for i := range p.Subscriptions {
		sub := &p.Subscriptions[i]
		o := sub.QoS
		if v == Version5 {
			o |= sub.RetainHandling << subRetainHandling
			if sub.NoLocal {
				o |= subNoLocal
			}
			if sub.RetainAsPublished {
				o |= subRetainAsPublished
			}
		}
		dst = appendString(dst, sub.Filter)
		dst = append(dst, o)
	}
	return dst
}
