package rpc

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testCA is a certificate authority made for a test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	file string // PEM of the CA certificate
}

func newTestCA(t *testing.T, dir, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	file := filepath.Join(dir, name+"-ca.pem")
	writePEM(t, file, "CERTIFICATE", der)
	return &testCA{cert: cert, key: key, file: file}
}

// issue signs a leaf certificate for 127.0.0.1/localhost and writes it and
// its key; it returns the two file names.
func (ca *testCA) issue(t *testing.T, dir, name string, usage x509.ExtKeyUsage) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{usage},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:     []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalPKCS8PrivateKey(key)
	certFile, keyFile = filepath.Join(dir, name+".pem"), filepath.Join(dir, name+"-key.pem")
	writePEM(t, certFile, "CERTIFICATE", der)
	writePEM(t, keyFile, "PRIVATE KEY", keyDER)
	return certFile, keyFile
}

func writePEM(t *testing.T, file, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// tlsFixture is a CA with a server and a client certificate, and a second,
// unknown CA with a client certificate of its own.
type tlsFixture struct {
	ca, rogueCA                     *testCA
	serverCert, serverKey           string
	clientCert, clientKey           string
	rogueClientCert, rogueClientKey string
}

func newTLSFixture(t *testing.T) *tlsFixture {
	dir := t.TempDir()
	f := &tlsFixture{ca: newTestCA(t, dir, "ca"), rogueCA: newTestCA(t, dir, "rogue")}
	f.serverCert, f.serverKey = f.ca.issue(t, dir, "server", x509.ExtKeyUsageServerAuth)
	f.clientCert, f.clientKey = f.ca.issue(t, dir, "client", x509.ExtKeyUsageClientAuth)
	f.rogueClientCert, f.rogueClientKey = f.rogueCA.issue(t, dir, "rogue-client", x509.ExtKeyUsageClientAuth)
	return f
}

// mustTLS unwraps a TLS helper's result; a failure there is a broken
// fixture, so it panics (failing the test) rather than taking a t.
func mustTLS(cfg *tls.Config, err error) *tls.Config {
	if err != nil {
		panic(err)
	}
	return cfg
}

func echoOnce(c *Conn) error {
	resp, err := c.Call(context.Background(), mEcho, []byte("secret"))
	if err == nil && string(resp) != "secret" {
		err = errors.New("bad echo " + string(resp))
	}
	return err
}

func TestTLS(t *testing.T) {
	f := newTLSFixture(t)
	srvTLS := mustTLS(ServerTLSConfig(f.serverCert, f.serverKey, "", false))
	addr, _, _ := startServer(t, ServerOptions{TLS: srvTLS})

	t.Run("trusted CA", func(t *testing.T) {
		c := dialT(t, addr, DialOptions{TLS: mustTLS(ClientTLSConfig("", "", f.ca.file, false))})
		if err := echoOnce(c); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("unknown CA is rejected", func(t *testing.T) {
		cfg := mustTLS(ClientTLSConfig("", "", f.rogueCA.file, false))
		_, err := Dial(context.Background(), addr, DialOptions{TLS: cfg})
		var unknown x509.UnknownAuthorityError
		if ErrorCode(err) != CodeUnavailable || !errors.As(err, &unknown) {
			t.Fatalf("Dial = %v, want Unavailable wrapping an unknown-authority error", err)
		}
	})
	t.Run("insecure skip verify", func(t *testing.T) {
		c := dialT(t, addr, DialOptions{TLS: mustTLS(ClientTLSConfig("", "", "", true))})
		if err := echoOnce(c); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("plain client on the TLS port", func(t *testing.T) {
		_, err := Dial(context.Background(), addr, DialOptions{})
		if ErrorCode(err) != CodeUnavailable || !strings.Contains(err.Error(), "expects TLS") || !strings.Contains(err.Error(), "--cacert") {
			t.Fatalf("Dial = %v, want a clear 'expects TLS' error", err)
		}
	})
	t.Run("TLS client on a plain port", func(t *testing.T) {
		plain, _, _ := startServer(t, ServerOptions{})
		_, err := Dial(context.Background(), plain, DialOptions{TLS: mustTLS(ClientTLSConfig("", "", f.ca.file, false))})
		if ErrorCode(err) != CodeUnavailable || !strings.Contains(err.Error(), "does not speak TLS") {
			t.Fatalf("Dial = %v, want a clear 'does not speak TLS' error", err)
		}
	})
	t.Run("plain client on a foreign TLS server", func(t *testing.T) {
		// Not a cairn server: it speaks TLS at once and answers our hello
		// with an alert.
		l, err := tls.Listen("tcp", "127.0.0.1:0", srvTLS)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		go func() {
			c, err := l.Accept()
			if err == nil {
				c.Read(make([]byte, 1))
				c.Close()
			}
		}()
		_, err = Dial(context.Background(), l.Addr().String(), DialOptions{})
		if ErrorCode(err) != CodeUnavailable || !strings.Contains(err.Error(), "TLS") {
			t.Fatalf("Dial = %v, want an error mentioning TLS", err)
		}
	})
}

func TestMutualTLS(t *testing.T) {
	f := newTLSFixture(t)
	srvTLS := mustTLS(ServerTLSConfig(f.serverCert, f.serverKey, f.ca.file, true))
	addr, _, _ := startServer(t, ServerOptions{TLS: srvTLS})

	t.Run("client certificate from the CA", func(t *testing.T) {
		c := dialT(t, addr, DialOptions{TLS: mustTLS(ClientTLSConfig(f.clientCert, f.clientKey, f.ca.file, false))})
		if err := echoOnce(c); err != nil {
			t.Fatal(err)
		}
	})
	for _, tt := range []struct{ name, cert, key string }{
		{"no client certificate", "", ""},
		{"client certificate from an unknown CA", f.rogueClientCert, f.rogueClientKey},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := mustTLS(ClientTLSConfig(tt.cert, tt.key, f.ca.file, false))
			c, err := Dial(context.Background(), addr, DialOptions{TLS: cfg})
			if err == nil {
				// TLS 1.3 lets the client finish before the server checks
				// its certificate; the rejection must then kill the conn.
				err = echoOnce(c)
				c.Close()
			}
			if ErrorCode(err) != CodeUnavailable {
				t.Fatalf("got %v, want the connection refused (Unavailable)", err)
			}
		})
	}
	if _, err := ServerTLSConfig(f.serverCert, f.serverKey, "", true); err == nil {
		t.Fatal("client cert auth without a CA accepted")
	}
	if _, err := ClientTLSConfig(f.clientCert, "", "", false); err == nil {
		t.Fatal("client cert without key accepted")
	}
	if _, err := ClientTLSConfig("", "", f.clientKey, false); err == nil {
		t.Fatal("a key file accepted as CA file")
	}
}

func TestSelfSignedCert(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "auto")
	hosts := []string{"127.0.0.1", "localhost", "::1"}
	certFile, keyFile, err := SelfSignedCert(dir, hosts)
	if err != nil {
		t.Fatal(err)
	}
	first, _ := os.ReadFile(certFile)
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(pair.Certificate[0])
	if _, ok := leaf.PublicKey.(*ecdsa.PublicKey); !ok {
		t.Fatalf("key is %T, want ECDSA", leaf.PublicKey)
	}
	if d := time.Until(leaf.NotAfter); d < 364*24*time.Hour || d > 366*24*time.Hour {
		t.Fatalf("valid for %v, want a year", d)
	}
	if err := leaf.VerifyHostname("127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	if err := leaf.VerifyHostname("localhost"); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(keyFile); fi.Mode().Perm()&0o077 != 0 {
		t.Fatalf("key file mode %v is readable by others", fi.Mode())
	}

	// Same hosts: the files are reused.
	if _, _, err := SelfSignedCert(dir, hosts[:2]); err != nil {
		t.Fatal(err)
	}
	if again, _ := os.ReadFile(certFile); !bytes.Equal(again, first) {
		t.Fatal("valid certificate was regenerated")
	}
	// A new host: regenerated to cover it.
	if _, _, err := SelfSignedCert(dir, append(hosts, "node2.example")); err != nil {
		t.Fatal(err)
	}
	if again, _ := os.ReadFile(certFile); bytes.Equal(again, first) {
		t.Fatal("certificate not regenerated for a new host")
	}
	// Damaged files: regenerated.
	os.WriteFile(certFile, []byte("junk"), 0o644)
	if _, _, err := SelfSignedCert(dir, hosts); err != nil {
		t.Fatal(err)
	}

	// The certificate works for serving; clients skip verification
	// (auto-TLS) or trust the certificate itself as a CA.
	srvTLS := mustTLS(ServerTLSConfig(certFile, keyFile, "", false))
	addr, _, _ := startServer(t, ServerOptions{TLS: srvTLS})
	for _, cfg := range []*tls.Config{
		mustTLS(ClientTLSConfig("", "", "", true)),
		mustTLS(ClientTLSConfig("", "", certFile, false)),
	} {
		c := dialT(t, addr, DialOptions{TLS: cfg})
		if err := echoOnce(c); err != nil {
			t.Fatal(err)
		}
	}
}
