package cluster

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/mastmq/mast/broker"
)

// Status is one node's view of the cluster, for the admin API
// (GET /api/v1/cluster), the Prometheus gauges and $SYS. It is read
// from the embedded NATS server's monitoring (routes, JetStream meta
// group) and, for the streams, from the JetStream API, which answers
// with each stream leader's view: only a leader knows how far behind
// its replicas are.
type Status struct {
	Node    string `json:"node"`
	Cluster string `json:"cluster"`
	// Address is where this node accepts routes.
	Address string `json:"address"`
	// Members are this node (first) and the other nodes, sorted by
	// name: those with a route to this one and, with JetStream, the
	// members of its meta group that have none (Connected false).
	Members []Member `json:"members"`
	// Routes counts route connections; NATS keeps a small pool of them
	// to each peer.
	Routes    int             `json:"routes"`
	JetStream JetStreamStatus `json:"jetstream"`
}

// Member is one node of the cluster.
type Member struct {
	Name      string `json:"name"`
	Self      bool   `json:"self,omitempty"`
	Connected bool   `json:"connected"`
	// Address is this node's route address for itself; for a peer, the
	// remote end of a route to it: the peer's cluster address when this
	// node dialled it (Dialed), else the address its connection came
	// from.
	Address string `json:"address,omitempty"`
	Dialed  bool   `json:"dialed,omitempty"`
	// Routes are the route connections to the peer.
	Routes int `json:"routes,omitempty"`
	// ConnectedSince is when the oldest route to the peer was made.
	ConnectedSince time.Time `json:"connected_since,omitzero"`
	// RTTSeconds is the round trip last measured on a route to the
	// peer; 0 before the first measure.
	RTTSeconds float64 `json:"rtt_seconds,omitempty"`
}

// JetStreamStatus is JetStream's part of the cluster: the meta group
// (which places streams) and the streams with their Raft groups.
type JetStreamStatus struct {
	Enabled bool `json:"enabled"`
	// MetaLeader names the meta group's leader; empty without one.
	MetaLeader string `json:"meta_leader"`
	// MetaPeers names the meta group's members, this node included.
	MetaPeers []string `json:"meta_peers"`
	// Streams, sorted by name; KV buckets are the streams KV_<bucket>.
	Streams []StreamStatus `json:"streams"`
	// Error, when set, says why Streams is this node's own view (the
	// streams it holds a replica of, lag known only where it leads) or
	// incomplete.
	Error string `json:"error,omitempty"`
}

// StreamStatus is one JetStream stream and its replicas.
type StreamStatus struct {
	Name string `json:"name"`
	// Bucket is the KV bucket the stream holds, if it is one.
	Bucket string `json:"kv_bucket,omitempty"`
	// Replicas is the configured replication factor.
	Replicas    int       `json:"replicas"`
	Leader      string    `json:"leader"`
	LeaderSince time.Time `json:"leader_since,omitzero"`
	Messages    uint64    `json:"messages"`
	Bytes       uint64    `json:"bytes"`
	Consumers   int       `json:"consumers"`
	// Peers are the replicas, the leader first.
	Peers []Replica `json:"peers"`
	// Unavailable, when set, says why the stream's leader did not
	// report: the fields but Name are then unknown.
	Unavailable string `json:"unavailable,omitempty"`
}

// Replica is one member of a stream's Raft group, as its leader sees it.
type Replica struct {
	Name    string `json:"name"`
	Leader  bool   `json:"leader,omitempty"`
	Current bool   `json:"current"`
	Offline bool   `json:"offline,omitempty"`
	// ActiveSeconds is the time since the leader last heard from it.
	ActiveSeconds float64 `json:"active_seconds"`
	// Lag is how many Raft entries it is behind the leader's commit.
	Lag uint64 `json:"lag"`
}

// MaxLag is the largest lag of the stream's replicas.
func (s StreamStatus) MaxLag() uint64 {
	var m uint64
	for _, r := range s.Peers {
		m = max(m, r.Lag)
	}
	return m
}

// ConnectedMembers counts the members connected to this node, itself
// included.
func (s Status) ConnectedMembers() int {
	n := 0
	for _, m := range s.Members {
		if m.Connected {
			n++
		}
	}
	return n
}

