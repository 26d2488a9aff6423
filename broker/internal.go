package broker

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mastmq/mast/auth"
	"github.com/mastmq/mast/packet"
	"github.com/mastmq/mast/topic"
)

// An Internal is a client of the server that lives in the same process,
// as a bridge's local side does: it subscribes and publishes without a
// CONNECT, without authentication and without ACL checks (as Mosquitto
// exempts its bridges), and its session is never stored.
//
// It is built from the broker's own parts so that nothing else needs to
// know about it: an ordinary session whose connection is one end of an
// in-memory pipe. Deliveries take the same path as to any client (QoS
// downgrade, in-flight window, queue bounds, the overflow policy for QoS
// 0); Internal reads the PUBLISH packets off the other end and hands them
// to its handler on a goroutine of its own, never under a broker lock.
//
// The subscriptions of an Internal are No Local and Retain As Published:
// it never receives what it published itself, which is what keeps a
// bridge from sending back out what it brought in, and the retain flag
// of live messages is kept.
type Internal struct {
	srv     *Server
	name    string
	owner   string // the session id and trie owner: unforgeable, see NewInternal
	sess    *session
	c       *conn
	nc      net.Conn // our end of the pipe
	handler func(*InternalMessage)

	// mu serializes Subscribe, Unsubscribe and Close and guards closed;
	// it is taken before Server.mu.
	mu     sync.Mutex
	closed bool

	qmu     sync.Mutex // guards queue and qos0; a leaf
	queue   []*InternalMessage
	qos0    int // payload bytes of the QoS 0 messages in queue
	wake    chan struct{}
	quit    chan struct{}
	readers sync.WaitGroup
}

// InternalMessage is a message delivered to an Internal's handler, or
// published by an Internal.
type InternalMessage struct {
	Topic   string
	Payload []byte
	QoS     byte
	Retain  bool
	// Properties are the v5 properties that travel with a message:
	// PayloadFormat, MessageExpiry (what is left of it), ContentType,
	// ResponseTopic, CorrelationData and User. Others are ignored by
	// Publish.
	Properties packet.Properties

	in    *Internal
	pid   uint16
	acked atomic.Bool
}

// ErrInternalClosed is returned by an Internal's methods after Close.
var ErrInternalClosed = errors.New("broker: internal client closed")

// internalOwner marks the ids of internal sessions. U+0000 is refused in
// every MQTT string [MQTT-1.5.4-2], so no network client can take over
// an internal session's id, nor its subscriptions in the trie.
const internalOwner = "\x00"

// NewInternal starts an internal client named name, unique among the
// server's internal clients (a bridge uses "bridge:" and its name; the
// name is what the console shows). handler receives the messages that
// match its subscriptions, one at a time and in order, on a goroutine of
// the Internal's; it may block. A QoS 1 or 2 message keeps its place in
// the in-flight window (Options.MaxInflight) until its Ack is called, so
// acknowledging once the message is safe elsewhere bounds what is
// outstanding and keeps the rest queued in the session (Options.MaxQueued).
// QoS 0 messages beyond Options.MaxOutboundBytes waiting for the handler
// are dropped and counted, as for a slow network client.
func (s *Server) NewInternal(name string, handler func(*InternalMessage)) (*Internal, error) {
	if name == "" || handler == nil {
		return nil, errors.New("broker: internal client needs a name and a handler")
	}
	if s.isClosing() {
		return nil, ErrServerClosed
	}
	ours, theirs := net.Pipe()
	in := &Internal{
		srv:     s,
		name:    name,
		owner:   internalOwner + name,
		nc:      ours,
		handler: handler,
		wake:    make(chan struct{}, 1),
		quit:    make(chan struct{}),
	}
	c := newConn(s, theirs)
	c.version = packet.Version5 // so that properties travel
	c.clientID = name           // for the console lines
	c.connectedAt = time.Now()
	c.remote = "internal"
	sess := newSession(s, in.owner)
	sess.conn = c
	sess.version = packet.Version5
	sess.client = &auth.Client{ClientID: name, Version: packet.Version5}
	// An explicit "no rules" listener: deliveries to an internal client
	// are not checked against the ACL.
	lo := &ListenerOptions{Name: "internal"}
	lo.auth.Store(&authPair{})
	sess.lopts = lo
	c.sess = sess
	in.sess, in.c = sess, c
	in.readers.Add(2)
	go in.read()
	go in.deliverLoop()
	return in, nil
}

