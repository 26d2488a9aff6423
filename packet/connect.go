package packet

import "fmt"

// CONNECT: MQTT 5.0 §3.1, 3.1.1 §3.1, 3.1 §3.1.

// Connect flags [MQTT 5.0 §3.1.2.3].
const (
	connectReserved   = 0x01
	connectCleanStart = 0x02
	connectWill       = 0x04
	connectWillRetain = 0x20
	connectPassword   = 0x40
	connectUsername   = 0x80
	connectWillQoS    = 3 // shift of the two will QoS bits
)

// protocolName is the protocol name a level goes with [MQTT-3.1.2-1].
func protocolName(version byte) string {
	if version == Version31 {
		return "MQIsdp"
	}
	return "MQTT"
}

// decodeConnect decodes a CONNECT at the level it announces. Once the
// protocol name and level are read, a *Connect holding them is returned
// even with an error (see Decode).
func decodeConnect(body []byte) (*Connect, error) {
	d := decoder{b: body}
	name, err := d.binary("protocol name")
	if err != nil {
		return nil, err
	}
	level, err := d.byte("protocol level")
	if err != nil {
		return nil, err
	}
	c := &Connect{ProtocolName: bytesString(name), Version: level}
	switch {
	case string(name) == "MQTT" && (level == Version311 || level == Version5):
	case string(name) == "MQIsdp" && level == Version31:
	case string(name) == "MQTT" || string(name) == "MQIsdp":
		// An MQTT client at a level this server does not speak, or at a
		// level that does not go with the name: answer CONNACK 0x01 /
		// 0x84 and close [MQTT-3.1.2-2].
		return c, &codecError{class: ErrUnsupportedVersion,
			msg:  fmt.Sprintf("protocol level %d with protocol name %q", level, name),
			rule: "MQTT-3.1.2-2"}
	default:
		// Not MQTT at all: close without a CONNACK [MQTT-3.1.2-1].
		return c, protocolErr(fmt.Sprintf("protocol name %q", name), "MQTT-3.1.2-1")
	}
	d.v = level
	if err := c.decode(&d); err != nil {
		return &Connect{ProtocolName: c.ProtocolName, Version: c.Version}, err
	}
	return c, nil
}

func (c *Connect) decode(d *decoder) error {
	v := d.v
	flags, err := d.byte("connect flags")
	if err != nil {
		return err
	}
	if flags&connectReserved != 0 {
		return malformed("reserved connect flag set", "MQTT-3.1.2-3")
	}
	c.CleanStart = flags&connectCleanStart != 0
	c.WillFlag = flags&connectWill != 0
	c.WillQoS = flags >> connectWillQoS & 3
	c.WillRetain = flags&connectWillRetain != 0
	c.PasswordFlag = flags&connectPassword != 0
	c.UsernameFlag = flags&connectUsername != 0
	if c.WillFlag {
		if c.WillQoS == 3 {
			return malformed("will QoS 3", rule(v, "MQTT-3.1.2-14", "MQTT-3.1.2-12"))
		}
	} else {
		if c.WillQoS != 0 {
			return malformed("will QoS set without will flag", rule(v, "MQTT-3.1.2-13", "MQTT-3.1.2-11"))
		}
		if c.WillRetain {
			return malformed("will retain set without will flag", rule(v, "MQTT-3.1.2-15", "MQTT-3.1.2-13"))
		}
	}
	if v < Version5 && c.PasswordFlag && !c.UsernameFlag {
		// 5.0 allows a password without a user name; 3.1.1 does not.
		return malformed("password flag without user name flag", "MQTT-3.1.2-22")
	}
	if c.KeepAlive, err = d.u16("keep alive"); err != nil {
		return err
	}
	if v == Version5 {
		if err := d.props(&c.Properties, CONNECT); err != nil {
			return err
		}
	}
	if c.ClientID, err = d.str("client identifier"); err != nil {
		return err
	}
	if c.WillFlag {
		if v == Version5 {
			if err := d.props(&c.WillProperties, willContext); err != nil {
				return err
			}
		}
		if c.WillTopic, err = d.str("will topic"); err != nil {
			return err
		}
		if c.WillPayload, err = d.binary("will payload"); err != nil {
			return err
		}
	}
	if c.UsernameFlag {
		if v == Version31 && len(d.b) == 0 {
			// Some 3.1 clients set the flags and send no fields;
			// Mosquitto reads that as no user name and no password.
			c.UsernameFlag, c.PasswordFlag = false, false
		} else if c.Username, err = d.str("user name"); err != nil {
			return err
		}
	}
	if c.PasswordFlag {
		if v == Version31 && len(d.b) == 0 {
			c.PasswordFlag = false
		} else if c.Password, err = d.binary("password"); err != nil {
			return err
		}
	}
	return d.end()
}