// statusTimeout bounds the JetStream API request for the streams, which
// waits on the meta leader and the stream leaders.
const statusTimeout = 5 * time.Second

// Status returns the node's view of the cluster. With JetStream it
// costs an API round trip through the meta leader, usually well under a
// millisecond, at most statusTimeout when a stream leader is slow to
// answer; without a meta leader in reach it answers at once with this
// node's own view of the streams. Members is the cheap part.
func (n *Node) Status() Status { return status(n.name, n.ns, n.nc) }

// Members returns this node and the peers it has routes to, from the
// embedded server's route table only.
func (n *Node) Members() []Member { return members(n.name, n.ns) }

func status(name string, ns *server.Server, nc *nats.Conn) Status {
	st := Status{
		Node:    name,
		Cluster: ns.ClusterName(),
		Members: members(name, ns),
		Routes:  ns.NumRoutes(),
		JetStream: JetStreamStatus{
			MetaPeers: []string{},
			Streams:   []StreamStatus{},
		},
	}
	if a := ns.ClusterAddr(); a != nil {
		st.Address = a.String()
	}
	if !ns.JetStreamEnabled() {
		return st
	}
	js := &st.JetStream
	js.Enabled = true
	if jsz, err := ns.Jsz(nil); err == nil && jsz.Meta != nil {
		js.MetaLeader = jsz.Meta.Leader
		js.MetaPeers = append(js.MetaPeers, name)
		for _, p := range jsz.Meta.Replicas {
			if p.Name == name || !knownName(p) {
				continue
			}
			js.MetaPeers = append(js.MetaPeers, p.Name)
			if !slices.ContainsFunc(st.Members, func(m Member) bool { return m.Name == p.Name }) {
				st.Members = append(st.Members, Member{Name: p.Name})
			}
		}
		slices.Sort(js.MetaPeers)
		sortMembers(st.Members)
	}
	// The API needs the meta leader: without one in reach, answer at
	// once with this node's view rather than wait for the timeout.
	var streams []StreamStatus
	var err error
	if ns.JetStreamIsClustered() {
		err = metaReachable(st)
	}
	if err == nil {
		streams, err = listStreams(nc)
	}
	if err != nil {
		js.Error = err.Error() + "; streams as this node holds them"
		streams = localStreams(name, ns)
	}
	js.Streams = streams
	return st
}

// metaReachable tells whether the meta leader is this node or a peer it
// has a route to.
func metaReachable(st Status) error {
	leader := st.JetStream.MetaLeader
	if leader == "" {
		return errors.New("no JetStream meta leader")
	}
	if !slices.ContainsFunc(st.Members, func(m Member) bool { return m.Name == leader && m.Connected }) {
		return fmt.Errorf("the JetStream meta leader %s is out of reach", leader)
	}
	return nil
}

// knownName: a peer the server has not heard of yet is reported under a
// placeholder.
func knownName(p *server.PeerInfo) bool {
	return p.Name != "" && !strings.HasPrefix(p.Name, "Server name unknown")
}

func members(name string, ns *server.Server) []Member {
	self := Member{Name: name, Self: true, Connected: true}
	if a := ns.ClusterAddr(); a != nil {
		self.Address = a.String()
	}
	out := []Member{self}
	rz, err := ns.Routez(nil)
	if err != nil {
		return out
	}
	byName := map[string]int{}
	for _, r := range rz.Routes {
		peer := r.RemoteName
		if peer == "" {
			peer = r.RemoteID
		}
		i, ok := byName[peer]
		if !ok {
			i = len(out)
			byName[peer] = i
			out = append(out, Member{Name: peer, Connected: true})
		}
		m := &out[i]
		m.Routes++
		addr := ""
		if r.IP != "" {
			addr = net.JoinHostPort(r.IP, strconv.Itoa(r.Port))
		}
		// Prefer a dialled route's address: it is the peer's cluster
		// port, where an accepted one shows an ephemeral port.
		if m.Address == "" || (r.DidSolicit && !m.Dialed) {
			m.Address, m.Dialed = addr, r.DidSolicit
		}
		if m.ConnectedSince.IsZero() || r.Start.Before(m.ConnectedSince) {
			m.ConnectedSince = r.Start.UTC()
		}
		if d, err := time.ParseDuration(r.RTT); err == nil && d > 0 {
			m.RTTSeconds = d.Seconds()
		}
	}
	sortMembers(out)
	return out
}

