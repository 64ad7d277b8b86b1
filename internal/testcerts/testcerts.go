// Package testcerts makes a certificate authority and the certificates
// it signs, for tests that run cairn over TLS: ECDSA P-256 keys, valid
// from an hour ago for a day, for 127.0.0.1 and localhost. A test takes
// them in memory for a tls.Config (Issue, Pool) or as PEM files, the way
// an operator hands them to the binaries (WriteCert, IssueFiles).
//
// Only tests use it: failures end the test (testing.TB.Fatal).
package testcerts

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
)

// validity is how long the certificates are valid, from an hour before
// they are made (a clock a little behind does not reject them).
const validity = 24 * time.Hour

// CA is a certificate authority of a test's own. Safe for concurrent
// use.
type CA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

// NewCA makes a self-signed CA named name.
func NewCA(t testing.TB, name string) *CA {
	t.Helper()
	key := newKey(t)
	tmpl := template(t, name)
	tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
	tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatalf("testcerts: make CA %q: %v", name, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("testcerts: parse CA %q: %v", name, err)
	}
	return &CA{cert: cert, key: key}
}

// Pool is a pool holding the CA's certificate, for RootCAs or ClientCAs.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

// Issue signs a certificate for commonName, valid for the hosts
// 127.0.0.1 and localhost, with the given uses, by default both server
// and client authentication.
func (ca *CA) Issue(t testing.TB, commonName string, uses ...x509.ExtKeyUsage) tls.Certificate {
	t.Helper()
	return ca.IssueFor(t, commonName, []string{"127.0.0.1", "localhost"}, uses...)
}

// IssueFor is Issue for the given hosts (IP addresses or DNS names; none
// makes a certificate valid for no host, as a user's client certificate
// usually is).
func (ca *CA) IssueFor(t testing.TB, commonName string, hosts []string, uses ...x509.ExtKeyUsage) tls.Certificate {
	t.Helper()
	if len(uses) == 0 {
		uses = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	}
	key := newKey(t)
	tmpl := template(t, commonName)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	tmpl.ExtKeyUsage = uses
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatalf("testcerts: issue a certificate for %q: %v", commonName, err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// WriteCert writes the CA's certificate as a PEM file dir/name and
// returns its path.
func (ca *CA) WriteCert(t testing.TB, dir, name string) string {
	t.Helper()
	return writePEM(t, filepath.Join(dir, name), "CERTIFICATE", ca.cert.Raw)
}

// IssueFiles issues a certificate (Issue) and writes it and its key as
// PEM files dir/name.crt and dir/name.key.
func (ca *CA) IssueFiles(t testing.TB, dir, name string, uses ...x509.ExtKeyUsage) (certFile, keyFile string) {
	t.Helper()
	c := ca.Issue(t, name, uses...)
	keyDER, err := x509.MarshalECPrivateKey(c.PrivateKey.(*ecdsa.PrivateKey))
	if err != nil {
		t.Fatalf("testcerts: encode the key of %q: %v", name, err)
	}
	certFile = writePEM(t, filepath.Join(dir, name+".crt"), "CERTIFICATE", c.Certificate[0])
	keyFile = writePEM(t, filepath.Join(dir, name+".key"), "EC PRIVATE KEY", keyDER)
	return certFile, keyFile
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("testcerts: generate a key: %v", err)
	}
	return key
}

// template is a certificate for commonName with a random serial number,
// valid from an hour ago.
func template(t testing.TB, commonName string) *x509.Certificate {
	t.Helper()
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		t.Fatalf("testcerts: draw a serial number: %v", err)
	}
	now := time.Now()
	return &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: commonName},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(validity)}
}

func writePEM(t testing.TB, path, kind string, der []byte) string {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600); err != nil {
		t.Fatalf("testcerts: %v", err)
	}
	return path
}