// Name returns the name given to NewInternal.
func (in *Internal) Name() string { return in.name }

// Subscribe adds a subscription (No Local, Retain As Published) at QoS
// qos, capped at Options.MaxQoS. With retained set, the retained messages
// matching filter are delivered first, with the retain flag, except those
// this Internal published itself. Shared subscriptions are refused.
func (in *Internal) Subscribe(filter string, qos byte, retained bool) error {
	s := in.srv
	if err := topic.ValidateFilter(filter); err != nil {
		return err
	}
	if _, _, shared := topic.ParseShared(filter); shared {
		return fmt.Errorf("broker: internal subscription %q: shared subscriptions are not supported", filter)
	}
	if qos > 2 {
		return ErrInvalidQoS
	}
	opts := subOptions{qos: min(qos, s.lim().MaxQoS), noLocal: true, retainAsPub: true}
	v := newSubscription(in.sess, filter, opts)
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.closed {
		return ErrInternalClosed
	}
	s.addSub(in.owner, filter, v)
	in.sess.mu.Lock()
	in.sess.setSubLocked(filter, opts)
	in.sess.mu.Unlock()
	if s.verbose {
		s.log.Debug(fmt.Sprintf("Internal client %s subscribed to %s (QoS %d)", in.name, filter, opts.qos))
	}
	if retained {
		in.sendRetained(filter, opts)
	}
	return nil
}

// sendRetained delivers the retained messages matching filter, as
// conn.sendRetained does for a network client, leaving out those this
// Internal published: a bridge that brought them in must not send them
// back out when it restarts.
func (in *Internal) sendRetained(filter string, o subOptions) {
	var msgs []*message
	now := time.Now()
	in.srv.retained.Match(filter, func(_ string, m *message) bool {
		if !m.expired(now) && m.publisher != in.owner {
			msgs = append(msgs, m)
		}
		return true
	})
	for _, m := range msgs {
		in.sess.deliverWait(delivery{msg: m, qos: min(m.qos, o.qos), retain: true})
	}
}

// Unsubscribe removes a subscription; it reports whether there was one.
func (in *Internal) Unsubscribe(filter string) bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.closed {
		return false
	}
	ok := in.srv.removeSub(in.owner, filter)
	in.sess.mu.Lock()
	in.sess.dropSubLocked(filter)
	in.sess.mu.Unlock()
	return ok
}

