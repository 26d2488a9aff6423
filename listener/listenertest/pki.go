// Package listenertest makes throwaway certificates for tests of TLS
// listeners: a CA, server certificates for 127.0.0.1 and localhost, and
// client certificates, written as PEM files.
package listenertest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// PKI is a certificate authority with one server and one client
// certificate, as PEM files in Dir: ca.pem, server.pem and server.key,
// client.pem and client.key. The client certificate's subject is
// CN=dev1,OU=Sensors,O=Example,C=GB.
type PKI struct {
	Dir    string
	CA     *x509.Certificate
	caKey  *ecdsa.PrivateKey
	Pool   *x509.CertPool // holds CA
	CAFile string

	CertFile, KeyFile             string
	ClientCertFile, ClientKeyFile string
}

// New makes a PKI in dir.
func New(dir string) (*PKI, error) {
	p := &PKI{Dir: dir}
	var err error
	p.CA, p.caKey, err = issue(&x509.Certificate{
		Subject:               pkix.Name{CommonName: "mast test CA"},
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}, nil, nil)
	if err != nil {
		return nil, err
	}
	p.Pool = x509.NewCertPool()
	p.Pool.AddCert(p.CA)
	p.CAFile = filepath.Join(dir, "ca.pem")
	if err := writeCert(p.CAFile, p.CA); err != nil {
		return nil, err
	}
	if p.CertFile, p.KeyFile, err = p.IssueServer("server"); err != nil {
		return nil, err
	}
	p.ClientCertFile, p.ClientKeyFile, err = p.IssueClient("client", pkix.Name{
		CommonName: "dev1", OrganizationalUnit: []string{"Sensors"}, Organization: []string{"Example"}, Country: []string{"GB"},
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}

// IssueServer writes NAME.pem and NAME.key: a server certificate for
// 127.0.0.1, ::1 and localhost whose Common Name is name.
func (p *PKI) IssueServer(name string) (certFile, keyFile string, err error) {
	return p.write(name, &x509.Certificate{
		Subject:     pkix.Name{CommonName: name},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		DNSNames:    []string{"localhost"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
}

// IssueClient writes NAME.pem and NAME.key: a client certificate with
// the given subject.
func (p *PKI) IssueClient(name string, subject pkix.Name) (certFile, keyFile string, err error) {
	return p.write(name, &x509.Certificate{
		Subject:     subject,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
}

// ClientCertificate loads the client certificate for a tls.Config.
func (p *PKI) ClientCertificate() (tls.Certificate, error) {
	return tls.LoadX509KeyPair(p.ClientCertFile, p.ClientKeyFile)
}

func (p *PKI) write(name string, tmpl *x509.Certificate) (string, string, error) {
	cert, key, err := issue(tmpl, p.CA, p.caKey)
	if err != nil {
		return "", "", err
	}
	cf, kf := filepath.Join(p.Dir, name+".pem"), filepath.Join(p.Dir, name+".key")
	if err := writeCert(cf, cert); err != nil {
		return "", "", err
	}
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return "", "", err
	}
	// Readable by all: tests hand these files to a broker that may run
	// under another user (Mosquitto drops root privileges).
	if err := os.WriteFile(kf, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o644); err != nil {
		return "", "", err
	}
	return cf, kf, nil
}

func issue(tmpl, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	if tmpl.SerialNumber, err = rand.Int(rand.Reader, big.NewInt(1<<62)); err != nil {
		return nil, nil, err
	}
	tmpl.NotBefore = time.Now().Add(-time.Hour)
	tmpl.NotAfter = time.Now().Add(24 * time.Hour)
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		return nil, nil, fmt.Errorf("listenertest: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	return cert, key, err
}

func writeCert(path string, c *x509.Certificate) error {
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}), 0o644)
}