// sortMembers puts this node first and the others by name.
func sortMembers(ms []Member) {
	slices.SortFunc(ms, func(a, b Member) int {
		if a.Self != b.Self {
			if a.Self {
				return -1
			}
			return 1
		}
		return cmp.Compare(a.Name, b.Name)
	})
}

// listStreams asks the JetStream API for every stream of the node's
// account, page by page: the meta leader gathers each stream's info from
// its leader (waiting up to 4 s for them).
func listStreams(nc *nats.Conn) ([]StreamStatus, error) {
	if nc == nil {
		return nil, errors.New("no connection")
	}
	fail := func(err error) ([]StreamStatus, error) {
		return nil, fmt.Errorf("the stream leaders did not answer: %w", err)
	}
	out := []StreamStatus{}
	seen := map[string]bool{}
	add := func(ss StreamStatus) {
		if !seen[ss.Name] {
			seen[ss.Name] = true
			out = append(out, ss)
		}
	}
	unavailable := func(name, why string) StreamStatus {
		return StreamStatus{Name: name, Bucket: bucketOf(name), Peers: []Replica{}, Unavailable: why}
	}
	deadline := time.Now().Add(statusTimeout)
	for offset := 0; ; {
		req, _ := json.Marshal(server.JSApiStreamListRequest{ApiPagedRequest: server.ApiPagedRequest{Offset: offset}})
		msg, err := nc.Request(server.JSApiStreamList, req, time.Until(deadline))
		if err != nil {
			return fail(err)
		}
		var resp server.JSApiStreamListResponse
		if err := json.Unmarshal(msg.Data, &resp); err != nil {
			return fail(err)
		}
		if resp.Error != nil {
			return fail(resp.Error)
		}
		for _, si := range resp.Streams {
			add(streamStatus(si.Config.Name, si.Config.Replicas, si.State, si.Cluster, ""))
		}
		for name, why := range resp.Offline {
			add(unavailable(name, why))
		}
		for _, name := range resp.Missing {
			add(unavailable(name, "its leader did not answer in time"))
		}
		// A page is Limit stream assignments, whatever answered.
		offset += resp.Limit
		if resp.Limit <= 0 || offset >= resp.Total {
			break
		}
	}
	sortStreams(out)
	return out, nil
}

// localStreams is the fallback when the API does not answer: the
// streams this node holds a replica of, as it sees them. Only the
// leader's view has the replicas' lag.
func localStreams(name string, ns *server.Server) []StreamStatus {
	out := []StreamStatus{}
	jsz, err := ns.Jsz(&server.JSzOptions{Streams: true, Config: true})
	if err != nil {
		return out
	}
	for _, acc := range jsz.AccountDetails {
		for _, sd := range acc.Streams {
			replicas := 0
			if sd.Config != nil {
				replicas = sd.Config.Replicas
			}
			out = append(out, streamStatus(sd.Name, replicas, sd.State, sd.Cluster, name))
		}
	}
	sortStreams(out)
	return out
}

// streamStatus turns a stream's info into its status. NATS lists the
// replicas but the reporting node: the leader when it answers for the
// stream, so it is added as current and without lag; self, when set, is
// a non-leader reporting for itself and is added with what it cannot
// know about itself left false.
func streamStatus(name string, replicas int, state server.StreamState, ci *server.ClusterInfo, self string) StreamStatus {
	ss := StreamStatus{
		Name:      name,
		Bucket:    bucketOf(name),
		Replicas:  max(replicas, 1),
		Messages:  state.Msgs,
		Bytes:     state.Bytes,
		Consumers: state.Consumers,
		Peers:     []Replica{},
	}
	if ci == nil {
		return ss
	}
	ss.Leader = ci.Leader
	if ci.LeaderSince != nil {
		ss.LeaderSince = ci.LeaderSince.UTC()
	}
	for _, p := range ci.Replicas {
		if p.Name != ci.Leader {
			ss.Peers = append(ss.Peers, Replica{Name: p.Name, Current: p.Current, Offline: p.Offline,
				ActiveSeconds: p.Active.Seconds(), Lag: p.Lag})
		}
	}
	if self != "" && self != ci.Leader && !slices.ContainsFunc(ss.Peers, func(r Replica) bool { return r.Name == self }) {
		ss.Peers = append(ss.Peers, Replica{Name: self})
	}
	slices.SortFunc(ss.Peers, func(a, b Replica) int { return cmp.Compare(a.Name, b.Name) })
	if ci.Leader != "" {
		ss.Peers = slices.Insert(ss.Peers, 0, Replica{Name: ci.Leader, Leader: true, Current: true})
	}
	return ss
}

