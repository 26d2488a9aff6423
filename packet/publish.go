package packet

import "slices"

// PUBLISH: MQTT 5.0 §3.3, 3.1.1 §3.3. The hot path: one decode per message
// received, one encode per subscriber it goes to.

// Fixed header flags of PUBLISH [MQTT 5.0 §3.3.1].
const (
	publishRetain = 0x1
	publishDup    = 0x8
)

func (p *Publish) decode(v byte, flags byte, body []byte) error {
	// checkHeader has refused QoS 3 [MQTT-3.3.1-4] and DUP with QoS 0
	// [MQTT-3.3.1-2].
	p.Dup = flags&publishDup != 0
	p.QoS = flags >> 1 & 3
	p.Retain = flags&publishRetain != 0
	d := decoder{b: body, v: v}
	var err error
	// Wildcards and the other rules of topic names are package topic's.
	if p.Topic, err = d.str("topic name"); err != nil {
		return err
	}
	if p.QoS > 0 {
		if p.PacketID, err = d.packetID(); err != nil {
			return err
		}
	}
	if v == Version5 {
		if err := d.props(&p.Properties, PUBLISH); err != nil {
			return err
		}
		if p.Topic == "" && !p.Properties.Has(PropTopicAlias) {
			return protocolErr("empty topic name without a topic alias", "§3.3.2.1")
		}
	}
	p.Payload = d.rest()
	return nil
}

func (p *Publish) size(v byte) (sizes, error) {
	var s sizes
	if p == nil {
		return s, invalid(PUBLISH, "nil packet")
	}
	switch {
	case p.QoS > 2:
		return s, invalid(PUBLISH, "QoS 3")
	case p.QoS == 0 && p.Dup:
		return s, invalid(PUBLISH, "DUP set with QoS 0")
	case p.QoS > 0 && p.PacketID == 0:
		return s, invalid(PUBLISH, "packet identifier 0")
	case len(p.Topic) > 65535:
		return s, invalid(PUBLISH, "topic name longer than 65535 bytes")
	}
	rl := 2 + len(p.Topic) + len(p.Payload)
	if p.QoS > 0 {
		rl += 2
	}
	if v == Version5 {
		if !p.Properties.Empty() {
			var err error
			if s.props, err = p.Properties.size(PUBLISH, PUBLISH); err != nil {
				return s, err
			}
			if p.Topic == "" && !p.Properties.Has(PropTopicAlias) {
				return s, invalid(PUBLISH, "empty topic name without a topic alias")
			}
		} else if p.Topic == "" {
			return s, invalid(PUBLISH, "empty topic name without a topic alias")
		}
		rl += VarIntSize(s.props) + s.props
	}
	s.rl = rl
	return s, nil
}

func (p *Publish) write(dst []byte, v byte, s sizes) []byte {
	return append(p.writeHeader(dst, v, s), p.Payload...)
}

// writeHeader writes all but the payload.
func (p *Publish) writeHeader(dst []byte, v byte, s sizes) []byte {
	first := byte(PUBLISH)<<4 | p.QoS<<1
	if p.Dup {
		first |= publishDup
	}
	if p.Retain {
		first |= publishRetain
	}
	dst = appendHeader(dst, first, s.rl)
	dst = appendString(dst, p.Topic)
	if p.QoS > 0 {
		dst = appendU16(dst, p.PacketID)
	}
	if v == Version5 {
		dst = p.Properties.appendTo(dst, s.props)
	}
	return dst
}

// Append is Append(dst, version, p) without the interface conversion, so a
// Publish built on the caller's stack stays there: the broker's per
// subscriber encoding allocates nothing.
func (p *Publish) Append(dst []byte, version byte) ([]byte, error) {
	s, err := p.size(version)
	if s, err = checkSizes(PUBLISH, version, s, err); err != nil {
		return dst, err
	}
	dst = slices.Grow(dst, 1+VarIntSize(s.rl)+s.rl)
	return p.write(dst, version, s), nil
}

// AppendHeader appends the encoding of p without its payload: the fixed
// header (whose remaining length counts the payload), topic, packet
// identifier and properties. A writer that sends the payload from where it
// already is (net.Buffers, writev) encodes one header per subscriber and
// never copies the shared payload. It validates like Append.
func (p *Publish) AppendHeader(dst []byte, version byte) ([]byte, error) {
	s, err := p.size(version)
	if s, err = checkSizes(PUBLISH, version, s, err); err != nil {
		return dst, err
	}
	return p.writeHeader(dst, version, s), nil
}
