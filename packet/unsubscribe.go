package packet

// UNSUBSCRIBE: MQTT 5.0 §3.10, 3.1.1 §3.10.

func (p *Unsubscribe) decode(v byte, body []byte) error {
	d := decoder{b: body, v: v}
	var err error
	if p.PacketID, err = d.packetID(); err != nil {
		return err
	}
	if v == Version5 {
		if err := d.props(&p.Properties, UNSUBSCRIBE); err != nil {
			return err
		}
	}
	n := countFields(d.b, 0)
	if n == 0 {
		return protocolErr("no topic filter", "MQTT-3.10.3-2")
	}
	p.Filters = make([]string, n)
	for i := range p.Filters {
		if p.Filters[i], err = d.str("topic filter"); err != nil {
			return err
		}
	}
	return d.end()
}

func (p *Unsubscribe) size(v byte) (sizes, error) {
	var s sizes
	if p == nil {
		return s, invalid(UNSUBSCRIBE, "nil packet")
	}
	if p.PacketID == 0 {
		return s, invalid(UNSUBSCRIBE, "packet identifier 0")
	}
	if len(p.Filters) == 0 {
		return s, invalid(UNSUBSCRIBE, "no topic filter")
	}
	rl := 2
	if v == Version5 {
		var err error
		if s.props, err = p.Properties.size(UNSUBSCRIBE, UNSUBSCRIBE); err != nil {
			return s, err
		}
		rl += VarIntSize(s.props) + s.props
	}
	for _, f := range p.Filters {
		n, err := fieldSize(UNSUBSCRIBE, len(f), "topic filter")
		if err != nil {
			return s, err
		}
		rl += n
	}
	s.rl = rl
	return s, nil
}

func (p *Unsubscribe) write(dst []byte, v byte, s sizes) []byte {
	dst = appendHeader(dst, byte(UNSUBSCRIBE)<<4|0x2, s.rl)
	dst = appendU16(dst, p.PacketID)
	if v == Version5 {
		dst = p.Properties.appendTo(dst, s.props)
	}
	for _, f := range p.Filters {
		dst = appendString(dst, f)
	}
	return dst
}
