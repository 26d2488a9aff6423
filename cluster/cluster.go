package cluster

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/mastmq/mast/broker"
	"github.com/mastmq/mast/store"
	"github.com/mastmq/mast/topic"
)

// Options configures a Node.
type Options struct {
	// NodeName names this node among the others (the NATS server name);
	// default: the cluster listen address.
	NodeName string
	// ClusterName is the NATS cluster name; every node must use the same.
	// Default "mast".
	ClusterName string
	// ClusterListen is the host:port the node accepts routes from other
	// nodes on ("127.0.0.1:0" picks a free port; ClusterAddr tells which).
	ClusterListen string
	// Routes are seed nodes, as nats-route://host:port (or host:port).
	// A node may list itself; NATS skips it.
	Routes []string
	// Logger receives the embedded NATS server's logs; nil discards them.
	Logger *slog.Logger
	// ReadyTimeout bounds the wait for the NATS server to start; default 10s.
	ReadyTimeout time.Duration
	// JetStream keeps persistent sessions, the messages they have not
	// acknowledged and their wills in the cluster, so that a client may
	// resume its session on any node, also after its node is lost.
	JetStream bool
	// StoreDir is where this node keeps its JetStream replicas
	// (required with JetStream).
	StoreDir string
	// Replicas of the replicated state; default 3.
	Replicas int
	// LogMaxAge bounds how long a message is kept for persistent
	// sessions; default 24h.
	LogMaxAge time.Duration
	// Secret authenticates the routes between the nodes; every node
	// must have the same. Empty: routes are not authenticated (keep the
	// cluster listener on a private network or loopback).
	Secret string
	// Partition is the partition policy: PartitionQuorum (default) keeps
	// persistent state only with a quorum of replicas (publishers of
	// QoS 1/2 messages for persistent sessions, and clients resuming a
	// session, are refused without one), PartitionAvailable goes on
	// with this node's copy. QoS 0 between reachable nodes flows either way.
	Partition string
}

// Node is one mast node's membership in the cluster: an embedded NATS
// server, a client of it in the same process, and the NATS
// subscriptions that stand for the MQTT filters the local sessions use.
// It implements broker.Remote.
type Node struct {
	name  string
	epoch uint64 // this run of the node: tells its sequence numbers apart
	ns    *server.Server
	nc    *nats.Conn // publishes and holds the regular subscriptions; NoEcho
	// nq holds the queue subscriptions of shared groups. It echoes: a
	// message published on this node may be picked for this node's own
	// members.
	nq   *nats.Conn
	acc  *server.Account
	log  *slog.Logger
	in   chan *nats.Msg
	quit chan struct{}
	done chan struct{}

	mu   sync.Mutex // guards subs and closed
	subs map[string]*subjectSub
	// shares maps a queue subscription to its $share/group/filter; read
	// by receive without n.mu.
	shares sync.Map
	// closed: no more subscriptions are made.
	closed bool

	pubMu sync.Mutex // orders sequence numbers as NATS sees them; guards seq and buf
	seq   uint64
	buf   []byte

	hmu     sync.RWMutex
	deliver func(broker.RemoteMessage)
	srv     *broker.Server // set by Attach; guarded by hmu

	keeper *keeper // nil without JetStream
}

type subjectSub struct {
	n   int
	sub *nats.Subscription
}

// retainedRoot prefixes the subjects of retained messages.
const retainedRoot = "retained."

// syncRoot prefixes the subjects nodes answer on for syncPeers.
const syncRoot = "mast.sync."

// connectedRoot prefixes the announcements of connections.
const connectedRoot = "mast.connected."

// inboundQueue bounds the messages received from NATS and not yet routed
// locally; beyond it NATS drops them (a slow consumer) and counts them.
const inboundQueue = 1 << 16

