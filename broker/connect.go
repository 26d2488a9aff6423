package broker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/mastmq/mast/auth"
	"github.com/mastmq/mast/packet"
	"github.com/mastmq/mast/store"
	"github.com/mastmq/mast/topic"
)

// refuseVersion answers a CONNECT of a protocol level we do not speak with
// CONNACK 0x01 in the 3.1.1 format and closes [MQTT-3.1.2-2].
func (c *conn) refuseVersion(cp *packet.Connect) {
	c.srv.log.Info("unsupported protocol version; refusing", "remote", c.remote, "version", cp.Version, "name", cp.ProtocolName)
	c.version = packet.Version311
	c.enqueue(&packet.Connack{ReasonCode: packet.ConnRefusedVersion})
}

// refuse sends a CONNACK that refuses the connection; the caller closes.
// v3 is the 3.1.1 return code, v5 the v5 reason code.
func (c *conn) refuse(v3, v5 byte, why string) bool {
	c.srv.log.Info("connection refused: "+why, "client", c.clientID, "remote", c.remote)
	code := v3
	if c.version == packet.Version5 {
		code = v5
	}
	c.enqueue(&packet.Connack{ReasonCode: code}) // [MQTT-3.2.2-6] no session present on refusal
	return false
}

// handleConnect validates CONNECT, attaches a session and sends CONNACK.
// It returns false when the connection is refused.
func (c *conn) handleConnect(p *packet.Connect) bool {
	s := c.srv
	c.version = p.Version
	c.username = p.Username
	c.connectedAt = time.Now()
	c.srv.stats.packetsInByType[packet.CONNECT].Add(1)

	id := p.ClientID
	assigned := false
	if id == "" {
		// An empty id needs a clean session in 3.1.1 [MQTT-3.1.3-7]
		// [MQTT-3.1.3-8]; 3.1 has no empty ids; v5 gets an id assigned
		// [MQTT-3.1.3-6].
		if s.lim().DisallowEmptyClientID || p.Version == packet.Version31 ||
			(p.Version == packet.Version311 && !p.CleanStart) {
			return c.refuse(packet.ConnRefusedIdentifier, packet.ClientIDNotValid, "empty client id not allowed")
		}
		id = s.newClientID()
		assigned = true
	}
	c.clientID = id

	if !c.authenticate(p) {
		return false
	}

	if p.Version == packet.Version5 && p.Properties.Has(packet.PropAuthMethod) {
		// No enhanced authentication method is supported [MQTT-4.12.0-1].
		return c.refuse(packet.ConnRefusedNotAuthorized, packet.BadAuthMethod, "unsupported authentication method "+p.Properties.AuthMethod)
	}

	will, willDelay, ok := c.connectWill(p)
	if !ok {
		return false
	}

	expiry := uint32(0)
	if p.Version == packet.Version5 {
		expiry = p.Properties.SessionExpiry // absent means 0 (§3.1.2)
	} else if !p.CleanStart {
		expiry = neverExpire
	}
	granted := s.capExpiry(expiry)

	ack := &packet.Connack{ReasonCode: packet.Success}
	keepAlive := p.KeepAlive
	if p.Version == packet.Version5 {
		c.problemInfo = !p.Properties.Has(packet.PropRequestProblemInfo) || p.Properties.RequestProblemInfo == 1
		if max := s.lim().MaxKeepAlive; max > 0 && (keepAlive == 0 || keepAlive > max) {
			keepAlive = max // [MQTT-3.2.2-21]
			ack.Properties.ServerKeepAlive = max
			ack.Properties.Set(packet.PropServerKeepAlive)
		}
		if p.Properties.Has(packet.PropMaximumPacketSize) {
			c.maxOut = p.Properties.MaximumPacketSize
		}
		if p.Properties.Has(packet.PropTopicAliasMaximum) {
			c.aliasMaxOut = p.Properties.TopicAliasMaximum
		}
		c.fillConnackProps(ack, assigned, expiry != granted, granted)
	}
	c.keepAlive = time.Duration(keepAlive) * time.Second

	quota := s.lim().MaxInflight
	if p.Version == packet.Version5 && p.Properties.Has(packet.PropReceiveMaximum) {
		quota = min(quota, int(p.Properties.ReceiveMaximum)) // [MQTT-3.3.4-9]
	}

	var replay func(func(RemoteMessage))
	if s.keeper != nil {
		if replay, ok = c.claim(p.CleanStart, granted); !ok {
			return false
		}
	}

	c.logConnect(p, will)
	s.attach(c, p.CleanStart, granted, will, willDelay, quota, ack)
	if a, ok := s.opts.Remote.(Announcer); ok {
		a.Connected(c.clientID, c.connectedAt)
	}
	if replay != nil {
		replay(func(m RemoteMessage) { s.deliverTo(c.clientID, m) })
	}
	return true
}

