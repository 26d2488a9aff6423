// Package client is an MQTT client for protocol levels 3 (MQTT 3.1), 4
// (MQTT 3.1.1) and 5 (MQTT 5.0): the one mast's own tools (pub, sub, bench,
// bridges) are built on.
//
// The story is Paho's: create a client with an id and callbacks, connect,
// subscribe, publish, disconnect.
//
//	c, err := client.New(client.Options{
//		Servers:   []string{"mqtt://localhost:1883"},
//		ClientID:  "sensor1",
//		OnMessage: func(c *client.Client, m *client.Message) { fmt.Println(m.Topic, string(m.Payload)) },
//	})
//	_, err = c.Connect(ctx)
//	_, err = c.Subscribe(ctx, nil, packet.Subscription{Filter: "house/#", QoS: 1})
//	err = c.Publish(ctx, &client.Message{Topic: "house/sensor1", Payload: []byte("21.5"), QoS: 1})
//	err = c.Disconnect(ctx)
//
// Every call that waits takes a context. Publish returns when the message
// is done for its QoS: written (0), acknowledged by PUBACK (1) or PUBCOMP
// (2). Failures the server reports with a reason code come back as
// *ReasonError.
//
// # Goroutines and ordering
//
// A connection has one reader goroutine and one writer that coalesces
// whatever has been queued since its last write into one write, and sends
// PINGREQ when the connection has been idle for the keepalive interval. A
// single delivery goroutine runs message handlers and callbacks, one at a
// time, in the order the packets that caused them arrived; a QoS 1 or 2
// message is acknowledged after its handlers return, so acknowledgements
// go out in order and a slow handler holds the server back through its
// Receive Maximum instead of piling messages up in memory. Handlers may call
// the client, Publish and Disconnect included. Disconnect stops every
// goroutine before it returns.
//
// # Sessions and reconnecting
//
// The client keeps its session in memory: QoS 1 and 2 messages in flight,
// inbound QoS 2 identifiers not yet released, and the subscriptions the
// server granted. With AutoReconnect, a lost connection is re-established
// with exponential backoff and jitter. When the server resumes the session
// (Session Present 1), unacknowledged PUBLISH packets are resent with DUP
// set and PUBREL for those past PUBREC, in their original order, before
// anything new. When it does not, subscriptions are renewed, QoS 1
// messages in flight are sent again as new ones, and QoS 2 messages in
// flight fail with ErrSessionLost rather than risk a second delivery.
// Publishes made while reconnecting wait in a bounded offline buffer, or
// fail at once with ErrNotConnected. Inbound QoS 2 messages are delivered
// exactly once for as long as the session lives.
//
// Session state does not survive the process: a client restarted with a
// persistent session receives what the server kept for it, but messages it
// had in flight itself are gone.
//
// # MQTT 5
//
// The server's Receive Maximum, Maximum Packet Size, Maximum QoS, Retain
// Available, Topic Alias Maximum and Server Keep Alive are honoured; the
// client's own Receive Maximum, Maximum Packet Size and Topic Alias
// Maximum (Options.ConnectProperties) are enforced on what the server
// sends. Outbound topic aliases are used with Options.TopicAliases.
// Enhanced authentication (AUTH) is not supported.
//
// # Logging
//
// Options.Logger receives one line per packet, worded as Paho's on_log
// words them, which is what "mast pub -d" and "mast sub -d" print.
//
// Normative statements are cited by their MQTT 5.0 numbers, e.g.
// [MQTT-4.4.0-1], except for rules that only MQTT 3.1.1 has.
package client
