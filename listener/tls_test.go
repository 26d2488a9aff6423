package listener_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mastmq/mast/listener"
	"github.com/mastmq/mast/listener/listenertest"
)

func newPKI(t *testing.T) *listenertest.PKI {
	t.Helper()
	p, err := listenertest.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func clientCert(t *testing.T, p *listenertest.PKI) tls.Certificate {
	t.Helper()
	c, err := p.ClientCertificate()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// serveTLS opens a TLS listener on 127.0.0.1:0 that echoes what it reads
// and reports each connection's handshake result (and client certificate).
type result struct {
	cert *x509.Certificate
	err  error
}

func serveTLS(t *testing.T, conf listener.TLS) (*listener.TLSListener, <-chan result) {
	t.Helper()
	ln, err := listener.Listen(listener.Config{Network: "tcp4", Address: "127.0.0.1:0", TLS: &conf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	tl, ok := ln.(*listener.TLSListener)
	if !ok {
		t.Fatalf("Listen with TLS returned %T", ln)
	}
	if _, ok := ln.(listener.Reloader); !ok {
		t.Fatal("TLS listener is not a Reloader")
	}
	results := make(chan result, 16)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				cert, err := listener.PeerCertificate(ctx, c)
				results <- result{cert, err}
				if err == nil {
					io.Copy(c, c)
				}
			}()
		}
	}()
	return tl, results
}

func dial(t *testing.T, addr net.Addr, c *tls.Config) (*tls.Conn, error) {
	t.Helper()
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr.String(), c)
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { conn.Close() })
	return conn, nil
}

func echo(t *testing.T, c net.Conn, msg string) {
	t.Helper()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatalf("write: %v", err)
	}
	b := make([]byte, len(msg))
	if _, err := io.ReadFull(c, b); err != nil || string(b) != msg {
		t.Fatalf("echo %q: got %q, %v", msg, b, err)
	}
}

func TestTLSVersions(t *testing.T) {
	p := newPKI(t)
	ln, results := serveTLS(t, listener.TLS{CertFile: p.CertFile, KeyFile: p.KeyFile})
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		c, err := dial(t, ln.Addr(), &tls.Config{RootCAs: p.Pool, MinVersion: v, MaxVersion: v})
		if err != nil {
			t.Fatalf("%s handshake: %v", tls.VersionName(v), err)
		}
		if got := c.ConnectionState().Version; got != v {
			t.Errorf("negotiated %s, want %s", tls.VersionName(got), tls.VersionName(v))
		}
		echo(t, c, "hello")
		if r := <-results; r.err != nil || r.cert != nil {
			t.Errorf("server side: cert %v, err %v (no client certificate expected)", r.cert, r.err)
		}
	}
	// TLS 1.1 and below are refused.
	if _, err := dial(t, ln.Addr(), &tls.Config{RootCAs: p.Pool, MaxVersion: tls.VersionTLS11}); err == nil {
		t.Error("TLS 1.1 client accepted")
	}
	<-results
}

func TestTLSMinVersion13(t *testing.T) {
	p := newPKI(t)
	ln, results := serveTLS(t, listener.TLS{CertFile: p.CertFile, KeyFile: p.KeyFile, MinVersion: "1.3"})
	if _, err := dial(t, ln.Addr(), &tls.Config{RootCAs: p.Pool, MaxVersion: tls.VersionTLS12}); err == nil {
		t.Error("TLS 1.2 client accepted by a 1.3-only listener")
	}
	if r := <-results; r.err == nil {
		t.Error("server handshake with a TLS 1.2 client succeeded")
	}
	c, err := dial(t, ln.Addr(), &tls.Config{RootCAs: p.Pool})
	if err != nil {
		t.Fatal(err)
	}
	if c.ConnectionState().Version != tls.VersionTLS13 {
		t.Errorf("negotiated %s", tls.VersionName(c.ConnectionState().Version))
	}
}

