package rpc

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// ServerTLSConfig builds a server TLS configuration from PEM files. With
// clientCertAuth, clients must present a certificate signed by a CA in
// trustedCAFile (which is then required).
func ServerTLSConfig(certFile, keyFile, trustedCAFile string, clientCertAuth bool) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("rpc: loading server certificate %s and key %s: %w", certFile, keyFile, err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if trustedCAFile != "" {
		if cfg.ClientCAs, err = loadCAPool(trustedCAFile); err != nil {
			return nil, err
		}
	}
	if clientCertAuth {
		if trustedCAFile == "" {
			return nil, errors.New("rpc: client certificate authentication needs a trusted CA file")
		}
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

// ClientTLSConfig builds a client TLS configuration from PEM files. The
// certificate and key (for servers that authenticate clients) are
// optional, but go together; without trustedCAFile the system's roots
// verify the server. insecureSkipVerify accepts any server certificate
// (for self-signed auto-TLS; it gives encryption without authentication).
func ClientTLSConfig(certFile, keyFile, trustedCAFile string, insecureSkipVerify bool) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: insecureSkipVerify}
	switch {
	case certFile != "" && keyFile != "":
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("rpc: loading client certificate %s and key %s: %w", certFile, keyFile, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	case certFile != "" || keyFile != "":
		return nil, fmt.Errorf("rpc: client certificate %q and key %q must be given together", certFile, keyFile)
	}
	if trustedCAFile != "" {
		var err error
		if cfg.RootCAs, err = loadCAPool(trustedCAFile); err != nil {
			return nil, err
		}
	}
	return cfg, nil
}

func loadCAPool(file string) (*x509.CertPool, error) {
	pemBytes, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("rpc: reading trusted CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		return nil, fmt.Errorf("rpc: trusted CA file %s holds no PEM certificate", file)
	}
	return pool, nil
}

// Names of the files SelfSignedCert keeps in its directory.
const (
	selfSignedCertFile = "cert.pem"
	selfSignedKeyFile  = "key.pem"
)

// selfSignedValidity is how long a generated certificate is valid;
// selfSignedMinLeft is how much validity an existing one must have left
// to be reused.
const (
	selfSignedValidity = 365 * 24 * time.Hour
	selfSignedMinLeft  = 24 * time.Hour
)

// SelfSignedCert provides the certificate for auto-TLS: an ECDSA P-256
// certificate signed by its own key, valid for one year, with hosts (IP
// addresses or DNS names) as its subject alternative names, usable for
// both server and client authentication. It keeps cert.pem and key.pem
// in dir and reuses them when they are present, match each other, cover
// hosts and have more than a day of validity left; otherwise it makes new
// ones (the key file is readable by the owner only).
func SelfSignedCert(dir string, hosts []string) (certFile, keyFile string, err error) {
	certFile = filepath.Join(dir, selfSignedCertFile)
	keyFile = filepath.Join(dir, selfSignedKeyFile)
	if reusable(certFile, keyFile, hosts) {
		return certFile, keyFile, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", fmt.Errorf("rpc: auto-TLS directory: %w", err)
	}
	certPEM, keyPEM, err := newSelfSigned(hosts, time.Now())
	if err != nil {
		return "", "", err
	}
	if err := writeFileAtomic(keyFile, keyPEM, 0o600); err != nil {
		return "", "", err
	}
	if err := writeFileAtomic(certFile, certPEM, 0o644); err != nil {
		return "", "", err
	}
	return certFile, keyFile, nil
}

// reusable reports whether the files hold a matching certificate and key
// that cover hosts and stay valid for a while.
func reusable(certFile, keyFile string, hosts []string) bool {
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return false
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil || time.Until(leaf.NotAfter) < selfSignedMinLeft || time.Now().Before(leaf.NotBefore) {
		return false
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			if !slices.ContainsFunc(leaf.IPAddresses, ip.Equal) {
				return false
			}
		} else if !slices.Contains(leaf.DNSNames, h) {
			return false
		}
	}
	return true
}

// newSelfSigned makes a self-signed certificate and its key, PEM-encoded.
func newSelfSigned(hosts []string, now time.Time) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("rpc: generating auto-TLS key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, fmt.Errorf("rpc: generating auto-TLS serial: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{Organization: []string{"cairn auto-TLS"}, CommonName: "cairn"},
		NotBefore:             now.Add(-time.Hour), // tolerate small clock skew
		NotAfter:              now.Add(selfSignedValidity),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("rpc: creating auto-TLS certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("rpc: encoding auto-TLS key: %w", err)
	}
	var cb, kb bytes.Buffer
	pem.Encode(&cb, &pem.Block{Type: "CERTIFICATE", Bytes: der})
	pem.Encode(&kb, &pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	return cb.Bytes(), kb.Bytes(), nil
}

// writeFileAtomic writes data to a temporary file and renames it over
// name, so a crash never leaves half a certificate behind.
func writeFileAtomic(name string, data []byte, perm os.FileMode) error {
	tmp := name + ".tmp"
	os.Remove(tmp) // a leftover might have other permissions
	if err := os.WriteFile(tmp, data, perm); err != nil {
		return fmt.Errorf("rpc: writing %s: %w", name, err)
	}
	if err := os.Rename(tmp, name); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("rpc: writing %s: %w", name, err)
	}
	return nil
}