// Start starts the node's NATS server, joins the routes and connects to
// it. The node receives nothing until Attach.
func Start(ctx context.Context, o Options) (*Node, error) {
	host, port, err := splitHostPort(o.ClusterListen)
	if err != nil {
		return nil, err
	}
	if o.ClusterName == "" {
		o.ClusterName = "mast"
	}
	if o.ReadyTimeout <= 0 {
		o.ReadyTimeout = 10 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	routes := make([]*url.URL, 0, len(o.Routes))
	for _, r := range o.Routes {
		u, err := parseRoute(r)
		if err != nil {
			return nil, err
		}
		if o.Secret != "" && u.User == nil {
			u.User = url.UserPassword(routeUser(o.Secret), o.Secret)
		}
		routes = append(routes, u)
	}
	sopts := &server.Options{
		ServerName: o.NodeName,
		// The client port is for this process only: on loopback, at a
		// random port (DontListen would be tighter, but routes wait for a
		// client listener). On Linux at 127.0.0.2, so that its random
		// port can never take a port someone meant for 127.0.0.1 (an
		// MQTT listener or another node's routes picked ahead).
		Host:       clientHost(),
		Port:       server.RANDOM_PORT,
		NoSigs:     true,
		NoLog:      true,
		MaxPayload: 8 << 20, // room for a session handover
		Cluster: server.ClusterOpts{
			Name:     o.ClusterName,
			Host:     host,
			Port:     port,
			Username: routeUser(o.Secret),
			Password: o.Secret,
		},
		Routes: routes,
	}
	if o.JetStream {
		if o.StoreDir == "" {
			return nil, errors.New("cluster: JetStream needs a store directory")
		}
		if o.NodeName == "" {
			return nil, errors.New("cluster: JetStream needs a node name")
		}
		sopts.JetStream = true
		sopts.StoreDir = o.StoreDir
	}
	ns, err := server.NewServer(sopts)
	if err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	ns.SetLoggerV2(natsLogger{o.Logger}, false, false, false)
	go ns.Start()
	deadline := o.ReadyTimeout
	if d, ok := ctx.Deadline(); ok && time.Until(d) < deadline {
		deadline = time.Until(d)
	}
	if !ns.ReadyForConnections(deadline) {
		ns.Shutdown()
		return nil, errors.New("cluster: embedded NATS server not ready in time")
	}
	n := &Node{
		name:  o.NodeName,
		epoch: randomEpoch(),
		ns:    ns,
		acc:   ns.GlobalAccount(),
		log:   o.Logger,
		in:    make(chan *nats.Msg, inboundQueue),
		quit:  make(chan struct{}),
		done:  make(chan struct{}),
		subs:  make(map[string]*subjectSub),
	}
	if n.name == "" {
		n.name = ns.ClusterAddr().String()
	}
	nc, err := nats.Connect("",
		nats.InProcessServer(ns),
		nats.Name("mast:"+n.name),
		nats.NoEcho(), // a node never receives its own forwards
		nats.MaxReconnects(-1),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			n.log.Warn("cluster: NATS client error", "err", err)
		}),
	)
	if err != nil {
		ns.Shutdown()
		return nil, fmt.Errorf("cluster: connecting to the embedded NATS server: %w", err)
	}
	n.nc = nc
	nq, err := nats.Connect("",
		nats.InProcessServer(ns),
		nats.Name("mast:"+n.name+":shared"),
		nats.MaxReconnects(-1),
	)
	if err != nil {
		nc.Close()
		ns.Shutdown()
		return nil, fmt.Errorf("cluster: connecting to the embedded NATS server: %w", err)
	}
	n.nq = nq
	// Peers ask to know that our subscriptions have reached us (see
	// syncPeers): answering is all.
	if _, err := nc.Subscribe(syncRoot+n.name, func(m *nats.Msg) { _ = m.Respond(nil) }); err != nil {
		nc.Close()
		ns.Shutdown()
		return nil, fmt.Errorf("cluster: %w", err)
	}
	// A client that connects anywhere takes over its connection here.
	if _, err := nc.Subscribe(connectedRoot+">", n.onConnected); err != nil {
		nc.Close()
		ns.Shutdown()
		return nil, fmt.Errorf("cluster: %w", err)
	}
	// Every node keeps the retained messages published anywhere: they
	// travel on their own root, which every node subscribes to.
	if _, err := nc.ChanSubscribe(retainedRoot+">", n.in); err != nil {
		nc.Close()
		ns.Shutdown()
		return nil, fmt.Errorf("cluster: %w", err)
	}
	if o.JetStream {
		if n.keeper, err = newKeeper(n, o); err != nil {
			nq.Close()
			nc.Close()
			ns.Shutdown()
			return nil, fmt.Errorf("cluster: %w", err)
		}
	}
	go n.receive()
	return n, nil
}