func TestMutualTLS(t *testing.T) {
	p := newPKI(t)
	conf := listener.TLS{CertFile: p.CertFile, KeyFile: p.KeyFile, CAFile: p.CAFile, RequireCertificate: true, UseIdentityAsUsername: true}
	ln, results := serveTLS(t, conf)

	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		// No client certificate: the server's handshake fails. (In TLS
		// 1.3 the client only learns on its first read.)
		c, err := dial(t, ln.Addr(), &tls.Config{RootCAs: p.Pool, MaxVersion: v})
		if err == nil {
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			_, err = c.Read(make([]byte, 1))
		}
		if err == nil {
			t.Errorf("%s: client without a certificate got through", tls.VersionName(v))
		}
		if r := <-results; r.err == nil {
			t.Errorf("%s: server accepted a client without a certificate", tls.VersionName(v))
		}

		// With one: the server sees it, verified.
		c, err = dial(t, ln.Addr(), &tls.Config{RootCAs: p.Pool, MaxVersion: v, Certificates: []tls.Certificate{clientCert(t, p)}})
		if err != nil {
			t.Fatal(err)
		}
		echo(t, c, "x")
		r := <-results
		if r.err != nil || r.cert == nil {
			t.Fatalf("%s: server side: cert %v, err %v", tls.VersionName(v), r.cert, r.err)
		}
		if u, ok := conf.Username(r.cert); !ok || u != "dev1" {
			t.Errorf("identity user name = %q, %v; want dev1", u, ok)
		}
		subj := conf
		subj.UseIdentityAsUsername, subj.UseSubjectAsUsername = false, true
		if u, ok := subj.Username(r.cert); !ok || u != "CN=dev1,OU=Sensors,O=Example,C=GB" {
			t.Errorf("subject user name = %q, %v", u, ok)
		}
	}

	// A certificate from another CA is refused.
	other := newPKI(t)
	c, err := dial(t, ln.Addr(), &tls.Config{RootCAs: p.Pool, Certificates: []tls.Certificate{clientCert(t, other)}})
	if err == nil {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err = c.Read(make([]byte, 1))
	}
	if err == nil {
		t.Error("client certificate from an unknown CA accepted")
	}
	if r := <-results; r.err == nil {
		t.Error("server accepted a certificate from an unknown CA")
	}
}

