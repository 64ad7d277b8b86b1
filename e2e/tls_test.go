package e2e

import (
	"crypto/x509"
	"fmt"
	"strings"
	"testing"
	"time"
)

// startTLSCluster starts n cmd/node processes on free ports with https://
// client and peer URLs, member i with the flags extra(i) on top, and
// returns their client endpoints (https:// URLs).
func startTLSCluster(t *testing.T, n int, extra func(i int) []string) []string {
	t.Helper()
	dir := t.TempDir()
	var peers, clients, initial []string
	for i := range n {
		peers = append(peers, fmt.Sprintf("https://127.0.0.1:%d", freePort(t)))
		clients = append(clients, fmt.Sprintf("https://127.0.0.1:%d", freePort(t)))
		initial = append(initial, fmt.Sprintf("m%d=%s", i+1, peers[i]))
	}
	var args [][]string
	for i := range n {
		args = append(args, append([]string{"--name", fmt.Sprintf("m%d", i+1), "--data-dir", fmt.Sprintf("m%d.node", i+1),
			"--listen-client-urls", clients[i], "--listen-peer-urls", peers[i],
			"--initial-cluster", strings.Join(initial, ","), "--initial-cluster-token", "e2e-tls",
			"--heartbeat-interval", "50", "--election-timeout", "500"}, extra(i)...))
	}
	startTogether(t, dir, args) // together: each waits for the others to elect a leader
	return clients
}

// ctlFails runs ctl, which must fail with exit status 1 and say msg.
func ctlFails(t *testing.T, what, msg string, args ...string) {
	t.Helper()
	out, code := ctlCode(t, "", args...)
	if code != 1 || !strings.Contains(out, msg) {
		t.Fatalf("%s: exit %d, output %q; want exit 1 and %q", what, code, out, msg)
	}
}

// The README's TLS set-up with real processes and certificates made by
// a CA of the test's own: client and peer TLS with certificates required
// on both sides. ctl with the CA and a client certificate works; without
// the certificate, or speaking plain text to the TLS port, it fails with
// a message that says what is wrong.
func TestTLSClusterThroughCLI(t *testing.T) {
	pki := newTestPKI(t)
	memberCert, memberKey := pki.issue(t, "member", x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth)
	clientCert, clientKey := pki.issue(t, "client", x509.ExtKeyUsageClientAuth)
	eps := startTLSCluster(t, 3, func(int) []string {
		return []string{"--cert-file", memberCert, "--key-file", memberKey, "--trusted-ca-file", pki.CA, "--client-cert-auth",
			"--peer-cert-file", memberCert, "--peer-key-file", memberKey, "--peer-trusted-ca-file", pki.CA, "--peer-client-cert-auth"}
	})
	endpoints := "--endpoints=" + strings.Join(eps, ",")
	tlsFlags := []string{endpoints, "--cacert", pki.CA, "--cert", clientCert, "--key", clientKey}
	with := func(args ...string) []string { return append(append([]string{}, tlsFlags...), args...) }

	if out := ctl(t, "", with("put", "secure", "yes")...); out != "OK\n" {
		t.Fatalf("put over TLS printed %q", out)
	}
	if out := ctl(t, "", with("get", "secure", "--print-value-only")...); out != "yes\n" {
		t.Fatalf("get over TLS printed %q", out)
	}
	// Every member commits: the members reach each other over peer TLS.
	if out := ctl(t, "", with("endpoint", "health")...); strings.Count(out, "is healthy") != 3 {
		t.Fatalf("endpoint health over TLS:\n%s", out)
	}
	// A member publishes its client URLs once it serves: under load the
	// last one's may not be committed yet (etcd's member list shows such
	// a member without them too).
	for deadline := time.Now().Add(10 * time.Second); ; {
		out := ctl(t, "", with("member", "list")...)
		if strings.Count(out, "https://127.0.0.1:") == 6 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("member list over TLS:\n%s", out)
		}
		time.Sleep(100 * time.Millisecond)
	}

	quick := []string{"--dial-timeout=2s", "--command-timeout=3s"}
	ctlFails(t, "no client certificate on a client-cert-auth port", "the member requires a client certificate: give one signed by its --trusted-ca-file with --cert and --key",
		append([]string{endpoints, "--cacert", pki.CA}, append(quick, "get", "secure")...)...)
	otherCert, otherKey := newTestPKI(t).issue(t, "stranger", x509.ExtKeyUsageClientAuth)
	ctlFails(t, "a client certificate from another CA", "the member refused the client certificate of --cert",
		append([]string{endpoints, "--cacert", pki.CA, "--cert", otherCert, "--key", otherKey}, append(quick, "get", "secure")...)...)
	ctlFails(t, "a member certificate from an unknown CA", "certificate signed by unknown authority; give the CA that signed the members' certificates with --cacert",
		append([]string{endpoints}, append(quick, "get", "secure")...)...)
	plain := "--endpoints=" + strings.TrimPrefix(eps[0], "https://")
	ctlFails(t, "plain text to a TLS port", "expects TLS; use https:// or --cacert",
		append([]string{plain}, append(quick, "get", "secure")...)...)
}

// --auto-tls and --peer-auto-tls: each member makes itself a certificate;
// ctl reaches them with --insecure-skip-tls-verify, and is refused
// without it.
func TestAutoTLSClusterThroughCLI(t *testing.T) {
	eps := startTLSCluster(t, 3, func(int) []string { return []string{"--auto-tls", "--peer-auto-tls"} })
	endpoints := "--endpoints=" + strings.Join(eps, ",")
	if out := ctl(t, "", endpoints, "--insecure-skip-tls-verify", "put", "auto", "tls"); out != "OK\n" {
		t.Fatalf("put over auto-TLS printed %q", out)
	}
	if out := ctl(t, "", endpoints, "--insecure-skip-tls-verify", "endpoint", "health"); strings.Count(out, "is healthy") != 3 {
		t.Fatalf("endpoint health over auto-TLS:\n%s", out)
	}
	ctlFails(t, "auto-TLS without --insecure-skip-tls-verify", "--insecure-skip-tls-verify",
		endpoints, "--dial-timeout=2s", "--command-timeout=3s", "get", "auto")
}