// authenticate asks the Authenticator whether the client may connect and
// refuses it with the matching CONNACK code if not. The password is
// dropped afterwards and never logged.
func (c *conn) authenticate(p *packet.Connect) bool {
	c.authClient = &auth.Client{
		ClientID:    c.clientID,
		Username:    p.Username,
		HasUsername: p.UsernameFlag,
		Remote:      c.nc.RemoteAddr(),
		Version:     p.Version,
	}
	identified := false
	if lo := c.lopts; lo != nil {
		c.authClient.Listener = lo.Name
		if lo.Identity != nil {
			ctx, cancel := context.WithTimeout(context.Background(), c.srv.opts.AuthTimeout)
			cert, name, err := lo.Identity(ctx, c.nc)
			cancel()
			if err != nil {
				c.srv.stats.authFailures.Add(1)
				return c.refuse(packet.ConnRefusedNotAuthorized, packet.NotAuthorized, "client certificate: "+err.Error())
			}
			c.authClient.Certificate = cert
			if name != "" {
				// The certificate is the credential: its identity is the
				// user name, and no password is asked for.
				c.authClient.Username, c.authClient.HasUsername = name, true
				c.username = name
				identified = true
			}
		}
	}
	a := c.srv.authFor(c.lopts).authn
	if a == nil || identified {
		return true
	}
	if l := c.srv.opts.AuthFailures; l != nil {
		// An address that keeps failing waits longer each time before
		// its password is even looked at, however many connections it
		// opens at once.
		time.Sleep(l.Delay(c.nc.RemoteAddr()))
	}
	c.authClient.Password = p.Password
	c.authClient.HasPassword = p.PasswordFlag
	ctx, cancel := context.WithTimeout(context.Background(), c.srv.opts.AuthTimeout)
	err := a.Authenticate(ctx, c.authClient)
	cancel()
	c.authClient.Password = nil
	c.authClient.HasPassword = false
	if l := c.srv.opts.AuthFailures; l != nil {
		if err == nil {
			l.Success(c.nc.RemoteAddr())
		} else if errors.Is(err, auth.ErrBadCredentials) || errors.Is(err, auth.ErrNotAuthorized) {
			l.Failure(c.nc.RemoteAddr())
		}
	}
	switch {
	case err == nil:
		return true
	case errors.Is(err, auth.ErrBadCredentials):
		c.srv.stats.authFailures.Add(1)
		return c.refuse(packet.ConnRefusedBadCredentials, packet.BadUsernameOrPassword, "bad user name or password for user '"+p.Username+"' from "+c.remote)
	case errors.Is(err, auth.ErrNotAuthorized):
		c.srv.stats.authFailures.Add(1)
		return c.refuse(packet.ConnRefusedNotAuthorized, packet.NotAuthorized, "not authorized")
	default:
		c.srv.log.Error("authentication failed", "client", c.clientID, "remote", c.remote, "err", err)
		return c.refuse(packet.ConnRefusedUnavailable, packet.ServerUnavailable, "authentication unavailable")
	}
}

// connectWill validates and builds the will message of a CONNECT.
func (c *conn) connectWill(p *packet.Connect) (*message, uint32, bool) {
	if !p.WillFlag {
		return nil, 0, true
	}
	s := c.srv
	if err := topic.ValidateName(p.WillTopic); err != nil {
		return nil, 0, c.refuse(packet.ConnRefusedIdentifier, packet.TopicNameInvalid, "invalid will topic: "+err.Error())
	}
	if err := s.checkTopicLimits(p.WillTopic); err != nil {
		return nil, 0, c.refuse(packet.ConnRefusedIdentifier, packet.TopicNameInvalid, "will topic refused: "+err.Error())
	}
	if p.WillQoS > s.lim().MaxQoS {
		return nil, 0, c.refuse(packet.ConnRefusedUnavailable, packet.QoSNotSupported, "will QoS not supported") // [MQTT-3.2.2-12]
	}
	if az := s.authFor(c.lopts).authz; (az != nil && !az.Allow(c.authClient, p.WillTopic, auth.Write)) || reservedTopic(p.WillTopic) {
		// As Mosquitto does: the client may connect, but a will it may
		// not publish is dropped.
		s.stats.denied.Add(1)
		s.log.Info("will topic not authorized; the will is dropped", "client", c.clientID, "topic", p.WillTopic)
		return nil, 0, true
	}
	if p.WillRetain && s.lim().DisableRetain {
		return nil, 0, c.refuse(packet.ConnRefusedUnavailable, packet.RetainNotSupported, "retained will not supported") // [MQTT-3.2.2-13]
	}
	m := &message{
		topic:     p.WillTopic,
		payload:   p.WillPayload,
		qos:       p.WillQoS,
		retain:    p.WillRetain,
		publisher: c.clientID,
	}
	var delay uint32
	if p.Version == packet.Version5 {
		wp := &p.WillProperties
		m.props = forwardedProps(wp)
		if wp.Has(packet.PropMessageExpiry) {
			// The expiry of a will runs from when it is published; stored
			// as an interval here and turned into a deadline then.
			m.expiryInterval = wp.MessageExpiry
		}
		if wp.Has(packet.PropWillDelay) {
			delay = wp.WillDelay
		}
	}
	m.size = messageSize(m)
	return m, delay, true
}

