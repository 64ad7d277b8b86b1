package node

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"

	"github.com/cairndb/cairn/internal/datadir"
	"github.com/cairndb/cairn/internal/testcerts"
	"github.com/cairndb/cairn/node/replica"
	"github.com/cairndb/cairn/raftcore"
	"github.com/cairndb/cairn/rpc"
)

// A test cluster's view, as member 1 holds it: members 1 and 2 on
// 127.0.0.1, member 3 removed, member 4 added but never started (on
// 127.0.0.2).
const (
	gateSelf    = 1
	gatePeer    = 2
	gateRemoved = 3
	gatePending = 4
)

var gateURLs = map[uint64]string{
	gateSelf:    "http://127.0.0.1:2380",
	gatePeer:    "http://127.0.0.1:2381",
	gateRemoved: "http://127.0.0.1:2382",
	gatePending: "http://127.0.0.2:2383",
}

func newTestGate(t *testing.T, identity *clusterIdentity) *peerGate {
	ms := replica.NewMembers()
	for _, id := range []uint64{gateSelf, gatePeer, gateRemoved, gatePending} {
		ms.Apply(raftcore.ConfChange{Type: raftcore.AddVoter, NodeID: id}, datadir.EncodeMember(Member{ID: id, PeerURLs: []string{gateURLs[id]}}))
		if id != gatePending {
			ms.SetClientURLs(id, "", []string{"http://127.0.0.1:2379"})
		}
	}
	ms.Apply(raftcore.ConfChange{Type: raftcore.RemoveNode, NodeID: gateRemoved}, nil)
	g := &peerGate{id: gateSelf, joinKey: joinKeyOf("token"), members: ms, initial: map[uint64][]string{},
		confirm:  replica.NewPeerConfirmation(false, false),
		lookupIP: func(ctx context.Context, host string) ([]net.IP, error) { return nil, errors.New("no DNS in tests") },
		log:      slog.New(slog.DiscardHandler)}
	if identity != nil {
		g.identity.Store(identity)
	}
	g.committed.Store(true)
	return g
}

func mustIdentity(t *testing.T, cluster uint64) *clusterIdentity {
	id, err := newClusterIdentity(cluster, gateSelf)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// gateRun is the outcome of one handshake.
type gateRun struct {
	ctx       context.Context
	serverErr error
	clientErr error
}

// runGate runs g's listener side against dial over an in-memory
// connection; the listener sees the dialer at remote, with TLS state
// state (nil: plain TCP).
func runGate(g *peerGate, remote string, state *tls.ConnectionState, dial rpc.ClientAuthenticate) gateRun {
	srv, cli := net.Pipe()
	addr, _ := net.ResolveTCPAddr("tcp", remote)
	done := make(chan gateRun, 1)
	go func() {
		ctx, err := g.accept(context.Background(), srv, rpc.AuthInfo{Remote: addr, TLS: state})
		srv.Close()
		done <- gateRun{ctx: ctx, serverErr: err}
	}()
	clientErr := dial(cli, rpc.AuthInfo{Remote: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 2380}})
	cli.Close()
	r := <-done
	r.clientErr = clientErr
	return r
}

func asMember(id *clusterIdentity, from, to uint64) rpc.ClientAuthenticate {
	return func(rw io.ReadWriter, info rpc.AuthInfo) error { return proveMember(rw, info, id, from, to) }
}

