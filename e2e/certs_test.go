package e2e

import (
	"crypto/x509"
	"testing"

	"github.com/cairndb/cairn/internal/testcerts"
)

// testPKI is a certificate authority and the certificates it signed,
// written as PEM files the way an operator would hand them to the
// binaries.
type testPKI struct {
	dir string
	CA  string // the CA's certificate
	ca  *testcerts.CA
}

// newTestPKI creates a CA in a temporary directory.
func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	p := &testPKI{dir: t.TempDir(), ca: testcerts.NewCA(t, "cairn e2e CA")}
	p.CA = p.ca.WriteCert(t, p.dir, "ca.crt")
	return p
}

// issue signs a certificate for name with the given uses (server and/or
// client authentication), valid for 127.0.0.1, and returns the
// certificate and key files.
func (p *testPKI) issue(t *testing.T, name string, uses ...x509.ExtKeyUsage) (certFile, keyFile string) {
	t.Helper()
	return p.ca.IssueFiles(t, p.dir, name, uses...)
}
