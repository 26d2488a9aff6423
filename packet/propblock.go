package packet

// AppendProperties appends the v5 property block of p (its length, then the
// properties) as packet type t carries it. Stores use it to keep a
// message's properties in the wire format.
func AppendProperties(dst []byte, t Type, p *Properties) ([]byte, error) {
	n, err := p.size(t, propContext(t))
	if err != nil {
		return dst, err
	}
	return p.appendTo(dst, n), nil
}

// DecodeProperties reads a property block written by AppendProperties for
// packet type t. The result aliases b.
func DecodeProperties(t Type, b []byte) (Properties, error) {
	var p Properties
	d := decoder{b: b, v: Version5}
	if err := d.props(&p, propContext(t)); err != nil {
		return p, err
	}
	if len(d.b) != 0 {
		return p, malformed("bytes after the property block", "")
	}
	return p, nil
}