// Publish routes m as published by this Internal: its own subscriptions
// do not receive it (No Local), which is how a bridge's loop prevention
// works. It returns once the message is durable where it must be, as a
// network client's PUBACK would, or when ctx ends (the message may then
// still be delivered). A QoS above Options.MaxQoS is lowered to it, and
// the retain flag is dropped when retained messages are turned off.
func (in *Internal) Publish(ctx context.Context, m *InternalMessage) error {
	s := in.srv
	if err := topic.ValidateName(m.Topic); err != nil {
		return err
	}
	if m.QoS > 2 {
		return ErrInvalidQoS
	}
	if err := s.checkTopicLimits(m.Topic); err != nil {
		return err
	}
	in.mu.Lock()
	closed := in.closed
	in.mu.Unlock()
	if closed {
		return ErrInternalClosed
	}
	if s.isClosing() {
		return ErrServerClosed
	}
	msg := &message{
		topic:     m.Topic,
		payload:   slices.Clone(m.Payload),
		qos:       min(m.QoS, s.lim().MaxQoS),
		retain:    m.Retain && !s.lim().DisableRetain,
		publisher: in.owner,
		arrived:   time.Now(),
		props:     forwardedProps(&m.Properties),
	}
	if msg.payload == nil {
		msg.payload = []byte{}
	}
	if m.Properties.Has(packet.PropMessageExpiry) {
		msg.expiry = msg.arrived.Add(time.Duration(m.Properties.MessageExpiry) * time.Second)
	}
	msg.size = messageSize(msg)
	s.stats.receivedByQoS[msg.qos].Add(1)
	if s.verbose {
		in.c.logPublish("Received PUBLISH from", &packet.Publish{QoS: msg.qos, Retain: msg.retain, Topic: msg.topic, Payload: msg.payload})
	}
	done := make(chan error, 1)
	s.publish(msg, nil, func(_ int, err error) { done <- err })
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Ack completes a QoS 1 or 2 message: its place in the in-flight window
// goes to the next one. It does nothing for QoS 0, on a second call, and
// after Close.
func (m *InternalMessage) Ack() {
	if m.in == nil || m.QoS == 0 || m.acked.Swap(true) {
		return
	}
	sess := m.in.sess
	if m.QoS == 2 {
		// PUBREC then PUBCOMP, without the packets: the session is never
		// stored, so no store write stands between them.
		sess.pubrec(m.pid, false)
	}
	sess.ack(m.pid)
}

// Close removes the Internal's subscriptions, ends its session (what was
// not acknowledged is dropped) and stops its goroutines. It waits for a
// handler that is running to return.
func (in *Internal) Close() {
	in.mu.Lock()
	if in.closed {
		in.mu.Unlock()
		in.readers.Wait()
		return
	}
	in.closed = true
	s := in.srv
	s.mu.Lock()
	s.endSessionLocked(in.sess)
	s.mu.Unlock()
	in.mu.Unlock()

	in.sess.mu.Lock()
	in.sess.conn = nil
	in.sess.mu.Unlock()
	in.c.closeAfterWrites()
	in.nc.Close() // a writer blocked on the pipe fails at once
	<-in.c.writerExited()
	in.c.nc.Close()
	close(in.quit)
	in.readers.Wait()
}

// read decodes what the session's connection writes to the pipe. It never
// blocks on the handler, or the connection's writer would stall and time
// out: it queues, dropping QoS 0 beyond the outbound byte bound.
func (in *Internal) read() {
	defer in.readers.Done()
	rd := packet.Reader{R: bufio.NewReader(in.nc), Version: packet.Version5}
	limit := in.srv.lim().MaxOutboundBytes
	for {
		p, err := rd.Read()
		if err != nil {
			return // the pipe is closed
		}
		pub, ok := p.(*packet.Publish)
		if !ok {
			continue
		}
		// The Reader reuses its Publish, but each body is a fresh
		// allocation: topic and payload stay valid.
		m := &InternalMessage{Topic: pub.Topic, Payload: pub.Payload, QoS: pub.QoS, Retain: pub.Retain,
			Properties: pub.Properties, in: in, pid: pub.PacketID}
		m.Properties.SubscriptionIDs = nil
		in.qmu.Lock()
		if m.QoS == 0 && in.qos0+len(m.Payload) > limit {
			in.qmu.Unlock()
			in.srv.stats.dropped.Add(1)
			in.c.dropped.Add(1)
			continue
		}
		if m.QoS == 0 {
			in.qos0 += len(m.Payload)
		}
		in.queue = append(in.queue, m)
		in.qmu.Unlock()
		select {
		case in.wake <- struct{}{}:
		default:
		}
	}
}

// deliverLoop runs the handler, one message at a time, in order.
func (in *Internal) deliverLoop() {
	defer in.readers.Done()
	for {
		in.qmu.Lock()
		var m *InternalMessage
		if len(in.queue) > 0 {
			m = in.queue[0]
			in.queue[0] = nil
			in.queue = in.queue[1:]
			if m.QoS == 0 {
				in.qos0 -= len(m.Payload)
			}
		}
		in.qmu.Unlock()
		if m != nil {
			select {
			case <-in.quit:
				return
			default:
			}
			in.handler(m)
			continue
		}
		select {
		case <-in.wake:
		case <-in.quit:
			return
		}
	}
}