func bucketOf(stream string) string {
	b, _ := strings.CutPrefix(stream, "KV_")
	if b == stream {
		return ""
	}
	return b
}

func sortStreams(ss []StreamStatus) {
	slices.SortFunc(ss, func(a, b StreamStatus) int { return cmp.Compare(a.Name, b.Name) })
}

// SysRoot is where a node publishes its cluster state under $SYS.
const SysRoot = "$SYS/broker/cluster/"

// DefaultSysInterval is how often PublishSys publishes when given 0,
// the broker's own $SYS default.
const DefaultSysInterval = 10 * time.Second

// PublishSys publishes the node's cluster state on srv every interval
// (0: DefaultSysInterval; below 0: never), retained, as the broker does
// its own $SYS topics:
//
//	$SYS/broker/cluster/node                  this node's name
//	$SYS/broker/cluster/name                  the cluster's name
//	$SYS/broker/cluster/members               members connected, this node included
//	$SYS/broker/cluster/routes                route connections
//	$SYS/broker/cluster/meta_leader           JetStream's meta leader (with JetStream)
//	$SYS/broker/cluster/streams/NAME/leader   the stream's leader
//	$SYS/broker/cluster/streams/NAME/lag      its replicas' largest lag
//
// An empty payload clears a retained topic: a stream with no leader, or
// gone. $SYS topics stay on their node; they are not forwarded. It
// publishes at once and then on each tick until stop is called or the
// node is closed; stop waits for the last publication to end.
func (n *Node) PublishSys(srv *broker.Server, interval time.Duration) (stop func()) {
	if interval < 0 {
		return func() {}
	}
	if interval == 0 {
		interval = DefaultSysInterval
	}
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		p := sysPublisher{publish: srv.Publish, streams: map[string]bool{}}
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			p.put(n.Status())
			select {
			case <-t.C:
			case <-quit:
				return
			case <-n.quit:
				return
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() { close(quit) })
		<-done
	}
}

// sysPublisher publishes Statuses, remembering the streams it has
// published so that a stream gone has its topics cleared.
type sysPublisher struct {
	publish func(topic string, payload []byte, qos byte, retain bool) error
	streams map[string]bool
}

func (p *sysPublisher) put(st Status) {
	put := func(name, value string) {
		// A name MQTT refuses (a stream named with '+' or '#') is
		// skipped: the admin API and metrics still show it.
		_ = p.publish(SysRoot+name, []byte(value), 0, true)
	}
	put("node", st.Node)
	put("name", st.Cluster)
	put("members", strconv.Itoa(st.ConnectedMembers()))
	put("routes", strconv.Itoa(st.Routes))
	if st.JetStream.Enabled {
		put("meta_leader", st.JetStream.MetaLeader)
	}
	seen := make(map[string]bool, len(st.JetStream.Streams))
	for _, s := range st.JetStream.Streams {
		seen[s.Name] = true
		put("streams/"+s.Name+"/leader", s.Leader)
		lag := ""
		if s.Unavailable == "" {
			lag = strconv.FormatUint(s.MaxLag(), 10)
		}
		put("streams/"+s.Name+"/lag", lag)
	}
	for name := range p.streams {
		if !seen[name] {
			put("streams/"+name+"/leader", "")
			put("streams/"+name+"/lag", "")
		}
	}
	p.streams = seen
}