// size validates c for level v. c.Version, when set, must be v, and
// c.ProtocolName, when set, the name that goes with v.
func (c *Connect) size(v byte) (sizes, error) {
	var s sizes
	if c == nil {
		return s, invalid(CONNECT, "nil packet")
	}
	if c.Version != 0 && c.Version != v {
		return s, invalid(CONNECT, fmt.Sprintf("Version %d encoded at level %d", c.Version, v))
	}
	if c.ProtocolName != "" && c.ProtocolName != protocolName(v) {
		return s, invalid(CONNECT, fmt.Sprintf("protocol name %q at level %d", c.ProtocolName, v))
	}
	if c.WillQoS > 2 {
		return s, invalid(CONNECT, "will QoS 3")
	}
	if !c.WillFlag && (c.WillQoS != 0 || c.WillRetain) {
		return s, invalid(CONNECT, "will QoS or retain without will flag")
	}
	if v < Version5 && c.PasswordFlag && !c.UsernameFlag {
		return s, invalid(CONNECT, "password flag without user name flag")
	}
	rl := 2 + len(protocolName(v)) + 1 + 1 + 2
	var err error
	if v == Version5 {
		if s.props, err = c.Properties.size(CONNECT, CONNECT); err != nil {
			return s, err
		}
		rl += VarIntSize(s.props) + s.props
	}
	add := func(n int, what string) {
		if err == nil {
			var f int
			f, err = fieldSize(CONNECT, n, what)
			rl += f
		}
	}
	add(len(c.ClientID), "client identifier")
	if c.WillFlag {
		if v == Version5 {
			if s.willProps, err = c.WillProperties.size(CONNECT, willContext); err != nil {
				return s, err
			}
			rl += VarIntSize(s.willProps) + s.willProps
		}
		add(len(c.WillTopic), "will topic")
		add(len(c.WillPayload), "will payload")
	}
	if c.UsernameFlag {
		add(len(c.Username), "user name")
	}
	if c.PasswordFlag {
		add(len(c.Password), "password")
	}
	s.rl = rl
	return s, err
}

func (c *Connect) write(dst []byte, v byte, s sizes) []byte {
	flags := c.WillQoS << connectWillQoS
	if c.CleanStart {
		flags |= connectCleanStart
	}
	if c.WillFlag {
		flags |= connectWill
	}
	if c.WillRetain {
		flags |= connectWillRetain
	}
	if c.PasswordFlag {
		flags |= connectPassword
	}
	if c.UsernameFlag {
		flags |= connectUsername
	}
	dst = appendHeader(dst, byte(CONNECT)<<4, s.rl)
	dst = appendString(dst, protocolName(v))
	dst = append(dst, v, flags)
	dst = appendU16(dst, c.KeepAlive)
	if v == Version5 {
		dst = c.Properties.appendTo(dst, s.props)
	}
	dst = appendString(dst, c.ClientID)
	if c.WillFlag {
		if v == Version5 {
			dst = c.WillProperties.appendTo(dst, s.willProps)
		}
		dst = appendString(dst, c.WillTopic)
		dst = appendBinary(dst, c.WillPayload)
	}
	if c.UsernameFlag {
		dst = appendString(dst, c.Username)
	}
	if c.PasswordFlag {
		dst = appendBinary(dst, c.Password)
	}
	return dst
}