// fillConnackProps sets the v5 server capabilities in CONNACK.
func (c *conn) fillConnackProps(ack *packet.Connack, assigned, capped bool, expiry uint32) {
	o := &c.srv.opts
	pr := &ack.Properties
	if assigned {
		pr.AssignedClientID = c.clientID // [MQTT-3.2.2-16]
		pr.Set(packet.PropAssignedClientID)
	}
	if capped {
		pr.SessionExpiry = expiry
		pr.Set(packet.PropSessionExpiry)
	}
	pr.ReceiveMaximum = o.ReceiveMaximum
	pr.Set(packet.PropReceiveMaximum)
	if o.MaxQoS < 2 {
		pr.MaximumQoS = o.MaxQoS
		pr.Set(packet.PropMaximumQoS)
	}
	if o.DisableRetain {
		pr.RetainAvailable = 0
		pr.Set(packet.PropRetainAvailable)
	}
	pr.MaximumPacketSize = o.MaxPacketSize
	pr.Set(packet.PropMaximumPacketSize)
	if o.TopicAliasMaximum > 0 {
		pr.TopicAliasMaximum = o.TopicAliasMaximum
		pr.Set(packet.PropTopicAliasMaximum)
	}
	pr.WildcardSubAvailable = 1
	pr.Set(packet.PropWildcardSubAvailable)
	pr.SubIDAvailable = 1
	pr.Set(packet.PropSubIDAvailable)
	pr.SharedSubAvailable = 1
	pr.Set(packet.PropSharedSubAvailable)
}

func (s *Server) capExpiry(e uint32) uint32 {
	if s.lim().MaxSessionExpiry > 0 && e > s.lim().MaxSessionExpiry {
		return s.lim().MaxSessionExpiry
	}
	return e
}

// attach binds the connection to its session: it takes over a connected
// client id [MQTT-3.1.4-3], starts a new session or resumes the existing
// one [MQTT-3.1.2-4] [MQTT-3.1.2-5], sends CONNACK and then resends what
// was in flight.
func (s *Server) attach(c *conn, clean bool, expiry uint32, will *message, willDelay uint32, quota int, ack *packet.Connack) {
	{
		sess := s.lockIdle(c.clientID, "session taken over by a new connection")
		var fire []*message
		var orphans []delivery
		if sess != nil && clean {
			fire, orphans = s.endSessionLocked(sess)
			sess = nil
		}
		present := sess != nil
		if sess == nil {
			sess = newSession(s, c.clientID)
			s.sessions[c.clientID] = sess
		} else if !sess.willAt.IsZero() {
			// A delayed will is not sent if the session resumes in time
			// [MQTT-3.1.3-9].
			delete(s.wills, sess)
		}
		sess.mu.Lock()
		wasPersistent := present && sess.persistent()
		sess.willAt = time.Time{}
		sess.conn = c
		sess.client = c.authClient
		sess.lopts = c.lopts
		sess.version = c.version
		sess.expiry = expiry
		sess.expireAt = time.Time{}
		sess.will = will
		sess.willDelay = willDelay
		sess.quota = quota
		c.sess = sess
		// Session present only when an existing session resumes
		// [MQTT-3.2.2-2] [MQTT-3.2.2-3].
		ack.SessionPresent = present
		c.enqueue(ack)
		if present {
			sess.resumeLocked(c)
		}
		var ops []store.Op
		if sess.persistent() {
			ops = append(ops, sess.saveOp())
		} else if wasPersistent {
			ops = append(ops, store.Op{Kind: store.DeleteSession, ClientID: sess.id})
		}
		sess.mu.Unlock()
		s.mu.Unlock()
		if len(ops) > 0 {
			s.journal.submit(ops, false, nil)
		}
		s.stats.clientsTotal.Add(1)
		for _, m := range fire {
			s.publishWill(m)
		}
		s.redispatch(orphans)
		return
	}
}

