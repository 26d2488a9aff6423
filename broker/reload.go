package broker

import "github.com/mastmq/mast/auth"

// What a reload changes in a running server: the auth rules, server-wide
// and per listener, and the limits.

// authPair is the Authenticator and Authorizer in force.
type authPair struct {
	authn auth.Authenticator
	authz auth.Authorizer
}

// SetAuth replaces the Authenticator and Authorizer (a reload of password
// and ACL files); nil allows everyone and everything. Connected clients
// stay connected; their next actions are checked against the new rules.
func (s *Server) SetAuth(authn auth.Authenticator, authz auth.Authorizer) {
	s.auth.Store(&authPair{authn, authz})
}

// SetListenerAuth replaces the per-listener Authenticator and Authorizer
// of the listener served with lo (a reload). nil falls back to the
// server's.
func (s *Server) SetListenerAuth(lo *ListenerOptions, authn auth.Authenticator, authz auth.Authorizer) {
	lo.auth.Store(&authPair{authn, authz})
	s.hasListenerAuth.Store(true)
}

// authFor is the Authenticator and Authorizer for clients of a listener:
// its own when it has them, otherwise the server's.
func (s *Server) authFor(lo *ListenerOptions) *authPair {
	if lo != nil {
		if p := lo.auth.Load(); p != nil {
			return p
		}
	}
	return s.auth.Load()
}

// lim returns the options in force, limits included.
func (s *Server) lim() *Options { return s.limits.Load() }

// SetLimits applies the limits and protocol settings of o (packet sizes,
// in-flight and queue bounds, connection caps and rates, topic limits,
// publish rate, keep alive and session expiry caps, QoS and retain
// availability, $SYS interval) to a running server: new connections get
// them all, connected clients from their next action on (the values a v5
// client was told in CONNACK stay what it was told). The store, logger,
// observer and auth are not changed here.
func (s *Server) SetLimits(o Options) {
	o = o.Defaults()
	cur := *s.lim()
	cur.MaxPacketSize, cur.ReceiveMaximum, cur.MaxInflight, cur.MaxQueued = o.MaxPacketSize, o.ReceiveMaximum, o.MaxInflight, o.MaxQueued
	cur.QueueQoS0, cur.MaxOutboundBytes, cur.TopicAliasMaximum = o.QueueQoS0, o.MaxOutboundBytes, o.TopicAliasMaximum
	cur.MaxKeepAlive, cur.MaxSessionExpiry, cur.MaxQoS, cur.DisableRetain = o.MaxKeepAlive, o.MaxSessionExpiry, o.MaxQoS, o.DisableRetain
	cur.DisallowEmptyClientID, cur.ConnectTimeout, cur.SysInterval = o.DisallowEmptyClientID, o.ConnectTimeout, o.SysInterval
	cur.MaxMessageSize, cur.MaxConnections, cur.ConnectionRate = o.MaxMessageSize, o.MaxConnections, o.ConnectionRate
	cur.MaxSubscriptions, cur.MaxTopicLength, cur.MaxTopicLevels = o.MaxSubscriptions, o.MaxTopicLength, o.MaxTopicLevels
	cur.PublishRate, cur.PublishBurst, cur.WriteTimeout = o.PublishRate, o.PublishBurst, o.WriteTimeout
	s.limits.Store(&cur)
}
