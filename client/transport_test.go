package client_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"github.com/mastmq/mast/broker"
	"github.com/mastmq/mast/client"
	"github.com/mastmq/mast/packet"
)

// testCA makes a CA and a server certificate for 127.0.0.1 and localhost.
func testCA(t *testing.T) (serverCert tls.Certificate, roots *x509.CertPool) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	roots = x509.NewCertPool()
	roots.AddCert(ca)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, roots
}

func serveOn(t *testing.T, ln net.Listener) {
	t.Helper()
	srv := broker.New(broker.Options{SysInterval: -1})
	go srv.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
}

// roundTrip connects to server, publishes to itself and disconnects.
func roundTrip(t *testing.T, opts client.Options) error {
	t.Helper()
	ctx := ctxT(t)
	rec := newRecorder()
	opts.OnMessage = rec.handle
	c, err := client.New(opts)
	if err != nil {
		return err
	}
	if _, err := c.Connect(ctx); err != nil {
		return err
	}
	defer c.Disconnect(ctx)
	if _, err := c.Subscribe(ctx, nil, packet.Subscription{Filter: "t", QoS: 1}); err != nil {
		return err
	}
	if err := c.Publish(ctx, &client.Message{Topic: "t", Payload: []byte("x"), QoS: 1}); err != nil {
		return err
	}
	rec.wait(t, 1)
	return nil
}

func TestTLS(t *testing.T) {
	cert, roots := testCA(t)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	serveOn(t, ln)
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	for _, scheme := range []string{"mqtts", "ssl", "tls"} {
		if err := roundTrip(t, client.Options{Servers: []string{scheme + "://localhost:" + port},
			TLSConfig: &tls.Config{RootCAs: roots}}); err != nil {
			t.Errorf("%s: %v", scheme, err)
		}
	}
	// An unknown CA is refused.
	if err := roundTrip(t, client.Options{Servers: []string{"mqtts://localhost:" + port}}); err == nil {
		t.Error("connected without trusting the CA")
	}
}

func TestUnixSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mqtt.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	serveOn(t, ln)
	if err := roundTrip(t, client.Options{Servers: []string{"unix://" + path}}); err != nil {
		t.Fatal(err)
	}
}

// Servers are tried in order: a dead first one is skipped.
func TestServersFallback(t *testing.T) {
	addr := startMast(t, broker.Options{})
	dead, _ := net.Listen("tcp", "127.0.0.1:0")
	deadAddr := dead.Addr().String()
	dead.Close()
	if err := roundTrip(t, client.Options{Servers: []string{"mqtt://" + deadAddr, "tcp://" + addr}}); err != nil {
		t.Fatal(err)
	}
}

// Options.Dial carries MQTT over any transport, ws:// included.
func TestCustomDial(t *testing.T) {
	addr := startMast(t, broker.Options{})
	var dialed string
	opts := client.Options{Servers: []string{"ws://example.invalid/mqtt"},
		Dial: func(ctx context.Context, u *url.URL) (net.Conn, error) {
			dialed = u.String()
			var d net.Dialer
			return d.DialContext(ctx, "tcp", addr)
		}}
	if err := roundTrip(t, opts); err != nil {
		t.Fatal(err)
	}
	if dialed != "ws://example.invalid/mqtt" {
		t.Errorf("dialed %q", dialed)
	}
	if _, err := client.New(client.Options{Servers: []string{"ws://x"}}); err != nil {
		t.Fatal(err)
	}
}
