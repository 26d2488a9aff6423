package packet

// PropID is a v5 property identifier [MQTT-2.2.2].
type PropID byte

// Property identifiers (MQTT 5.0 section 2.2.2.2).
const (
	PropPayloadFormat        PropID = 0x01 // byte: PUBLISH, Will
	PropMessageExpiry        PropID = 0x02 // four byte integer: PUBLISH, Will
	PropContentType          PropID = 0x03 // UTF-8 string: PUBLISH, Will
	PropResponseTopic        PropID = 0x08 // UTF-8 string: PUBLISH, Will
	PropCorrelationData      PropID = 0x09 // binary: PUBLISH, Will
	PropSubscriptionID       PropID = 0x0B // variable byte integer: PUBLISH (repeatable), SUBSCRIBE
	PropSessionExpiry        PropID = 0x11 // four byte integer: CONNECT, CONNACK, DISCONNECT
	PropAssignedClientID     PropID = 0x12 // UTF-8 string: CONNACK
	PropServerKeepAlive      PropID = 0x13 // two byte integer: CONNACK
	PropAuthMethod           PropID = 0x15 // UTF-8 string: CONNECT, CONNACK, AUTH
	PropAuthData             PropID = 0x16 // binary: CONNECT, CONNACK, AUTH
	PropRequestProblemInfo   PropID = 0x17 // byte: CONNECT
	PropWillDelay            PropID = 0x18 // four byte integer: Will
	PropRequestResponseInfo  PropID = 0x19 // byte: CONNECT
	PropResponseInfo         PropID = 0x1A // UTF-8 string: CONNACK
	PropServerReference      PropID = 0x1C // UTF-8 string: CONNACK, DISCONNECT
	PropReasonString         PropID = 0x1F // UTF-8 string: CONNACK, PUBACK..PUBCOMP, SUBACK, UNSUBACK, DISCONNECT, AUTH
	PropReceiveMaximum       PropID = 0x21 // two byte integer: CONNECT, CONNACK
	PropTopicAliasMaximum    PropID = 0x22 // two byte integer: CONNECT, CONNACK
	PropTopicAlias           PropID = 0x23 // two byte integer: PUBLISH
	PropMaximumQoS           PropID = 0x24 // byte: CONNACK
	PropRetainAvailable      PropID = 0x25 // byte: CONNACK
	PropUserProperty         PropID = 0x26 // UTF-8 string pair: all (repeatable)
	PropMaximumPacketSize    PropID = 0x27 // four byte integer: CONNECT, CONNACK
	PropWildcardSubAvailable PropID = 0x28 // byte: CONNACK
	PropSubIDAvailable       PropID = 0x29 // byte: CONNACK
	PropSharedSubAvailable   PropID = 0x2A // byte: CONNACK
)

// UserProperty is one v5 user property, a UTF-8 string pair; order and
// duplicates are preserved [MQTT-3.3.2-17].
type UserProperty struct {
	Key, Value string
}

// Properties holds the v5 properties of one packet. A property is present
// when Has reports it; Set marks it. Repeatable properties (user properties,
// subscription identifiers) are present when their slice is non-empty. The
// zero value has no properties, and packets of levels 3 and 4 never carry any.
type Properties struct {
	present uint64 // bit n set when property id n is present

	PayloadFormat        byte
	MessageExpiry        uint32
	ContentType          string
	ResponseTopic        string
	CorrelationData      []byte
	SubscriptionIDs      []uint32 // one in SUBSCRIBE, any number in PUBLISH
	SessionExpiry        uint32
	AssignedClientID     string
	ServerKeepAlive      uint16
	AuthMethod           string
	AuthData             []byte
	RequestProblemInfo   byte
	WillDelay            uint32
	RequestResponseInfo  byte
	ResponseInfo         string
	ServerReference      string
	ReasonString         string
	ReceiveMaximum       uint16
	TopicAliasMaximum    uint16
	TopicAlias           uint16
	MaximumQoS           byte
	RetainAvailable      byte
	User                 []UserProperty
	MaximumPacketSize    uint32
	WildcardSubAvailable byte
	SubIDAvailable       byte
	SharedSubAvailable   byte
}

// Has reports whether property id is present.
func (p *Properties) Has(id PropID) bool {
	switch id {
	case PropUserProperty:
		return len(p.User) > 0
	case PropSubscriptionID:
		return len(p.SubscriptionIDs) > 0
	}
	return p.present&(1<<uint(id&63)) != 0
}

// Set marks property id as present; its value is the field of the same name.
func (p *Properties) Set(id PropID) { p.present |= 1 << uint(id&63) }

// Clear marks property id as absent.
func (p *Properties) Clear(id PropID) {
	p.present &^= 1 << uint(id&63)
	switch id {
	case PropUserProperty:
		p.User = nil
	case PropSubscriptionID:
		p.SubscriptionIDs = nil
	}
}

// Empty reports whether no property is present.
func (p *Properties) Empty() bool {
	return p.present == 0 && len(p.User) == 0 && len(p.SubscriptionIDs) == 0
}