// Attach routes the messages received from other nodes to srv, which
// must have been made with broker.Options{Remote: n}.
func (n *Node) Attach(srv *broker.Server) {
	n.SetHandler(srv.DeliverRemote)
	n.hmu.Lock()
	n.srv = srv
	n.hmu.Unlock()
	if n.keeper != nil {
		n.keeper.setServer(srv)
	}
}

// syncPeers returns once every other node has handled the subscriptions
// this node made before the call: a request on the route after them
// comes back only after they have been processed there (a route keeps
// the order of what it carries).
func (n *Node) syncPeers() {
	rz, err := n.ns.Routez(&server.RoutezOptions{})
	if err != nil {
		return
	}
	seen := map[string]bool{}
	for _, r := range rz.Routes {
		if r.RemoteName == "" || seen[r.RemoteName] {
			continue
		}
		seen[r.RemoteName] = true
		_, _ = n.nc.Request(syncRoot+r.RemoteName, nil, 2*time.Second)
	}
}

// Connected implements broker.Announcer: it tells the other nodes,
// which close an older connection of the same client id.
func (n *Node) Connected(clientID string, at time.Time) {
	b := binary.AppendVarint(nil, at.UnixNano())
	if err := n.nc.Publish(connectedRoot+sessionKey(clientID), b); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
		n.log.Warn("cluster: announcing a connection", "client", clientID, "err", err)
	}
}

func (n *Node) onConnected(msg *nats.Msg) {
	clientID, ok := keyClient(strings.TrimPrefix(msg.Subject, connectedRoot))
	at, k := binary.Varint(msg.Data)
	if !ok || k <= 0 {
		return
	}
	n.hmu.RLock()
	srv := n.srv
	n.hmu.RUnlock()
	if srv != nil {
		srv.TakeOver(clientID, time.Unix(0, at))
	}
}

// Claim implements broker.SessionKeeper (a no-op without JetStream).
func (n *Node) Claim(clientID string, clean, local, persistent bool) (*store.Session, func(func(broker.RemoteMessage)), error) {
	if n.keeper == nil {
		return nil, nil, nil
	}
	return n.keeper.Claim(clientID, clean, local, persistent)
}

// Mirror implements broker.SessionKeeper (a no-op without JetStream).
func (n *Node) Mirror(ops []store.Op) {
	if n.keeper != nil {
		n.keeper.Mirror(ops)
	}
}

// PersistentInterest reports whether a QoS 1/2 subscription of some
// persistent session in the cluster, on any node or none, matches the
// topic: such messages are kept in the cluster's log.
func (n *Node) PersistentInterest(topic string) bool {
	return n.keeper != nil && n.keeper.ready.Load() && n.keeper.persistentInterest(topic)
}

// SessionOwner is the node that holds a client's session, as far as
// this node knows; "" when none or unknown.
func (n *Node) SessionOwner(clientID string) string {
	if n.keeper == nil {
		return ""
	}
	n.keeper.pmu.Lock()
	defer n.keeper.pmu.Unlock()
	return n.keeper.owners[sessionKey(clientID)]
}