func TestGateMemberHandshake(t *testing.T) {
	mine := mustIdentity(t, 0xc1)
	twin := mustIdentity(t, 0xc1) // another cluster started alike: same id
	sameSecret := *mine
	sameSecret.Incarnation++
	for _, tc := range []struct {
		name string
		// nil identity: the gate has none yet.
		gate       *clusterIdentity
		id         *clusterIdentity
		from, to   uint64
		clientWant string // in the dialer's error ("" for none)
		serverWant []string
		removed    bool
	}{
		{name: "a member", gate: mine, id: mine, from: gatePeer, to: gateSelf},
		{name: "another cluster with the same id", gate: mine, id: twin, from: gatePeer, to: gateSelf,
			clientWant: "does not match the cluster secret",
			serverWant: []string{twin.String(), mine.String(), "another cluster"}},
		{name: "another incarnation with the secret", gate: mine, id: &sameSecret, from: gatePeer, to: gateSelf,
			clientWant: mine.String(), serverWant: []string{sameSecret.String(), mine.String()}},
		{name: "a call for another member", gate: mine, id: mine, from: gatePeer, to: 9,
			clientWant: "not member 0000000000000009", serverWant: []string{"called member 0000000000000009"}},
		{name: "claiming to be the listener", gate: mine, id: mine, from: gateSelf, to: gateSelf,
			clientWant: "you claim to be it", serverWant: []string{"claims to be this member"}},
		{name: "a stranger holding the secret", gate: mine, id: mine, from: 9, to: gateSelf,
			clientWant: "is not a member", serverWant: []string{"is not a member"}},
		{name: "a removed member", gate: mine, id: mine, from: gateRemoved, to: gateSelf, removed: true,
			serverWant: []string{"removed from the cluster"}},
		{name: "a listener without the secret yet", gate: nil, id: mine, from: gatePeer, to: gateSelf,
			clientWant: "has not received the cluster secret", serverWant: []string{"has not received the cluster secret"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runGate(newTestGate(t, tc.gate), "127.0.0.1:5000", nil, asMember(tc.id, tc.from, tc.to))
			if tc.clientWant == "" && !tc.removed {
				if r.serverErr != nil || r.clientErr != nil {
					t.Fatalf("listener: %v; dialer: %v", r.serverErr, r.clientErr)
				}
				if from, ok := provenPeer(r.ctx); !ok || from != tc.from {
					t.Fatalf("proven peer %x %v, want %x", from, ok, tc.from)
				}
				return
			}
			if r.serverErr == nil {
				t.Fatal("the listener took the dialer")
			}
			for _, w := range tc.serverWant {
				if !strings.Contains(r.serverErr.Error(), w) {
					t.Errorf("listener's error %q does not say %q", r.serverErr, w)
				}
			}
			var refused *peerRefusedError
			var removed *peerRemovedError
			switch {
			case tc.removed && !errors.As(r.clientErr, &removed):
				t.Fatalf("dialer's error %v, want to be told it was removed", r.clientErr)
			case !tc.removed && (!errors.As(r.clientErr, &refused) || !strings.Contains(r.clientErr.Error(), tc.clientWant)):
				t.Fatalf("dialer's error %v, want a refusal saying %q", r.clientErr, tc.clientWant)
			}
		})
	}
}

// The listener proves itself too: one that answers yes without the
// secret is refused by the dialer.
func TestGateDialerChecksTheListener(t *testing.T) {
	mine := mustIdentity(t, 0xc1)
	srv, cli := net.Pipe()
	defer srv.Close()
	go func() {
		_, _ = srv.Write(peerChallenge{Nonce: testNonce(1)}.append(nil))
		if _, err := readPeerHello(srv); err != nil {
			return
		}
		_, _ = srv.Write((&peerAnswer{Status: peerAnswerOK}).append(nil, peerModeMember))
	}()
	err := proveMember(cli, rpc.AuthInfo{Remote: &net.TCPAddr{}}, mine, gatePeer, gateSelf)
	if err == nil || !strings.Contains(err.Error(), "does not prove it holds the cluster secret") {
		t.Fatalf("a listener without the secret: %v", err)
	}
}

// verifiedState is the TLS state of a connection whose client
// certificate was verified.
func verifiedState(t *testing.T, c tls.Certificate) *tls.ConnectionState {
	cert, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	return &tls.ConnectionState{PeerCertificates: []*x509.Certificate{cert}, VerifiedChains: [][]*x509.Certificate{{cert}}}
}

// With peer TLS and client certificates, a member proves its host too: a
// client certificate from the CA the clients share is not a member's.
func TestGateChecksCertificates(t *testing.T) {
	mine := mustIdentity(t, 0xc1)
	ca := testcerts.NewCA(t, "shared CA")
	peerCert := ca.IssueFor(t, "m2", []string{"127.0.0.1"})
	alice := ca.IssueFor(t, "alice", nil)
	for _, tc := range []struct {
		name       string
		cert       tls.Certificate
		cns, hosts []string
		ok         bool
	}{
		{"the member's certificate", peerCert, nil, nil, true},
		{"a user's client certificate", alice, nil, nil, false},
		{"a user's, its common name allowed", alice, []string{"alice"}, nil, true},
		{"the member's, other common names allowed", peerCert, []string{"peer"}, nil, false},
		{"the member's, its host allowed", peerCert, nil, []string{"127.0.0.1"}, true},
		{"a user's, a host allowed", alice, nil, []string{"127.0.0.1"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newTestGate(t, mine)
			g.allowedCNs, g.allowedHostnames = tc.cns, tc.hosts
			r := runGate(g, "127.0.0.1:5000", verifiedState(t, tc.cert), asMember(mine, gatePeer, gateSelf))
			if (r.serverErr == nil) != tc.ok || (r.clientErr == nil) != tc.ok {
				t.Fatalf("listener: %v; dialer: %v", r.serverErr, r.clientErr)
			}
			if !tc.ok && !strings.Contains(r.clientErr.Error(), "certificate") {
				t.Fatalf("dialer's error does not say its certificate is refused: %v", r.clientErr)
			}
		})
	}
}

