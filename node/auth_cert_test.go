package node_test

import (
	"bytes"
	"crypto/tls"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/internal/testcerts"
	"github.com/cairndb/cairn/node"
	"github.com/cairndb/cairn/node/nodetest"
	"github.com/cairndb/cairn/rpc"
)

// logBuffer collects a member's log lines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startLoggedMember starts a single member whose log goes to the
// returned buffer, serving clients with clientTLS.
func startLoggedMember(t *testing.T, clientTLS *tls.Config) (*node.Server, *logBuffer) {
	t.Helper()
	pl, cl := nodetest.Listen(t), nodetest.Listen(t)
	cfg := node.DefaultConfig()
	cfg.Name = "m0"
	cfg.DataDir = t.TempDir()
	cfg.ListenPeerURLs = []url.URL{nodetest.URL(pl)}
	cfg.InitialAdvertisePeerURLs = cfg.ListenPeerURLs
	cfg.ListenClientURLs = []url.URL{{Scheme: "https", Host: cl.Addr().String()}}
	cfg.AdvertiseClientURLs = cfg.ListenClientURLs
	cfg.InitialCluster = map[string][]url.URL{"m0": cfg.ListenPeerURLs}
	cfg.HeartbeatInterval, cfg.ElectionTimeout = 10*time.Millisecond, 100*time.Millisecond
	cfg.BcryptCost = 4 // bcrypt's lowest cost: cheap hashes
	logs := &logBuffer{}
	s, err := node.NewServer(cfg, node.ServerOptions{ClientListeners: []net.Listener{cl}, PeerListeners: []net.Listener{pl},
		ClientTLS: clientTLS, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	deadline := time.Now().Add(10 * time.Second)
	for s.Leader() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no leader")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return s, logs
}

// On a listener that requires client certificates, the certificate's
// common name is the user; a client without a certificate does not get
// past the TLS handshake; refusals are logged.
func TestAuthClientCertificateCommonName(t *testing.T) {
	ca := testcerts.NewCA(t, "test CA")
	serverTLS := &tls.Config{Certificates: []tls.Certificate{ca.Issue(t, "server")}, ClientCAs: ca.Pool(),
		ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12}
	s, logs := startLoggedMember(t, serverTLS)
	addr := s.ClientAddrs()[0]
	dialAs := func(cn string) (*rpc.Conn, error) {
		cfg := &tls.Config{RootCAs: ca.Pool(), MinVersion: tls.VersionTLS12}
		if cn != "" {
			cfg.Certificates = []tls.Certificate{ca.Issue(t, cn)}
		}
		conn, err := rpc.Dial(ctxT(t), addr, rpc.DialOptions{TLS: cfg, DialTimeout: 2 * time.Second})
		if err == nil {
			t.Cleanup(func() { conn.Close() })
		}
		return conn, err
	}
	// A client without a certificate is refused by the TLS handshake.
	if _, err := dialAs(""); err == nil || !strings.Contains(err.Error(), "certificate required") {
		t.Fatalf("dial without a client certificate: %v", err)
	}

	// Set up through root's certificate while auth is off, then enable.
	rootConn, err := dialAs("root")
	if err != nil {
		t.Fatal(err)
	}
	setUpAuth(t, rootConn)
	alice, err := dialAs("alice")
	if err != nil {
		t.Fatal(err)
	}
	if err := (asUser{t, alice, ""}).put("app/x"); err != nil {
		t.Fatalf("alice by certificate: %v", err)
	}
	wantCode(t, "alice by certificate, forbidden key", asUser{t, alice, ""}.get("secret", ""), api.ErrPermissionDenied)
	// A certificate of a user that does not exist.
	mallory, err := dialAs("mallory")
	if err != nil {
		t.Fatal(err)
	}
	wantCode(t, "unknown user's certificate", asUser{t, mallory, ""}.get("app/x", ""), api.ErrPermissionDenied)
	// Root's certificate administers.
	if err := (asUser{t, rootConn, ""}).call(api.MethodUserList, &api.UserListRequest{}, &api.UserListResponse{}); err != nil {
		t.Fatalf("root by certificate: %v", err)
	}
	// A token takes precedence over the certificate.
	tok := mustAuthenticate(t, rootConn, "alice", "alicepw")
	wantCode(t, "alice's token on root's connection", asUser{t, rootConn, tok}.call(api.MethodUserList, &api.UserListRequest{}, &api.UserListResponse{}), api.ErrPermissionDenied)

	// Every refusal was logged with the user, the method and the keys.
	out := logs.String()
	for _, want := range []string{
		`msg="auth: request refused" method=Range user=alice`, `keys="key \"secret\""`,
		`method=Range user=mallory`, `method=UserList user=alice`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %s:\n%s", want, out)
		}
	}
	if !strings.Contains(out, "level=WARN") {
		t.Error("refusals not logged at warn level")
	}

	// Turning auth off opens everything again (single member).
	if err := (asUser{t, rootConn, ""}).call(api.MethodAuthDisable, &api.AuthDisableRequest{}, &api.AuthDisableResponse{}); err != nil {
		t.Fatal(err)
	}
	if err := (asUser{t, mallory, ""}).get("secret", ""); err != nil {
		t.Fatalf("with auth off: %v", err)
	}
}