// InSync reports whether the replicated state is whole: JetStream's
// meta group and each stream of the cluster's state have a leader and
// every replica current. A rolling restart should wait for it on each
// node before stopping the next (GET /readyz says it).
func (n *Node) InSync() bool {
	return n.keeper == nil || (n.keeper.ready.Load() && n.keeper.inSync())
}

// SessionsReady reports whether the replicated sessions are usable
// (JetStream on and its bucket and stream made).
func (n *Node) SessionsReady() bool { return n.keeper != nil && n.keeper.ready.Load() }

// SetHandler sets what receives messages from other nodes (Attach uses
// srv.DeliverRemote); nil drops them.
func (n *Node) SetHandler(h func(broker.RemoteMessage)) {
	n.hmu.Lock()
	n.deliver = h
	n.hmu.Unlock()
}

// Name is the node's name.
func (n *Node) Name() string { return n.name }

// ClusterAddr is the address other nodes route to, for their seeds.
func (n *Node) ClusterAddr() string {
	if a := n.ns.ClusterAddr(); a != nil {
		return a.String()
	}
	return ""
}

// RouteURL is ClusterAddr as a seed route.
func (n *Node) RouteURL() string { return "nats-route://" + n.ClusterAddr() }

// NumRoutes is the number of routes to other nodes (NATS may keep
// several per peer).
func (n *Node) NumRoutes() int { return n.ns.NumRoutes() }

// Server is the embedded NATS server, for monitoring and tests.
func (n *Node) Server() *server.Server { return n.ns }

// Interest implements broker.Remote: one NATS subscription per subject
// of the filter, counted per subject, since two filters may share one
// ("a" and "a/#" both need "mqtt.a"). A shared subscription
// ($share/group/filter) is a NATS queue group instead, on the filter's
// subjects and their retained twins, so that NATS picks one node with
// members for each message.
func (n *Node) Interest(filter string, delta int) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return
	}
	group, inner, shared := topic.ParseShared(filter)
	if !shared {
		for _, subj := range FilterSubjects(filter) {
			n.count(subj, "", "", delta)
		}
		return
	}
	queue := queueName(group, inner)
	for _, subj := range FilterSubjects(inner) {
		n.count(subj, queue, filter, delta)
		n.count(retainedRoot+subj, queue, filter, delta)
	}
}

// count adds delta to the users of one subscription (a queue one when
// queue is set), making or dropping it. n.mu is held.
func (n *Node) count(subj, queue, share string, delta int) {
	key := subj
	if queue != "" {
		key = queue + " " + subj
	}
	ss := n.subs[key]
	switch {
	case delta > 0 && ss == nil:
		var sub *nats.Subscription
		var err error
		if queue == "" {
			sub, err = n.nc.ChanSubscribe(subj, n.in)
		} else {
			sub, err = n.nq.ChanQueueSubscribe(subj, queue, n.in)
		}
		if err != nil {
			n.log.Error("cluster: subscribing", "subject", subj, "queue", queue, "err", err)
			return
		}
		_ = sub.SetPendingLimits(-1, -1)
		if share != "" {
			n.shares.Store(sub, share)
		}
		n.subs[key] = &subjectSub{n: 1, sub: sub}
	case delta > 0:
		ss.n++
	case ss == nil:
	case ss.n <= 1:
		_ = ss.sub.Unsubscribe()
		n.shares.Delete(ss.sub)
		delete(n.subs, key)
	default:
		ss.n--
	}
}

// queueName is the NATS queue group of a shared subscription: a token
// made of the group and the filter, since "$share/g/a" and "$share/g/b"
// are two shared subscriptions.
func queueName(group, filter string) string {
	h := sha256.Sum256([]byte(group + "\x00" + filter))
	return "mqs" + hex.EncodeToString(h[:12])
}

