package bridge

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/mastmq/mast/broker"
	"github.com/mastmq/mast/client"
	"github.com/mastmq/mast/packet"
)

// lanes is how many remote publishes of one bridge may wait for their
// acknowledgement at once. A topic always takes the same lane, so
// messages on one topic keep their order (MQTT's ordered topics, 4.6);
// topics on different lanes do not wait for each other's round trips.
const lanes = 8

// Start starts a bridge for each configuration and returns a function
// that stops them all. It fails only for an invalid configuration or an
// unreadable TLS file: a remote broker that cannot be reached is tried
// again in the background, with backoff, for as long as the bridge runs.
// Cancelling ctx stops the bridges too; stop must still be called to wait
// for them.
func Start(ctx context.Context, srv *broker.Server, cfgs []Config, logger *slog.Logger) (stop func(), err error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	names := make(map[string]bool, len(cfgs))
	for i := range cfgs {
		if err := cfgs[i].Validate(); err != nil {
			return nil, fmt.Errorf("bridge %q: %w", cfgs[i].Name, err)
		}
		if names[cfgs[i].Name] {
			return nil, fmt.Errorf("bridge %q: two bridges have this name", cfgs[i].Name)
		}
		names[cfgs[i].Name] = true
	}
	var bs []*bridge
	stopAll := func() {
		var wg sync.WaitGroup
		for _, b := range bs {
			wg.Add(1)
			go func() { defer wg.Done(); b.stop() }()
		}
		wg.Wait()
	}
	for _, c := range cfgs {
		b, err := start(ctx, srv, c, logger)
		if err != nil {
			stopAll()
			return nil, fmt.Errorf("bridge %q: %w", c.Name, err)
		}
		bs = append(bs, b)
	}
	var once sync.Once
	return func() { once.Do(stopAll) }, nil
}

// bridge is one running bridge: a client of the remote broker and an
// internal client of the local one.
type bridge struct {
	cfg    Config
	log    *slog.Logger
	id     string // client id at the remote broker
	v5     bool
	remote *client.Client
	local  *broker.Internal
	echo   *echoes // nil when not needed (MQTT 5 has No Local)
	notify string  // local state topic, "" when off
	seed   maphash.Seed
	lanes  [lanes]chan outItem

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // run and the lanes

	mu sync.Mutex
	up chan struct{} // closed while connected, replaced when the connection is lost
}

// outItem is a local message on its way to the remote broker.
type outItem struct {
	m      *broker.InternalMessage
	remote string // its remote topic
}

func start(parent context.Context, srv *broker.Server, cfg Config, logger *slog.Logger) (*bridge, error) {
	tc, err := cfg.tlsConfig()
	if err != nil {
		return nil, err
	}
	b := &bridge{
		cfg:  cfg,
		log:  logger,
		id:   cfg.clientID(),
		v5:   cfg.version() == packet.Version5,
		seed: maphash.MakeSeed(),
		up:   make(chan struct{}),
	}
	if !cfg.NoNotifications {
		b.notify = "$SYS/broker/connection/" + b.id + "/state"
	}
	var hasIn, hasOut bool
	for i := range cfg.Topics {
		hasIn = hasIn || cfg.Topics[i].in()
		hasOut = hasOut || cfg.Topics[i].out()
	}
	if hasIn && hasOut && !b.v5 {
		b.echo = newEchoes()
	}
	opts := client.Options{
		Servers:          []string{cfg.Address},
		ClientID:         b.id,
		Username:         cfg.Username,
		Version:          cfg.version(),
		KeepAlive:        cfg.KeepAlive,
		CleanStart:       cfg.CleanSession,
		TLSConfig:        tc,
		AutoReconnect:    true,
		MinBackoff:       cfg.ReconnectMin,
		MaxBackoff:       cfg.ReconnectMax,
		OfflineBuffer:    2 * lanes, // never full: a lane waits for its one publish
		OnConnect:        b.onConnect,
		OnConnectionLost: b.onConnectionLost,
		OnReconnecting:   b.onReconnecting,
		OnMessage:        b.onRemote,
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = time.Second
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = max(30*time.Second, opts.MinBackoff)
	}
	if cfg.Password != "" {
		opts.Password = []byte(cfg.Password)
	}
	if b.v5 && !cfg.CleanSession {
		opts.SessionExpiry = uint32(cfg.SessionExpiry / time.Second) // 0: never expires
	}
	if logger.Enabled(parent, slog.LevelDebug) {
		opts.Logger = func(line string) { logger.Debug("Bridge " + cfg.Name + ": " + line) }
	}
	if b.remote, err = client.New(opts); err != nil {
		return nil, err
	}
	if b.local, err = srv.NewInternal("bridge:"+cfg.Name, b.onLocal); err != nil {
		return nil, err
	}
	b.ctx, b.cancel = context.WithCancel(parent)
	b.setState("0")
	for i := range b.lanes {
		b.lanes[i] = make(chan outItem, 64)
		b.wg.Add(1)
		go b.lane(b.lanes[i])
	}
	// Local subscriptions first: what is published locally from now on
	// waits in the bridge's session until the remote broker takes it.
	for i := range cfg.Topics {
		t := &cfg.Topics[i]
		if !t.out() {
			continue
		}
		if err := b.local.Subscribe(t.LocalFilter(), t.QoS, true); err != nil {
			b.cancel()
			b.wg.Wait()
			b.local.Close()
			return nil, fmt.Errorf("local subscription %q: %w", t.LocalFilter(), err)
		}
	}
	b.wg.Add(1)
	go b.run()
	return b, nil
}

