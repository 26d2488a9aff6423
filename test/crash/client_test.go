package crash_test

import (
	"bufio"
	"errors"
	"net"
	"sync"
	"time"

	"github.com/mastmq/mast/packet"
)

// peer is a minimal MQTT 3.1.1 client whose session state lives in the
// test process, so it outlives the broker being killed: it is what a
// correct client keeps, resends and deduplicates.
type peer struct {
	id   string
	addr string

	mu sync.Mutex
	nc net.Conn

	// Publisher side: messages not yet acknowledged (no PUBACK, no
	// PUBREC) and QoS 2 messages past PUBREC awaiting PUBCOMP.
	unacked map[uint16]*packet.Publish
	order   []uint16
	relSent map[uint16]bool
	nextPID uint16
	acked   func(p *packet.Publish) // called once per PUBACK / first PUBREC
	window  chan struct{}

	// Subscriber side: QoS 2 ids received and not yet released.
	held    map[uint16]bool
	deliver func(p *packet.Publish)
}

func newPeer(id, addr string, window int) *peer {
	return &peer{id: id, addr: addr, unacked: map[uint16]*packet.Publish{}, relSent: map[uint16]bool{},
		held: map[uint16]bool{}, window: make(chan struct{}, window)}
}

// connect opens a connection with clean session 0, resends what is
// unacknowledged (DUP, same ids, same order) and PUBREL for what is past
// PUBREC [MQTT-4.4.0-1], then serves the connection until it breaks.
// subscribe, if not empty, is subscribed at QoS 2 after CONNACK.
func (p *peer) connect(subscribe string) error {
	nc, err := net.DialTimeout("tcp", p.addr, 2*time.Second)
	if err != nil {
		return err
	}
	br := bufio.NewReader(nc)
	write := func(pk packet.Packet) error {
		b, err := packet.Append(nil, packet.Version311, pk)
		if err != nil {
			return err
		}
		_, err = nc.Write(b)
		return err
	}
	if err := write(&packet.Connect{ProtocolName: "MQTT", Version: 4, ClientID: p.id, KeepAlive: 30}); err != nil {
		nc.Close()
		return err
	}
	nc.SetReadDeadline(time.Now().Add(3 * time.Second))
	ack, err := packet.Read(br, packet.Version311, 0)
	if err != nil {
		nc.Close()
		return err
	}
	if ca, ok := ack.(*packet.Connack); !ok || ca.ReasonCode != 0 {
		nc.Close()
		return errors.New("connect refused")
	}
	nc.SetReadDeadline(time.Time{})
	p.mu.Lock()
	p.nc = nc
	for _, pid := range p.order {
		m, ok := p.unacked[pid]
		if !ok {
			continue
		}
		if p.relSent[pid] {
			write(&packet.Ack{Kind: packet.PUBREL, PacketID: pid})
			continue
		}
		m.Dup = true
		write(m)
	}
	p.mu.Unlock()
	if subscribe != "" {
		write(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: subscribe, QoS: 2}}})
	}
	go p.readLoop(nc, br, write)
	return nil
}

func (p *peer) readLoop(nc net.Conn, br *bufio.Reader, write func(packet.Packet) error) {
	defer nc.Close()
	for {
		pk, err := packet.Read(br, packet.Version311, 0)
		if err != nil {
			return
		}
		switch pk := pk.(type) {
		case *packet.Publish:
			p.receive(pk, write)
		case *packet.Ack:
			p.ackReceived(pk, write)
		}
	}
}

func (p *peer) receive(pk *packet.Publish, write func(packet.Packet) error) {
	switch pk.QoS {
	case 0:
		p.deliver(pk)
	case 1:
		p.deliver(pk)
		write(&packet.Ack{Kind: packet.PUBACK, PacketID: pk.PacketID})
	case 2:
		// Exactly once on the receiving side: an id held until PUBREL is
		// a duplicate (§4.3.3).
		p.mu.Lock()
		dup := p.held[pk.PacketID]
		p.held[pk.PacketID] = true
		p.mu.Unlock()
		if !dup {
			p.deliver(pk)
		}
		write(&packet.Ack{Kind: packet.PUBREC, PacketID: pk.PacketID})
	}
}

func (p *peer) ackReceived(a *packet.Ack, write func(packet.Packet) error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch a.Kind {
	case packet.PUBREL:
		delete(p.held, a.PacketID)
		write(&packet.Ack{Kind: packet.PUBCOMP, PacketID: a.PacketID})
	case packet.PUBACK:
		if m, ok := p.unacked[a.PacketID]; ok && m.QoS == 1 {
			delete(p.unacked, a.PacketID)
			p.acked(m)
			<-p.window
		}
	case packet.PUBREC:
		if m, ok := p.unacked[a.PacketID]; ok && m.QoS == 2 {
			if !p.relSent[a.PacketID] {
				p.relSent[a.PacketID] = true
				p.acked(m)
			}
			write(&packet.Ack{Kind: packet.PUBREL, PacketID: a.PacketID})
		}
	case packet.PUBCOMP:
		if _, ok := p.unacked[a.PacketID]; ok && p.relSent[a.PacketID] {
			delete(p.unacked, a.PacketID)
			delete(p.relSent, a.PacketID)
			<-p.window
		}
	}
}

// publish sends a message once there is room in the window; it returns
// false when the connection is gone (the message is then resent by the
// next connect).
func (p *peer) publish(m *packet.Publish, stop <-chan struct{}) bool {
	select {
	case p.window <- struct{}{}:
	case <-stop:
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for {
		p.nextPID++
		if p.nextPID == 0 {
			p.nextPID = 1
		}
		if _, used := p.unacked[p.nextPID]; !used {
			break
		}
	}
	m.PacketID = p.nextPID
	p.unacked[m.PacketID] = m
	p.order = append(p.order, m.PacketID)
	if len(p.order) > 4096 {
		kept := p.order[:0]
		for _, id := range p.order {
			if _, ok := p.unacked[id]; ok {
				kept = append(kept, id)
			}
		}
		p.order = kept
	}
	b, _ := packet.Append(nil, packet.Version311, m)
	_, err := p.nc.Write(b)
	return err == nil
}

func (p *peer) outstanding() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.unacked)
}

func (p *peer) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.nc != nil {
		p.nc.Close()
	}
}