// Forward implements broker.Remote: it publishes m on its subject when
// some node has interest in it, and keeps a QoS 1/2 message in the
// cluster's log when some persistent session needs it.
func (n *Node) Forward(m broker.RemoteMessage) (uint64, func() error) {
	subj := TopicSubject(m.Topic)
	pubSubj := subj
	if m.Retain {
		// To every node, which keeps it and delivers it to its own
		// subscribers.
		pubSubj = retainedRoot + subj
	}
	interest := m.Retain || n.acc.SubscriptionInterest(subj)
	// The account's interest includes our own subscriptions, so this
	// only skips subjects nobody in the cluster wants; NATS drops the
	// rest on our side (NoEcho).
	if !interest && (n.keeper == nil || (m.QoS == 0 && !m.Retain)) {
		return 0, nil
	}
	n.pubMu.Lock()
	defer n.pubMu.Unlock()
	n.seq++
	id := messageID(n.epoch, n.seq)
	n.buf = appendEnvelope(n.buf[:0], n.name, n.epoch, n.seq, m)
	if interest {
		if err := n.nc.Publish(pubSubj, n.buf); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
			n.log.Warn("cluster: forwarding", "topic", m.Topic, "err", err)
		}
	}
	if n.keeper != nil {
		return id, n.keeper.keep(subj, n.buf, id, m)
	}
	return id, nil
}

// messageID is a message's id in the cluster, from its origin's run
// (a random epoch) and sequence number.
func messageID(epoch, seq uint64) uint64 {
	return epoch ^ (seq * 0x9E3779B97F4A7C15)
}

// receive routes what other nodes forward, one message at a time and in
// order. A message that matches several of our NATS subscriptions
// arrives once per subscription, one copy after the other; the sequence
// number of its origin drops the copies.
func (n *Node) receive() {
	defer close(n.done)
	last := make(map[uint64]uint64) // epoch -> last sequence routed
	for {
		var msg *nats.Msg
		select {
		case msg = <-n.in:
		case <-n.quit:
			return
		}
		m, epoch, seq, err := decodeEnvelope(msg.Data)
		if err != nil {
			n.log.Warn("cluster: malformed message", "subject", msg.Subject, "err", err)
			continue
		}
		m.ID = messageID(epoch, seq)
		if share, ok := n.shares.Load(msg.Sub); ok {
			// Picked for one shared group: one copy per group and
			// message, no duplicates to drop.
			m.Share = share.(string)
		} else if seq <= last[epoch] {
			continue
		} else {
			last[epoch] = seq
		}
		t, ok := SubjectTopic(strings.TrimPrefix(msg.Subject, retainedRoot))
		if !ok {
			continue
		}
		m.Topic = t
		n.hmu.RLock()
		h := n.deliver
		n.hmu.RUnlock()
		if h != nil {
			h(m)
		}
	}
}

// Close leaves the cluster: it drops the subscriptions, closes the NATS
// connection and shuts the embedded server down.
func (n *Node) Close() error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil
	}
	n.closed = true
	n.subs = nil
	n.mu.Unlock()
	if n.keeper != nil {
		n.keeper.leave()
	}
	n.nc.Close()
	n.nq.Close()
	n.ns.Shutdown()
	n.ns.WaitForShutdown()
	close(n.quit)
	<-n.done
	return nil
}

// Envelope, after the subject that carries the topic:
//
//	version 1 | flags (bits 0-1 QoS, bit 2 retain) | uvarint epoch |
//	uvarint seq | uvarint len + origin | uvarint len + properties | payload
const envelopeVersion = 1

func appendEnvelope(b []byte, origin string, epoch, seq uint64, m broker.RemoteMessage) []byte {
	flags := m.QoS & 3
	if m.Retain {
		flags |= 4
	}
	b = append(b, envelopeVersion, flags)
	b = binary.AppendUvarint(b, epoch)
	b = binary.AppendUvarint(b, seq)
	b = binary.AppendUvarint(b, uint64(len(origin)))
	b = append(b, origin...)
	b = binary.AppendUvarint(b, uint64(len(m.Properties)))
	b = append(b, m.Properties...)
	return append(b, m.Payload...)
}