// run connects, retrying with backoff until the first connection is up
// (after that the client reconnects by itself), then subscribes remotely.
func (b *bridge) run() {
	defer b.wg.Done()
	for attempt := 1; ; attempt++ {
		b.log.Info(fmt.Sprintf("Connecting bridge %s (%s)", b.cfg.Name, b.cfg.Address))
		_, err := b.remote.Connect(b.ctx)
		if err == nil {
			break
		}
		if b.ctx.Err() != nil {
			return
		}
		wait := b.backoff(attempt)
		b.log.Warn(fmt.Sprintf("Bridge %s could not connect to %s, retrying in %v: %v", b.cfg.Name, b.cfg.Address, wait.Round(time.Millisecond), err))
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-b.ctx.Done():
			t.Stop()
			return
		}
	}
	b.subscribeRemote()
}

// backoff is the wait after failed attempt n, as the client's: doubling
// from ReconnectMin to ReconnectMax, then a random point in its upper
// half.
func (b *bridge) backoff(n int) time.Duration {
	lo, hi := b.cfg.ReconnectMin, b.cfg.ReconnectMax
	if lo <= 0 {
		lo = time.Second
	}
	if hi <= 0 {
		hi = max(30*time.Second, lo)
	}
	d := lo
	for i := 1; i < n && d < hi; i++ {
		d *= 2
	}
	d = min(d, hi)
	return d/2 + rand.N(d/2+1)
}

// subscribeRemote subscribes to the remote filters of the In and Both
// topics, once: the client renews them itself when a reconnect finds the
// session gone. It retries while the connection comes and goes.
func (b *bridge) subscribeRemote() {
	var subs []packet.Subscription
	index := map[string]int{}
	for i := range b.cfg.Topics {
		t := &b.cfg.Topics[i]
		if !t.in() {
			continue
		}
		f := t.RemoteFilter()
		if j, ok := index[f]; ok {
			subs[j].QoS = max(subs[j].QoS, t.QoS)
			continue
		}
		index[f] = len(subs)
		// No Local: the remote broker does not send back what the bridge
		// published there. Retain As Published: a live retained message
		// stays retained here too.
		subs = append(subs, packet.Subscription{Filter: f, QoS: t.QoS, NoLocal: b.v5, RetainAsPublished: b.v5})
	}
	if len(subs) == 0 {
		return
	}
	for {
		// Handler nil: messages go to OnMessage, which also gets those a
		// resumed session delivers before any SUBACK.
		_, err := b.remote.SubscribeWith(b.ctx, &client.SubscribeRequest{Subscriptions: subs})
		if b.ctx.Err() != nil {
			return
		}
		var re *client.ReasonError
		switch {
		case err == nil:
			var b2 strings.Builder
			for i, s := range subs {
				if i > 0 {
					b2.WriteString(", ")
				}
				fmt.Fprintf(&b2, "%s (QoS %d)", s.Filter, s.QoS)
			}
			b.log.Info(fmt.Sprintf("Bridge %s subscribed remotely to %s", b.cfg.Name, b2.String()))
			return
		case errors.As(err, &re):
			// The granted ones stand.
			b.log.Error(fmt.Sprintf("Bridge %s: the remote broker refused a subscription: %v", b.cfg.Name, err))
			return
		}
		b.waitUp()
	}
}

// waitUp waits until the remote connection is up, after an operation
// failed for the want of one.
func (b *bridge) waitUp() {
	b.mu.Lock()
	up := b.up
	b.mu.Unlock()
	select {
	case <-up:
		// Up already, or about to be told it is down: do not spin.
		t := time.NewTimer(100 * time.Millisecond)
		defer t.Stop()
		select {
		case <-t.C:
		case <-b.ctx.Done():
		}
	case <-b.ctx.Done():
	}
}

func (b *bridge) onConnect(_ *client.Client, ack *packet.Connack) {
	b.mu.Lock()
	select {
	case <-b.up:
	default:
		close(b.up)
	}
	b.mu.Unlock()
	b.log.Info(fmt.Sprintf("Bridge %s connected to %s as %s (%s, c%d, session present %d).",
		b.cfg.Name, b.cfg.Address, b.id, protoTag(b.cfg.version()), b2i(b.cfg.CleanSession), b2i(ack.SessionPresent)))
	b.setState("1")
}

func (b *bridge) onConnectionLost(_ *client.Client, err error) {
	b.mu.Lock()
	select {
	case <-b.up:
		b.up = make(chan struct{})
	default:
	}
	b.mu.Unlock()
	b.log.Warn(fmt.Sprintf("Bridge %s disconnected from %s: %v", b.cfg.Name, b.cfg.Address, err))
	b.setState("0")
}

