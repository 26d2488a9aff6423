package loadgen

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/mastmq/mast/packet"
)

// Scenarios lists the scenarios Run knows, in the order `mast bench -h`
// shows them.
var Scenarios = []string{"pub", "sub", "conn", "fanin", "fanout", "pairs", "latency", "retained"}

// Config describes one run. Zero fields take the scenario's defaults (see
// Resolve).
type Config struct {
	Scenario string
	Addr     string // broker host:port
	// SubAddr, when set, is where subscribers connect instead of Addr:
	// another node of a cluster, to measure across nodes.
	SubAddr string
	TLS     *tls.Config // connect with TLS when non-nil
	Version byte        // protocol level 3, 4 or 5; default 4

	// Clients is the scenario's main count: publishers for pub, fanin and
	// retained; subscribers for sub, fanout and conn; pairs for pairs and
	// latency. Pubs and Subs, when set, override it per role.
	Clients    int
	Pubs, Subs int

	// Topic is the publish topic pattern, Filter the subscription filter
	// pattern; both expand %i (client index) and %c (client id), see Expand.
	Topic, Filter string

	QoS       byte
	Size      int     // payload bytes; default 64, at least MinSize
	Rate      float64 // messages per second per publisher; 0 is unlimited
	TotalRate float64 // messages per second over all publishers; overrides Rate
	Duration  time.Duration
	Count     int64 // messages per publisher; 0 means until Duration

	KeepAlive     uint16 // seconds; default 60
	Clean         bool   // clean session / clean start
	SessionExpiry uint32 // v5 session expiry interval, seconds

	LocalAddrs      []string // source IP addresses, used round-robin
	Inflight        int      // QoS 1/2 window per publisher; default 64
	Batch           int      // flush at least every Batch messages; default 128
	ClientPrefix    string   // client id prefix; default "mb-RUN-"
	Drain           time.Duration
	ConnectParallel int // connections opened at once; default 64
	BrokerPID       int // when set, the broker's CPU and RSS are reported

	// KeepRetained leaves the retained scenario's messages on the broker
	// instead of clearing them at the end.
	KeepRetained bool

	// Live receives a line per LiveInterval while the run goes on.
	Live         io.Writer
	LiveInterval time.Duration

	run uint16 // random run id carried in every payload
}

// Resolve checks c and fills in the scenario's defaults.
func (c Config) Resolve() (Config, error) {
	known := false
	for _, s := range Scenarios {
		known = known || s == c.Scenario
	}
	if !known {
		return c, fmt.Errorf("unknown scenario %q (want one of %s)", c.Scenario, strings.Join(Scenarios, ", "))
	}
	if c.Addr == "" {
		c.Addr = "127.0.0.1:1883"
	}
	if c.Version == 0 {
		c.Version = packet.Version311
	}
	if c.Version < packet.Version31 || c.Version > packet.Version5 {
		return c, fmt.Errorf("protocol version %d: want 3, 4 or 5", c.Version)
	}
	if c.QoS > 2 {
		return c, fmt.Errorf("QoS %d: want 0, 1 or 2", c.QoS)
	}
	if c.Clients < 0 || c.Pubs < 0 || c.Subs < 0 || c.Count < 0 || c.Rate < 0 || c.TotalRate < 0 || c.Duration < 0 {
		return c, errors.New("counts, rates and durations must not be negative")
	}
	if c.Size == 0 {
		c.Size = 64
	}
	if c.Size < MinSize {
		return c, fmt.Errorf("payload size %d: at least %d bytes carry the publisher id, sequence and time", c.Size, MinSize)
	}
	clients := func(def int) int {
		if c.Clients > 0 {
			return c.Clients
		}
		return def
	}
	pubs, subs := 0, 0
	topic, filter := "", ""
	switch c.Scenario {
	case "pub":
		pubs, topic = clients(1), "bench/%i"
	case "sub":
		subs, filter = clients(1), "bench/#"
	case "conn":
		subs, filter = clients(100), "bench/conn/%i"
	case "fanin":
		pubs, subs = clients(8), 1
		topic, filter = "bench/fanin/%i", "bench/fanin/#"
	case "fanout":
		pubs, subs = 1, clients(10)
		topic, filter = "bench/fanout", "bench/fanout"
	case "pairs", "latency":
		pubs = clients(10)
		subs = pubs
		topic = "bench/pairs/%i"
	case "retained":
		pubs, subs = clients(1), 1
		topic, filter = "bench/retained/%i", "bench/retained/#"
		if c.Count == 0 {
			c.Count = 100000
		}
	}
	if c.Pubs == 0 {
		c.Pubs = pubs
	}
	if c.Subs == 0 {
		c.Subs = subs
	}
	if c.Topic == "" {
		c.Topic = topic
	}
	if c.Filter == "" {
		c.Filter = filter
	}
	if c.Scenario == "pairs" || c.Scenario == "latency" {
		if c.Subs != c.Pubs {
			return c, fmt.Errorf("%s needs as many subscribers as publishers (got %d and %d)", c.Scenario, c.Pubs, c.Subs)
		}
		if c.Filter == "" {
			c.Filter = c.Topic // each pair's subscriber takes its publisher's topic
		}
	}
	if c.Scenario == "latency" && c.Rate == 0 && c.TotalRate == 0 {
		c.TotalRate = 1000
	}
	if c.TotalRate > 0 && c.Pubs > 0 {
		c.Rate = c.TotalRate / float64(c.Pubs)
	}
	if c.Duration == 0 && (c.Count == 0 || c.Pubs == 0 || c.Scenario == "retained") {
		c.Duration = 10 * time.Second
	}
	if c.KeepAlive == 0 {
		c.KeepAlive = 60
	}
	if c.Inflight == 0 {
		c.Inflight = 64
	}
	if c.Inflight < 1 || c.Inflight > 32768 {
		return c, fmt.Errorf("in-flight window %d: want 1 to 32768", c.Inflight)
	}
	if c.Batch <= 0 {
		c.Batch = 128
	}
	if c.Drain == 0 {
		c.Drain = 2 * time.Second
	}
	if c.ConnectParallel <= 0 {
		c.ConnectParallel = 64
	}
	if c.LiveInterval <= 0 {
		c.LiveInterval = time.Second
	}
	for _, a := range c.LocalAddrs {
		if net.ParseIP(a) == nil {
			return c, fmt.Errorf("source address %q is not an IP address", a)
		}
	}
	if c.run == 0 {
		c.run = uint16(rand.N(0xffff)) + 1
	}
	if c.ClientPrefix == "" {
		c.ClientPrefix = fmt.Sprintf("mb-%04x-", c.run)
	}
	return c, nil
}

// clientID names publisher or subscriber i.
func (c *Config) clientID(role byte, i int) string {
	return c.ClientPrefix + string(role) + strconv.Itoa(i)
}

// Expand replaces %i with the client index and %c with the client id in a
// topic pattern; %% is a literal %.
func Expand(pattern string, index int, clientID string) string {
	if !strings.Contains(pattern, "%") {
		return pattern
	}
	var b strings.Builder
	for i := 0; i < len(pattern); i++ {
		if pattern[i] != '%' || i+1 == len(pattern) {
			b.WriteByte(pattern[i])
			continue
		}
		switch pattern[i+1] {
		case 'i':
			b.WriteString(strconv.Itoa(index))
		case 'c':
			b.WriteString(clientID)
		case '%':
			b.WriteByte('%')
		default:
			b.WriteByte('%')
			b.WriteByte(pattern[i+1])
		}
		i++
	}
	return b.String()
}
