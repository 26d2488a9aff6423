package broker

import (
	"sync/atomic"

	"github.com/mastmq/mast/packet"
)

// stats are the server's counters, read by $SYS and by Stats.
type stats struct {
	connections   atomic.Uint64 // sockets accepted
	clientsTotal  atomic.Uint64 // CONNECTs accepted
	bytesReceived atomic.Uint64
	bytesSent     atomic.Uint64
	dropped       atomic.Uint64
	storeFailures atomic.Uint64
	authFailures  atomic.Uint64
	denied        atomic.Uint64 // publishes, subscriptions and deliveries refused by the Authorizer

	packetsInByType  [16]atomic.Uint64
	packetsOutByType [16]atomic.Uint64
	receivedByQoS    [3]atomic.Uint64
	sentByQoS        [3]atomic.Uint64

	refusedMaxConn atomic.Uint64
	refusedRate    atomic.Uint64
	throttled      atomic.Uint64
	topicLimit     atomic.Uint64
	subsLimit      atomic.Uint64

	connectTimeouts   atomic.Uint64
	keepAliveTimeouts atomic.Uint64
	tooLarge          atomic.Uint64
	badPackets        atomic.Uint64
}

// Stats is a snapshot of the server's counters.
type Stats struct {
	ClientsConnected int    // connections with an accepted CONNECT
	Sessions         int    // sessions, connected or not
	Subscriptions    int    // subscriptions, shared members included
	Retained         int    // retained messages
	ConnectionsTotal uint64 // sockets accepted since start
	MessagesReceived uint64 // PUBLISH received
	MessagesSent     uint64 // PUBLISH sent
	BytesReceived    uint64
	BytesSent        uint64
	MessagesDropped  uint64 // dropped for full queues or size limits
	UptimeSeconds    int64

	PacketsIn     [16]uint64 // by packet type (index = packet.Type)
	PacketsOut    [16]uint64
	ReceivedByQoS [3]uint64 // PUBLISH received by QoS
	SentByQoS     [3]uint64 // PUBLISH sent by QoS
	Inflight      int       // QoS 1/2 messages sent and not yet acknowledged
	Queued        int       // messages waiting in session queues

	StoreFailures       uint64 // writes to the store that failed
	AuthFailures        uint64 // CONNECTs refused by the Authenticator
	Denied              uint64 // actions refused by the Authorizer
	RefusedMaxConns     uint64 // sockets closed at a connection limit
	RefusedRate         uint64 // sockets closed by the per-address rate
	Throttled           uint64 // times a publisher was slowed down
	TopicLimitHits      uint64 // topics refused for length or levels
	SubscriptionLimited uint64 // subscriptions refused at MaxSubscriptions
	ConnectTimeouts     uint64 // sockets closed for sending no CONNECT in time
	KeepAliveTimeouts   uint64 // clients closed for silence past 1.5 × keep alive
	PacketsTooLarge     uint64 // connections closed for a packet over the maximum size
	BadPackets          uint64 // connections closed for malformed packets or protocol errors
}

// Stats returns a snapshot of the server's counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	sessions := len(s.sessions)
	connected, inflight, queued := 0, 0, 0
	for _, sess := range s.sessions {
		sess.mu.Lock()
		if sess.conn != nil {
			connected++
		}
		inflight += sess.sending
		queued += len(sess.queue)
		sess.mu.Unlock()
	}
	s.mu.Unlock()
	st := Stats{
		Inflight:         inflight,
		Queued:           queued,
		ClientsConnected: connected,
		Sessions:         sessions,
		Subscriptions:    s.subs.Count(),
		Retained:         s.retained.Len(),
		ConnectionsTotal: s.stats.connections.Load(),
		BytesReceived:    s.stats.bytesReceived.Load(),
		BytesSent:        s.stats.bytesSent.Load(),
		MessagesDropped:  s.stats.dropped.Load(),
		UptimeSeconds:    int64(timeSince(s.started).Seconds()),

		StoreFailures:       s.stats.storeFailures.Load(),
		AuthFailures:        s.stats.authFailures.Load(),
		Denied:              s.stats.denied.Load(),
		RefusedMaxConns:     s.stats.refusedMaxConn.Load(),
		RefusedRate:         s.stats.refusedRate.Load(),
		Throttled:           s.stats.throttled.Load(),
		TopicLimitHits:      s.stats.topicLimit.Load(),
		SubscriptionLimited: s.stats.subsLimit.Load(),
		ConnectTimeouts:     s.stats.connectTimeouts.Load(),
		KeepAliveTimeouts:   s.stats.keepAliveTimeouts.Load(),
		PacketsTooLarge:     s.stats.tooLarge.Load(),
		BadPackets:          s.stats.badPackets.Load(),
	}
	for i := range 16 {
		st.PacketsIn[i] = s.stats.packetsInByType[i].Load()
		st.PacketsOut[i] = s.stats.packetsOutByType[i].Load()
	}
	for i := range 3 {
		st.ReceivedByQoS[i] = s.stats.receivedByQoS[i].Load()
		st.SentByQoS[i] = s.stats.sentByQoS[i].Load()
		st.MessagesReceived += st.ReceivedByQoS[i]
		st.MessagesSent += st.SentByQoS[i]
	}
	st.PacketsOut[packet.PUBLISH] = st.MessagesSent
	return st
}
