package listener

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"sync/atomic"
)

// TLS configures a TLS listener. The names follow Mosquitto's listener
// options (certfile, keyfile, cafile, require_certificate, ...).
type TLS struct {
	// CertFile and KeyFile are the PEM server certificate (chain) and its
	// private key. Both are required.
	CertFile string
	KeyFile  string
	// CAFile holds the PEM CA certificates that client certificates are
	// verified against. Needed when RequireCertificate is set.
	CAFile string
	// RequireCertificate makes every client present a certificate signed
	// by a CA in CAFile; the handshake fails otherwise. Without it no
	// client certificate is asked for, as in Mosquitto.
	RequireCertificate bool
	// UseIdentityAsUsername takes the client certificate's Common Name as
	// the MQTT user name; UseSubjectAsUsername takes its whole subject
	// ("CN=dev1,OU=Sensors,O=Example"). Both need RequireCertificate; the
	// identity wins when both are set. With either, the password file is
	// not consulted for this listener.
	UseIdentityAsUsername bool
	UseSubjectAsUsername  bool
	// MinVersion is the lowest TLS version accepted: "1.2" (the default,
	// also when empty) or "1.3".
	MinVersion string
}

// Validate checks the settings without reading the files.
func (t *TLS) Validate() error {
	if t.CertFile == "" || t.KeyFile == "" {
		return errors.New("tls: a certificate file and a key file are both needed")
	}
	if _, err := t.minVersion(); err != nil {
		return err
	}
	if t.RequireCertificate && t.CAFile == "" {
		return errors.New("tls: require_certificate needs a CA file to verify client certificates against")
	}
	if (t.UseIdentityAsUsername || t.UseSubjectAsUsername) && !t.RequireCertificate {
		return errors.New("tls: use_identity_as_username and use_subject_as_username need require_certificate " +
			"(without a client certificate there is no identity, and every client would be refused)")
	}
	return nil
}

func (t *TLS) minVersion() (uint16, error) {
	switch t.MinVersion {
	case "", "1.2":
		return tls.VersionTLS12, nil
	case "1.3":
		return tls.VersionTLS13, nil
	}
	return 0, fmt.Errorf("tls: minimum version %q is not 1.2 or 1.3", t.MinVersion)
}

// ServerConfig reads the certificate, key and CA files and returns the
// tls.Config they describe. It is what a listener uses for new handshakes,
// and lets a configuration checker test the files without listening.
func (t *TLS) ServerConfig() (*tls.Config, error) {
	if err := t.Validate(); err != nil {
		return nil, err
	}
	min, _ := t.minVersion()
	cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("tls: certificate %s with key %s: %w", t.CertFile, t.KeyFile, err)
	}
	if cert.Leaf == nil && len(cert.Certificate) > 0 {
		cert.Leaf, _ = x509.ParseCertificate(cert.Certificate[0])
	}
	c := &tls.Config{
		MinVersion:   min,
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.NoClientCert,
	}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("tls: CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls: CA file %s holds no PEM certificate", t.CAFile)
		}
		c.ClientCAs = pool
	}
	if t.RequireCertificate {
		c.ClientAuth = tls.RequireAndVerifyClientCert
	}
	// Fresh session ticket keys with every load, so that a session
	// resumed after a reload was verified against the files now in force.
	var key [32]byte
	if _, err := rand.Read(key[:]); err != nil {
		return nil, fmt.Errorf("tls: session ticket key: %w", err)
	}
	c.SetSessionTicketKeys([][32]byte{key})
	return c, nil
}

// Username gives the MQTT user name a verified client certificate stands
// for under UseIdentityAsUsername or UseSubjectAsUsername, and whether
// there is one. A certificate without a Common Name gives none under
// UseIdentityAsUsername; the client should then be refused, as Mosquitto
// does.
func (t *TLS) Username(cert *x509.Certificate) (string, bool) {
	if cert == nil {
		return "", false
	}
	switch {
	case t.UseIdentityAsUsername:
		return cert.Subject.CommonName, cert.Subject.CommonName != ""
	case t.UseSubjectAsUsername:
		// RFC 2253 order, as Mosquitto prints it: "CN=x,OU=y,O=z,C=GB".
		s := cert.Subject.String()
		return s, s != ""
	}
	return "", false
}

// Reloader is a listener whose certificates can be read again without
// closing it: TLS listeners. Connections already made keep the
// certificates they were made with; new handshakes use the new ones.
type Reloader interface {
	Reload() error
}

// TLSListener is the listener Listen returns for a TLS configuration. Its
// Accept returns *tls.Conn (the handshake runs on the first Read or
// Write, or on an explicit Handshake).
type TLSListener struct {
	inner net.Listener
	conf  TLS
	cur   atomic.Pointer[tls.Config]
	base  *tls.Config
}

// NewTLSListener serves TLS over inner with the files named in t.
func NewTLSListener(inner net.Listener, t TLS) (*TLSListener, error) {
	c, err := t.ServerConfig()
	if err != nil {
		return nil, err
	}
	return newTLSListener(inner, t, c), nil
}

func newTLSListener(inner net.Listener, t TLS, c *tls.Config) *TLSListener {
	l := &TLSListener{inner: inner, conf: t}
	l.cur.Store(c)
	l.base = &tls.Config{
		MinVersion: c.MinVersion,
		// Each handshake takes the configuration in force when it starts,
		// so Reload never disturbs a handshake already under way.
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return l.cur.Load(), nil
		},
	}
	return l
}

// Accept waits for the next connection and wraps it in TLS.
func (l *TLSListener) Accept() (net.Conn, error) {
	c, err := l.inner.Accept()
	if err != nil {
		return nil, err
	}
	return tls.Server(c, l.base), nil
}

// Close stops listening; connections already accepted stay open.
func (l *TLSListener) Close() error { return l.inner.Close() }

// Addr is the address listened on.
func (l *TLSListener) Addr() net.Addr { return l.inner.Addr() }

// TLS returns the settings the listener was made with.
func (l *TLSListener) TLS() TLS { return l.conf }

// Reload reads the certificate, key and CA files again. New handshakes
// use them; open connections are not touched. On error the files in force
// stay in force and the error says what is wrong with the new ones.
func (l *TLSListener) Reload() error {
	c, err := l.conf.ServerConfig()
	if err != nil {
		return err
	}
	l.cur.Store(c)
	return nil
}

// Certificate is the server certificate new handshakes present.
func (l *TLSListener) Certificate() *x509.Certificate {
	return l.cur.Load().Certificates[0].Leaf
}

// PeerCertificate completes the TLS handshake of a connection accepted
// from a TLS listener (bounded by ctx) and returns the client certificate
// it verified, or nil when the client presented none or the connection is
// not TLS. Call it before reading from the connection, or after: a
// handshake already done is not repeated. Connections that carry TLS
// without being a *tls.Conn (WebSocket over TLS) are asked through their
// ConnectionState method; their handshake is already done.
func PeerCertificate(ctx context.Context, c net.Conn) (*x509.Certificate, error) {
	var st tls.ConnectionState
	switch tc := c.(type) {
	case *tls.Conn:
		if err := tc.HandshakeContext(ctx); err != nil {
			return nil, fmt.Errorf("listener: TLS handshake: %w", err)
		}
		st = tc.ConnectionState()
	case interface{ ConnectionState() tls.ConnectionState }:
		st = tc.ConnectionState()
	default:
		return nil, nil
	}
	if len(st.VerifiedChains) == 0 || len(st.VerifiedChains[0]) == 0 {
		return nil, nil
	}
	return st.VerifiedChains[0][0], nil
}