func TestGateJoin(t *testing.T) {
	mine := mustIdentity(t, 0xc1)
	ca := testcerts.NewCA(t, "shared CA")
	pendingURLs := []string{gateURLs[gatePending]}
	for _, tc := range []struct {
		name   string
		token  string
		urls   []string
		remote string
		state  *tls.ConnectionState
		want   string // in both errors; "" for success
	}{
		{name: "a member added, from its host", token: "token", urls: pendingURLs, remote: "127.0.0.2:4000"},
		{name: "with a certificate for its host", token: "token", urls: pendingURLs, remote: "10.1.1.1:4000",
			state: verifiedState(t, ca.IssueFor(t, "m4", []string{"127.0.0.2"}))},
		{name: "a wrong token", token: "wrong", urls: pendingURLs, remote: "127.0.0.2:4000", want: "--initial-cluster-token"},
		{name: "from another host", token: "token", urls: pendingURLs, remote: "127.0.0.9:4000", want: "not the host of its peer URLs"},
		{name: "with a user's certificate", token: "token", urls: pendingURLs, remote: "127.0.0.2:4000",
			state: verifiedState(t, ca.IssueFor(t, "alice", nil)), want: "certificate"},
		{name: "a member that has started", token: "token", urls: []string{gateURLs[gatePeer]}, remote: "127.0.0.1:4000", want: "has started before"},
		{name: "peer URLs of no member", token: "token", urls: []string{"http://127.0.0.2:9999"}, remote: "127.0.0.2:4000", want: "no member with peer URLs"},
		{name: "a removed member's peer URLs", token: "token", urls: []string{gateURLs[gateRemoved]}, remote: "127.0.0.1:4000", want: "no member with peer URLs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var j joinedIdentity
			r := runGate(newTestGate(t, mine), tc.remote, tc.state, joinProof(joinKeyOf(tc.token), tc.urls, &j))
			if tc.want == "" {
				if r.serverErr != nil || r.clientErr != nil {
					t.Fatalf("listener: %v; dialer: %v", r.serverErr, r.clientErr)
				}
				if j.Identity != *mine || j.Member != gatePending || j.Answerer != gateSelf || !j.Committed {
					t.Fatalf("joined as %+v", j)
				}
				if _, ok := provenPeer(r.ctx); ok {
					t.Fatal("a join connection proved a member")
				}
				return
			}
			if r.serverErr == nil || r.clientErr == nil || !strings.Contains(r.serverErr.Error(), tc.want) && !strings.Contains(r.clientErr.Error(), tc.want) {
				t.Fatalf("listener: %v; dialer: %v; want a refusal saying %q", r.serverErr, r.clientErr, tc.want)
			}
			if j != (joinedIdentity{}) {
				t.Fatalf("a refused join got %+v", j)
			}
		})
	}
}

// Once this member adopts another identity (peer_identity.go), the
// connections proved under the old one are served nothing more.
func TestGateServesOnlyTheCurrentIdentity(t *testing.T) {
	mine := mustIdentity(t, 0xc1)
	g := newTestGate(t, mine)
	r := runGate(g, "127.0.0.1:5000", nil, asMember(mine, gatePeer, gateSelf))
	if r.serverErr != nil || r.clientErr != nil {
		t.Fatalf("listener: %v; dialer: %v", r.serverErr, r.clientErr)
	}
	h := g.provenUnary(func(ctx context.Context, req []byte) ([]byte, error) { return []byte("served"), nil })
	if _, err := h(r.ctx, nil); err != nil {
		t.Fatalf("a proven connection: %v", err)
	}
	if _, err := h(context.Background(), nil); !errors.Is(err, errUnproven) {
		t.Fatalf("an unproven connection: %v", err)
	}
	g.identity.Store(mustIdentity(t, 0xc1))
	if _, err := h(r.ctx, nil); !errors.Is(err, errUnproven) {
		t.Fatalf("a connection proved under the identity this member left: %v", err)
	}
}