// lockIdle takes s.mu and returns the client's session (nil when none)
// with no connection: a connected one is closed as a takeover
// [MQTT-3.1.4-3], waiting for its cleanup without a lock held. s.mu is
// held on return.
func (s *Server) lockIdle(id, why string) *session {
	for {
		s.mu.Lock()
		sess := s.sessions[id]
		if sess == nil {
			return nil
		}
		sess.mu.Lock()
		old := sess.conn
		sess.mu.Unlock()
		if old == nil {
			return sess
		}
		s.mu.Unlock()
		old.kick(packet.SessionTakenOver, why)
		<-old.done
	}
}

// detach unbinds a closing connection from its session; the session ends
// now when its expiry is 0, otherwise later. The will is published now,
// scheduled after its delay, or dropped after a normal DISCONNECT
// [MQTT-3.1.2-8] [MQTT-3.1.2-10].
func (s *Server) detach(c *conn) {
	c.endMu.Lock()
	normal := c.normal && !c.kicked
	c.endMu.Unlock()

	s.mu.Lock()
	sess := c.sess
	sess.mu.Lock()
	if sess.conn != c {
		sess.mu.Unlock()
		s.mu.Unlock()
		return
	}
	sess.conn = nil
	orphans := sess.takeSharedLocked()
	expiry := sess.expiry
	now := time.Now()
	if expiry != 0 && expiry != neverExpire {
		sess.expireAt = now.Add(time.Duration(expiry) * time.Second)
	}
	var fire []*message
	if normal {
		sess.will = nil
	} else if sess.will != nil {
		delay := min(sess.willDelay, expiry)
		if delay == 0 {
			fire = append(fire, sess.will)
			sess.will = nil
		} else {
			sess.willAt = now.Add(time.Duration(delay) * time.Second)
			s.wills[sess] = sess.willAt
		}
	}
	var ops []store.Op
	if sess.persistent() {
		ops = append(ops, sess.saveOp())
	}
	sess.mu.Unlock()
	if len(ops) > 0 {
		s.journal.submit(ops, false, nil)
	}
	if expiry == 0 {
		more, moreOrphans := s.endSessionLocked(sess)
		fire = append(fire, more...)
		orphans = append(orphans, moreOrphans...)
	}
	s.mu.Unlock()
	if s.connLogOn() {
		s.connLog("Client " + c.clientID + " disconnected.")
	}
	for _, m := range fire {
		s.publishWill(m)
	}
	s.redispatch(orphans)
}

// endSessionLocked removes a session and its subscriptions. It returns a
// pending will, which is due when the session ends, and shared messages to
// hand to other group members. s.mu is held.
func (s *Server) endSessionLocked(sess *session) ([]*message, []delivery) {
	sess.mu.Lock()
	sess.ended = true
	var fire []*message
	if sess.will != nil && !sess.willAt.IsZero() && !sess.handedOff {
		fire = append(fire, sess.will)
	}
	sess.will = nil
	sess.willAt = time.Time{}
	orphans := sess.takeSharedLocked()
	filters := make([]string, 0, len(sess.subs))
	for f := range sess.subs {
		filters = append(filters, f)
	}
	sess.subs = map[string]subOptions{}
	sess.nsubs.Store(0)
	sess.queue = nil
	sess.out = map[uint16]*delivery{}
	sess.order = nil
	sess.sending = 0
	persisted := s.journal != nil && sess.expiry > 0
	handedOff := sess.handedOff
	sess.mu.Unlock()
	switch {
	case persisted && handedOff:
		s.journal.submitLocal([]store.Op{{Kind: store.DeleteSession, ClientID: sess.id}})
	case persisted:
		s.journal.submit([]store.Op{{Kind: store.DeleteSession, ClientID: sess.id}}, false, nil)
	}
	delete(s.wills, sess)
	for _, f := range filters {
		s.removeSub(sess.id, f)
	}
	if s.sessions[sess.id] == sess {
		delete(s.sessions, sess.id)
	}
	return fire, orphans
}

// publishWill routes a will message as if its client had published it.
func (s *Server) publishWill(m *message) {
	if m.expiryInterval > 0 {
		m.expiry = time.Now().Add(time.Duration(m.expiryInterval) * time.Second)
	}
	if s.verbose {
		s.log.Debug(fmt.Sprintf("Sending will message of %s to '%s'.", m.publisher, m.topic))
	}
	s.publish(m, nil, nil)
}
