package packet

import "fmt"

// AUTH: MQTT 5.0 §3.15, for extended authentication. Type 15 is reserved
// before 5.0, so it is neither decoded (checkType) nor encoded there.

// authReason reports whether c is an Authenticate Reason Code
// [MQTT-3.15.2-1].
func authReason(c byte) bool {
	return c == Success || c == ContinueAuthentication || c == ReAuthenticate
}

// decode reads the reason code and properties. The rule that a non-empty
// AUTH names its Authentication Method (§3.15.2.2.2) is left to the
// authentication exchange, which knows the method in use.
func (p *Auth) decode(v byte, body []byte) error {
	return decodeReasonProps(v, body, AUTH, &p.ReasonCode, &p.Properties, authReason, "MQTT-3.15.2-1")
}

func (p *Auth) size(v byte) (sizes, error) {
	if p == nil {
		return sizes{}, invalid(AUTH, "nil packet")
	}
	if v < Version5 {
		return sizes{}, invalid(AUTH, fmt.Sprintf("AUTH does not exist at protocol level %d", v))
	}
	if !authReason(p.ReasonCode) {
		return sizes{}, invalid(AUTH, fmt.Sprintf("reason code 0x%02X", p.ReasonCode))
	}
	return sizeReasonProps(AUTH, p.ReasonCode, &p.Properties)
}

func (p *Auth) write(dst []byte, _ byte, s sizes) []byte {
	return writeReasonProps(dst, AUTH, p.ReasonCode, &p.Properties, s)
}
