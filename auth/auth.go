package auth

import (
	"context"
	"crypto/x509"
	"errors"
	"net"
)

// Client is what the broker knows of a client when it asks.
type Client struct {
	ClientID string
	Username string // after use_identity_as_username, if set
	// HasUsername tells an empty username from none.
	HasUsername bool
	Password    []byte // only during Authenticate; never logged
	HasPassword bool
	Remote      net.Addr
	Listener    string            // the listener's address as configured
	Certificate *x509.Certificate // the verified client certificate, if any
	Version     byte              // protocol level 3, 4 or 5
}

// Errors an Authenticator returns. The broker maps them to CONNACK codes:
// ErrBadCredentials to 0x86 (v5) / 0x04 (3.1.1), ErrNotAuthorized to 0x87
// / 0x05; any other error to 0x88 server unavailable / 0x03.
var (
	ErrBadCredentials = errors.New("auth: bad user name or password")
	ErrNotAuthorized  = errors.New("auth: not authorized")
)

// Authenticator decides whether a client may connect.
type Authenticator interface {
	Authenticate(ctx context.Context, c *Client) error
}

// Access is what a client wants to do with a topic.
type Access byte

const (
	// Read: receive a message published on the topic (checked for each
	// delivery, so that a wildcard subscription cannot reach a topic the
	// client may not read).
	Read Access = 1 << iota
	// Write: publish on the topic.
	Write
	// Subscribe: subscribe with the filter (the topic argument is the
	// filter, wildcards included).
	Subscribe
)

func (a Access) String() string {
	switch a {
	case Read:
		return "read"
	case Write:
		return "write"
	case Subscribe:
		return "subscribe"
	}
	return "access?"
}

// Authorizer decides whether a connected client may act on a topic. It is
// called on hot paths (every delivery, with read), so implementations must
// be fast and must not block; an HTTP-backed one caches.
type Authorizer interface {
	Allow(c *Client, topic string, access Access) bool
}

// AllowAll lets every client in and allows everything: anonymous access
// where the configuration says so.
type AllowAll struct{}

// Authenticate always succeeds.
func (AllowAll) Authenticate(context.Context, *Client) error { return nil }

// Allow always allows.
func (AllowAll) Allow(*Client, string, Access) bool { return true }
