package broker_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/mastmq/mast/auth"
	"github.com/mastmq/mast/broker"
	"github.com/mastmq/mast/packet"
)

// rules lets "alice" and "root" in with password "secret"; root may do
// anything, others act on topics under their own user name and may
// subscribe to "#", which delivers only what they may read.
type rules struct{}

func (rules) Authenticate(_ context.Context, c *auth.Client) error {
	if (c.Username == "alice" || c.Username == "root") && string(c.Password) == "secret" {
		return nil
	}
	return auth.ErrBadCredentials
}

func (rules) Allow(c *auth.Client, topic string, a auth.Access) bool {
	if c.Username == "root" || (a == auth.Subscribe && topic == "#") {
		return true
	}
	return strings.HasPrefix(topic, c.Username+"/")
}

func TestAuthenticationRefusesBadPassword(t *testing.T) {
	_, addr := startBroker(t, broker.Options{Authenticator: rules{}, Authorizer: rules{}})
	for _, v := range []byte{packet.Version311, packet.Version5} {
		c := dial(t, addr, v)
		ack := c.connect(&packet.Connect{ClientID: "x", CleanStart: true, UsernameFlag: true, Username: "alice", PasswordFlag: true, Password: []byte("wrong")})
		want := packet.ConnRefusedBadCredentials
		if v == packet.Version5 {
			want = packet.BadUsernameOrPassword
		}
		if ack.ReasonCode != want {
			t.Fatalf("v%d: CONNACK %#x, want %#x", v, ack.ReasonCode, want)
		}
		c.expectClosed()
	}
}

func TestAuthorizationOnSubscribePublishAndDelivery(t *testing.T) {
	_, addr := startBroker(t, broker.Options{Authenticator: rules{}, Authorizer: rules{}})
	login := func(id, user string, v byte) *rawClient {
		c := dial(t, addr, v)
		ack := c.connect(&packet.Connect{ClientID: id, CleanStart: true, UsernameFlag: true, Username: user, PasswordFlag: true, Password: []byte("secret")})
		if ack.ReasonCode != 0 {
			t.Fatalf("CONNACK %#x", ack.ReasonCode)
		}
		return c
	}
	sub := login("sub", "alice", packet.Version5)
	sub.sendPacket(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "bob/#"}, {Filter: "#"}}})
	sa := sub.read().(*packet.Suback)
	if sa.ReasonCodes[0] != packet.NotAuthorized || sa.ReasonCodes[1] != 0 {
		t.Fatalf("SUBACK %v, want [0x87 0]", sa.ReasonCodes)
	}
	pub := login("pub", "alice", packet.Version5)
	pub.sendPacket(&packet.Publish{QoS: 1, PacketID: 3, Topic: "bob/x", Payload: []byte("no")})
	if a := pub.read().(*packet.Ack); a.ReasonCode != packet.NotAuthorized {
		t.Fatalf("PUBACK reason %#x, want 0x87", a.ReasonCode)
	}
	pub.sendPacket(&packet.Publish{QoS: 1, PacketID: 4, Topic: "alice/x", Payload: []byte("yes")})
	pub.read()
	if got := sub.readPublish(); got.Topic != "alice/x" {
		t.Fatalf("got %+v", got)
	}
	// A 3.1.1 publisher that is denied gets its PUBACK and the message
	// is dropped, as Mosquitto does.
	old := login("old", "alice", packet.Version311)
	old.sendPacket(&packet.Publish{QoS: 1, PacketID: 5, Topic: "carol/x", Payload: []byte("no")})
	if a := old.read().(*packet.Ack); a.Kind != packet.PUBACK || a.PacketID != 5 {
		t.Fatalf("got %+v", a)
	}
	// root may publish anywhere, but alice's "#" only delivers what she
	// may read.
	root := login("root", "root", packet.Version311)
	root.sendPacket(&packet.Publish{QoS: 1, PacketID: 6, Topic: "bob/secret", Payload: []byte("hidden")})
	root.read()
	root.sendPacket(&packet.Publish{QoS: 1, PacketID: 7, Topic: "alice/y", Payload: []byte("shown")})
	root.read()
	if got := sub.readPublish(); got.Topic != "alice/y" {
		t.Fatalf("read check let through %+v", got)
	}
	sub.expectNothing(200 * time.Millisecond)
}
