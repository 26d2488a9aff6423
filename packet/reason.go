package packet

// v5 reason codes (MQTT 5.0 section 2.4). Several share a value.
const (
	Success                    byte = 0x00 // also Normal Disconnection, Granted QoS 0
	GrantedQoS1                byte = 0x01
	GrantedQoS2                byte = 0x02
	DisconnectWithWill         byte = 0x04
	NoMatchingSubscribers      byte = 0x10
	NoSubscriptionExisted      byte = 0x11
	ContinueAuthentication     byte = 0x18
	ReAuthenticate             byte = 0x19
	UnspecifiedError           byte = 0x80
	MalformedPacket            byte = 0x81
	ProtocolError              byte = 0x82
	ImplementationSpecific     byte = 0x83
	UnsupportedProtocolVersion byte = 0x84
	ClientIDNotValid           byte = 0x85
	BadUsernameOrPassword      byte = 0x86
	NotAuthorized              byte = 0x87
	ServerUnavailable          byte = 0x88
	ServerBusy                 byte = 0x89
	Banned                     byte = 0x8A
	ServerShuttingDown         byte = 0x8B
	BadAuthMethod              byte = 0x8C
	KeepAliveTimeout           byte = 0x8D
	SessionTakenOver           byte = 0x8E
	TopicFilterInvalid         byte = 0x8F
	TopicNameInvalid           byte = 0x90
	PacketIDInUse              byte = 0x91
	PacketIDNotFound           byte = 0x92
	ReceiveMaximumExceeded     byte = 0x93
	TopicAliasInvalid          byte = 0x94
	PacketTooLarge             byte = 0x95
	MessageRateTooHigh         byte = 0x96
	QuotaExceeded              byte = 0x97
	AdministrativeAction       byte = 0x98
	PayloadFormatInvalid       byte = 0x99
	RetainNotSupported         byte = 0x9A
	QoSNotSupported            byte = 0x9B
	UseAnotherServer           byte = 0x9C
	ServerMoved                byte = 0x9D
	SharedSubNotSupported      byte = 0x9E
	ConnectionRateExceeded     byte = 0x9F
	MaximumConnectTime         byte = 0xA0
	SubIDsNotSupported         byte = 0xA1
	WildcardSubNotSupported    byte = 0xA2
)

// MQTT 3.1 / 3.1.1 CONNACK return codes [MQTT-3.2.2.3].
const (
	ConnAccepted              byte = 0x00
	ConnRefusedVersion        byte = 0x01
	ConnRefusedIdentifier     byte = 0x02
	ConnRefusedUnavailable    byte = 0x03
	ConnRefusedBadCredentials byte = 0x04
	ConnRefusedNotAuthorized  byte = 0x05
)

// SubackFailure is the 3.1.1 SUBACK return code for a refused filter.
const SubackFailure byte = 0x80
