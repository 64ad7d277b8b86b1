package testcerts

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"testing"
)

// An issued certificate verifies against its CA's pool for 127.0.0.1
// and localhost, with the uses asked for, and not against another CA's.
func TestIssuedCertificateVerifies(t *testing.T) {
	ca, other := NewCA(t, "test CA"), NewCA(t, "other CA")
	c := ca.Issue(t, "member")
	leaf, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	if leaf.Subject.CommonName != "member" {
		t.Fatalf("common name %q", leaf.Subject.CommonName)
	}
	for _, host := range []string{"127.0.0.1", "localhost"} {
		for _, use := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
			opts := x509.VerifyOptions{Roots: ca.Pool(), DNSName: host, KeyUsages: []x509.ExtKeyUsage{use}}
			if _, err := leaf.Verify(opts); err != nil {
				t.Errorf("verify for %s, use %v: %v", host, use, err)
			}
		}
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: other.Pool()}); err == nil {
		t.Error("verified against another CA")
	}
	clientOnly, err := x509.ParseCertificate(ca.Issue(t, "client", x509.ExtKeyUsageClientAuth).Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := clientOnly.Verify(x509.VerifyOptions{Roots: ca.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err == nil {
		t.Error("a client-only certificate verified for server authentication")
	}
}

// The files load as a key pair and a CA the way the binaries load them.
func TestFilesLoad(t *testing.T) {
	dir := t.TempDir()
	ca := NewCA(t, "test CA")
	caFile := ca.WriteCert(t, dir, "ca.crt")
	certFile, keyFile := ca.IssueFiles(t, dir, "client", x509.ExtKeyUsageClientAuth)
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatalf("load key pair: %v", err)
	}
	pemCA, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemCA) {
		t.Fatalf("%s holds no PEM certificate", caFile)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Fatalf("the written certificate does not verify against the written CA: %v", err)
	}
}
