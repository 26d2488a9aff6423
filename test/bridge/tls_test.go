package bridge_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mastmq/mast/bridge"
	"github.com/mastmq/mast/client"
)

// A bridge over mqtts:// to a broker whose certificate the bridge checks
// against a CA file.
func TestTLS(t *testing.T) {
	cert, caFile := selfSigned(t)
	remote := startBroker(t, "remote", nil)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	go remote.server().Serve(ln)
	tlsAddr := ln.Addr().String()
	local := startBroker(t, "local", nil)

	lsub := subscriber(t, local.addr, "lsub", "a/#")
	rsub := subscriber(t, remote.addr, "rsub", "b/#")
	startBridge(t, local, bridge.Config{
		Name: "secure", Address: "mqtts://" + tlsAddr, ClientID: "bridge-tls", Version: 5,
		TLS: &bridge.TLS{CAFile: caFile}, Topics: bridgeTopics(),
	})
	local.console.waitN(t, "Bridge secure subscribed remotely to b/down/# (QoS 2), b/both/# (QoS 2)", 1)
	lpub := connect(t, local.addr, client.Options{ClientID: "lpub", CleanStart: true})
	rpub := connect(t, remote.addr, client.Options{ClientID: "rpub", CleanStart: true})
	publish(t, lpub, "a/up/x", "out", 1, false)
	publish(t, rpub, "b/down/x", "in", 2, false)
	rsub.waitFor(t, "b/up/x", "out")
	lsub.waitFor(t, "a/down/x", "in")

	// The wrong CA: the bridge does not connect, and says why.
	_, otherCA := selfSigned(t)
	startBridge(t, local, bridge.Config{
		Name: "untrusted", Address: "mqtts://" + tlsAddr, ClientID: "bridge-untrusted",
		TLS: &bridge.TLS{CAFile: otherCA}, Topics: bridgeTopics(),
	})
	local.console.waitN(t, "Bridge untrusted could not connect to mqtts://"+tlsAddr, 1)
	local.console.waitN(t, "certificate signed by unknown authority", 1)
}

// selfSigned makes a certificate for 127.0.0.1 and writes it, as its own
// CA, to a PEM file.
func selfSigned(t *testing.T) (tls.Certificate, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "mast test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, caFile
}