func TestReloadSwapsCertificateKeepsConnections(t *testing.T) {
	p := newPKI(t)
	ln, results := serveTLS(t, listener.TLS{CertFile: p.CertFile, KeyFile: p.KeyFile})
	first := ln.Certificate()

	old, err := dial(t, ln.Addr(), &tls.Config{RootCAs: p.Pool})
	if err != nil {
		t.Fatal(err)
	}
	echo(t, old, "before")
	<-results
	if got := old.ConnectionState().PeerCertificates[0]; !got.Equal(first) {
		t.Fatal("first connection did not see the first certificate")
	}

	// New files under the same names, then Reload.
	cf, kf, err := p.IssueServer("renewed")
	if err != nil {
		t.Fatal(err)
	}
	for src, dst := range map[string]string{cf: p.CertFile, kf: p.KeyFile} {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := ln.Reload(); err != nil {
		t.Fatal(err)
	}
	if ln.Certificate().Equal(first) || ln.Certificate().Subject.CommonName != "renewed" {
		t.Fatal("Reload did not swap the certificate")
	}
	c, err := dial(t, ln.Addr(), &tls.Config{RootCAs: p.Pool})
	if err != nil {
		t.Fatal(err)
	}
	<-results
	if cn := c.ConnectionState().PeerCertificates[0].Subject.CommonName; cn != "renewed" {
		t.Errorf("new connection saw certificate %q, want renewed", cn)
	}
	echo(t, old, "after") // the old connection is still up

	// A broken file: Reload fails, names the problem, keeps the old pair.
	if err := os.WriteFile(p.KeyFile, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	err = ln.Reload()
	if err == nil || !strings.Contains(err.Error(), p.KeyFile) {
		t.Fatalf("Reload with a broken key: %v", err)
	}
	c, err = dial(t, ln.Addr(), &tls.Config{RootCAs: p.Pool})
	if err != nil {
		t.Fatalf("after a failed reload: %v", err)
	}
	<-results
	if cn := c.ConnectionState().PeerCertificates[0].Subject.CommonName; cn != "renewed" {
		t.Errorf("after a failed reload, certificate %q, want renewed", cn)
	}
	echo(t, old, "still")
}

func TestReloadCAPool(t *testing.T) {
	p := newPKI(t)
	conf := listener.TLS{CertFile: p.CertFile, KeyFile: p.KeyFile, CAFile: p.CAFile, RequireCertificate: true}
	ln, results := serveTLS(t, conf)
	other := newPKI(t)
	try := func(cert tls.Certificate) error {
		c, err := dial(t, ln.Addr(), &tls.Config{RootCAs: p.Pool, Certificates: []tls.Certificate{cert}})
		if err != nil {
			<-results
			return err
		}
		c.Write([]byte("x"))
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err = c.Read(make([]byte, 1))
		<-results
		return err
	}
	if err := try(clientCert(t, other)); err == nil {
		t.Fatal("client of the other CA accepted before reload")
	}
	b, _ := os.ReadFile(other.CAFile)
	if err := os.WriteFile(p.CAFile, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := ln.Reload(); err != nil {
		t.Fatal(err)
	}
	if err := try(clientCert(t, other)); err != nil {
		t.Errorf("client of the newly trusted CA refused: %v", err)
	}
	if err := try(clientCert(t, p)); err == nil {
		t.Error("client of the CA no longer trusted accepted")
	}
}

func TestTLSBadSettings(t *testing.T) {
	p := newPKI(t)
	garbage := filepath.Join(p.Dir, "garbage.pem")
	os.WriteFile(garbage, []byte("hello"), 0o644)
	missing := filepath.Join(p.Dir, "missing.pem")
	cases := []struct {
		name string
		conf listener.Config
		want string
	}{
		{"missing cert", listener.Config{TLS: &listener.TLS{CertFile: missing, KeyFile: p.KeyFile}}, "missing.pem"},
		{"key of another cert", listener.Config{TLS: &listener.TLS{CertFile: p.CertFile, KeyFile: p.ClientKeyFile}}, "private key does not match"},
		{"garbage cert", listener.Config{TLS: &listener.TLS{CertFile: garbage, KeyFile: p.KeyFile}}, "garbage.pem"},
		{"missing CA", listener.Config{TLS: &listener.TLS{CertFile: p.CertFile, KeyFile: p.KeyFile, CAFile: missing, RequireCertificate: true}}, "CA file"},
		{"garbage CA", listener.Config{TLS: &listener.TLS{CertFile: p.CertFile, KeyFile: p.KeyFile, CAFile: garbage, RequireCertificate: true}}, "no PEM certificate"},
		{"no key", listener.Config{TLS: &listener.TLS{CertFile: p.CertFile}}, "key file"},
		{"require without CA", listener.Config{TLS: &listener.TLS{CertFile: p.CertFile, KeyFile: p.KeyFile, RequireCertificate: true}}, "needs a CA file"},
		{"identity without require", listener.Config{TLS: &listener.TLS{CertFile: p.CertFile, KeyFile: p.KeyFile, UseIdentityAsUsername: true}}, "need require_certificate"},
		{"TLS 1.1", listener.Config{TLS: &listener.TLS{CertFile: p.CertFile, KeyFile: p.KeyFile, MinVersion: "1.1"}}, `"1.1" is not 1.2 or 1.3`},
		{"websockets on a unix socket", listener.Config{Protocol: "websockets", Network: "unix", Address: "/tmp/x"}, "not supported by mast yet"},
		{"other protocol", listener.Config{Protocol: "coap"}, "unknown protocol"},
	}
	for _, tc := range cases {
		if tc.conf.Network == "unix" {
			if _, err := listener.Listen(tc.conf); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
			}
			continue
		}
		tc.conf.Network, tc.conf.Address = "tcp4", "127.0.0.1:0"
		ln, err := listener.Listen(tc.conf)
		if err == nil {
			ln.Close()
			t.Errorf("%s: accepted", tc.name)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "127.0.0.1:0") {
			t.Errorf("%s: error %q does not name the listener and %q", tc.name, err, tc.want)
		}
	}
	if err := (listener.Config{Protocol: "websockets", Network: "unix", Address: "/x"}).Validate(); !errors.Is(err, listener.ErrNotSupported) {
		t.Errorf("websockets over unix: error %v is not ErrNotSupported", err)
	}
}

func TestPeerCertificatePlainConn(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if c, err := listener.PeerCertificate(context.Background(), a); c != nil || err != nil {
		t.Errorf("plain connection: %v, %v", c, err)
	}
}

func TestReloadDuringHandshakes(t *testing.T) {
	p := newPKI(t)
	ln, results := serveTLS(t, listener.TLS{CertFile: p.CertFile, KeyFile: p.KeyFile})
	go func() {
		for range results {
		}
	}()
	done := make(chan error)
	for range 8 {
		go func() {
			for range 5 {
				c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: p.Pool})
				if err != nil {
					done <- err
					return
				}
				c.Close()
			}
			done <- nil
		}()
	}
	for range 20 {
		if err := ln.Reload(); err != nil {
			t.Fatal(err)
		}
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}