func (b *bridge) onReconnecting(_ *client.Client, attempt int) {
	b.log.Info(fmt.Sprintf("Connecting bridge %s (%s), attempt %d", b.cfg.Name, b.cfg.Address, attempt))
}

// setState publishes the retained local notification.
func (b *bridge) setState(v string) {
	if b.notify == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := b.local.Publish(ctx, &broker.InternalMessage{Topic: b.notify, Payload: []byte(v), QoS: 1, Retain: true})
	if err != nil && !errors.Is(err, broker.ErrInternalClosed) && !errors.Is(err, broker.ErrServerClosed) {
		b.log.Warn("Bridge "+b.cfg.Name+": state notification not published", "err", err)
	}
}

// onRemote takes a message from the remote broker, on the client's
// delivery goroutine: it is published locally, and the client
// acknowledges it to the remote broker once this returns, so a QoS 1/2
// message is acknowledged only once the local broker holds it.
func (b *bridge) onRemote(_ *client.Client, m *client.Message) {
	local, ok := mapIn(b.cfg.Topics, m.Topic)
	if !ok {
		b.log.Debug("Bridge "+b.cfg.Name+": remote message matches no in topic", "topic", m.Topic)
		return
	}
	if b.echo != nil && b.echo.take(m.Topic, m.Payload) {
		return // our own message, back from a broker without No Local
	}
	im := &broker.InternalMessage{Topic: local, Payload: m.Payload, QoS: m.QoS, Retain: m.Retain}
	if b.v5 {
		im.Properties = m.Properties
	}
	if err := b.local.Publish(b.ctx, im); err != nil && b.ctx.Err() == nil {
		b.log.Warn("Bridge "+b.cfg.Name+": remote message not published locally", "topic", local, "err", err)
	}
}

// onLocal takes a local message, on the internal client's goroutine, and
// hands it to its topic's lane.
func (b *bridge) onLocal(m *broker.InternalMessage) {
	remote, ok := mapOut(b.cfg.Topics, m.Topic)
	if !ok {
		m.Ack()
		return
	}
	l := b.lanes[maphash.String(b.seed, m.Topic)%lanes]
	select {
	case l <- outItem{m, remote}:
	case <-b.ctx.Done():
	}
}

func (b *bridge) lane(ch chan outItem) {
	defer b.wg.Done()
	for {
		select {
		case it := <-ch:
			b.forward(it)
		case <-b.ctx.Done():
			return
		}
	}
}

// forward publishes one local message remotely and acknowledges it
// locally once the remote broker has (PUBACK, PUBCOMP), trying again
// across reconnections. QoS 0 messages are dropped while the remote
// broker is unreachable, as Mosquitto does.
func (b *bridge) forward(it outItem) {
	m := it.m
	msg := &client.Message{Topic: it.remote, Payload: m.Payload, QoS: m.QoS, Retain: m.Retain}
	if b.v5 {
		msg.Properties = m.Properties
		msg.Properties.SubscriptionIDs = nil
		msg.Properties.Clear(packet.PropTopicAlias)
	}
	echo := b.echo != nil && subscribedIn(b.cfg.Topics, it.remote)
	for {
		if m.QoS == 0 && !b.remote.IsConnected() {
			break
		}
		if echo {
			b.echo.expect(it.remote, m.Payload)
		}
		err := b.remote.Publish(b.ctx, msg)
		if err == nil {
			break
		}
		if b.ctx.Err() != nil {
			return // stopping: not acknowledged
		}
		if errors.Is(err, client.ErrNotConnected) {
			if echo {
				b.echo.take(it.remote, m.Payload) // surely not sent
			}
			b.waitUp()
			continue
		}
		if errors.Is(err, client.ErrConnectionLost) || errors.Is(err, client.ErrSessionLost) {
			// Maybe delivered, maybe not: at least once, so again.
			b.waitUp()
			continue
		}
		b.log.Warn("Bridge "+b.cfg.Name+": message not forwarded", "topic", it.remote, "qos", m.QoS, "err", err)
		break
	}
	m.Ack()
}

// stop disconnects from the remote broker and ends the local side. QoS
// 1/2 messages the remote broker has not acknowledged are not
// acknowledged locally either, and go with the bridge's session.
func (b *bridge) stop() {
	b.cancel()
	b.wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	up := b.remote.IsConnected()
	if err := b.remote.Disconnect(ctx); err == nil && up {
		b.log.Info(fmt.Sprintf("Bridge %s disconnected from %s.", b.cfg.Name, b.cfg.Address))
	}
	b.setState("0")
	b.local.Close()
	b.log.Info("Bridge " + b.cfg.Name + " stopped.")
}

// protoTag is Mosquitto's p1/p2/p5 notation for a protocol level.
func protoTag(v byte) string {
	switch v {
	case packet.Version31:
		return "p1"
	case packet.Version311:
		return "p2"
	}
	return "p5"
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