var errEnvelope = errors.New("bad envelope")

// decodeEnvelope reads an envelope; the result aliases b.
func decodeEnvelope(b []byte) (m broker.RemoteMessage, epoch, seq uint64, err error) {
	if len(b) < 2 || b[0] != envelopeVersion || b[1]&^7 != 0 || b[1]&3 == 3 {
		return m, 0, 0, errEnvelope
	}
	m.QoS = b[1] & 3
	m.Retain = b[1]&4 != 0
	b = b[2:]
	uv := func() uint64 {
		v, k := binary.Uvarint(b)
		if k <= 0 {
			err = errEnvelope
			return 0
		}
		b = b[k:]
		return v
	}
	bytes := func() []byte {
		l := uv()
		if err != nil || l > uint64(len(b)) {
			err = errEnvelope
			return nil
		}
		v := b[:l:l]
		b = b[l:]
		return v
	}
	epoch = uv()
	seq = uv()
	origin := bytes()
	props := bytes()
	if err != nil {
		return m, 0, 0, err
	}
	m.Origin = string(origin)
	if len(props) > 0 {
		m.Properties = props
	}
	m.Payload = b
	return m, epoch, seq, nil
}

func randomEpoch() uint64 {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return binary.LittleEndian.Uint64(b[:]) | 1 // never 0
}

func splitHostPort(hp string) (string, int, error) {
	if hp == "" {
		return "", 0, errors.New("cluster: no listen address")
	}
	host, ps, err := net.SplitHostPort(hp)
	if err != nil {
		return "", 0, fmt.Errorf("cluster: listen address %q: %w", hp, err)
	}
	port, err := strconv.Atoi(ps)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("cluster: listen address %q: bad port", hp)
	}
	if port == 0 {
		port = server.RANDOM_PORT
	}
	if host == "" {
		host = "0.0.0.0"
	}
	return host, port, nil
}

// clientHost is where the embedded server's client port listens.
func clientHost() string {
	if runtime.GOOS == "linux" {
		return "127.0.0.2" // all of 127/8 is loopback on Linux
	}
	return "127.0.0.1"
}

// routeUser is the route user name that goes with a secret.
func routeUser(secret string) string {
	if secret == "" {
		return ""
	}
	return "mast"
}

func parseRoute(r string) (*url.URL, error) {
	if _, _, err := net.SplitHostPort(r); err == nil {
		r = "nats-route://" + r
	}
	u, err := url.Parse(r)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("cluster: route %q: want nats-route://host:port", r)
	}
	return u, nil
}

// natsLogger passes the NATS server's logs to slog.
type natsLogger struct{ l *slog.Logger }

// Notices (the start-up banner, route changes) go to Debug: the broker
// logs its own line for the cluster.
func (g natsLogger) Noticef(f string, v ...any) { g.l.Debug("nats: " + fmt.Sprintf(f, v...)) }
func (g natsLogger) Warnf(f string, v ...any)   { g.l.Warn("nats: " + fmt.Sprintf(f, v...)) }
func (g natsLogger) Fatalf(f string, v ...any)  { g.l.Error("nats: " + fmt.Sprintf(f, v...)) }
func (g natsLogger) Errorf(f string, v ...any) {
	msg := fmt.Sprintf(f, v...)
	if strings.Contains(msg, "trying to connect to route") {
		// Seeds that are not up yet: NATS retries them.
		g.l.Warn("nats: " + msg)
		return
	}
	g.l.Error("nats: " + msg)
}
func (g natsLogger) Debugf(f string, v ...any) { g.l.Debug("nats: " + fmt.Sprintf(f, v...)) }
func (g natsLogger) Tracef(f string, v ...any) { g.l.Debug("nats: " + fmt.Sprintf(f, v...)) }

var (
	_ broker.Remote        = (*Node)(nil)
	_ broker.SessionKeeper = (*Node)(nil)
	_ broker.Announcer     = (*Node)(nil)
)
