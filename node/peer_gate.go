package node

import (
	"context"
	"crypto/hmac"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/node/replica"
	"github.com/cairndb/cairn/rpc"
)

// peerGate runs the peer handshake (peer_handshake.go) for one member: as
// the listener it decides who may use the peer port, as the dialer it
// proves this member to the others.
type peerGate struct {
	id uint64
	// identity is the cluster's as this member holds it (nil until a
	// member that lost it, or joins, is given it), committed whether it
	// is committed, campaigned whether it is campaigned (its state,
	// peer_identity.go).
	identity   atomic.Pointer[clusterIdentity]
	committed  atomic.Bool
	campaigned atomic.Bool
	// confirm says whether a peer proved the identity this member holds,
	// and why the last handshake failed on it until then
	// (peer_confirm.go).
	confirm *replica.PeerConfirmation
	joinKey []byte
	members *replica.Members
	// initial are the peer URLs of --initial-cluster (or, for a member
	// that joined, of the members it learned when it joined), for
	// members the registry does not list yet.
	initial map[uint64][]string
	// allowedCNs and allowedHostnames are --peer-cert-allowed-cn and
	// --peer-cert-allowed-hostname.
	allowedCNs, allowedHostnames []string
	// lookupIP resolves a peer URL's host name (net.DefaultResolver).
	lookupIP func(ctx context.Context, host string) ([]net.IP, error)
	log      *slog.Logger
}

// peerKey marks the context of a connection whose member the handshake
// proved: its value is a provenMember.
type peerKey struct{}

// provenMember is the member a connection's handshake proved, and the
// incarnation it proved it under.
type provenMember struct {
	ID, Incarnation uint64
}

// provenPeer is the member the handshake proved on the connection of a
// peer handler's context.
func provenPeer(ctx context.Context) (uint64, bool) {
	p, ok := ctx.Value(peerKey{}).(provenMember)
	return p.ID, ok && p.ID != 0
}

// current reports whether the connection of ctx was proved under the
// identity this member holds now (it may have adopted another since: see
// peer_identity.go).
func (g *peerGate) current(ctx context.Context) bool {
	p, ok := ctx.Value(peerKey{}).(provenMember)
	id := g.identity.Load()
	return ok && p.ID != 0 && id != nil && p.Incarnation == id.Incarnation
}

// provenStream serves a peer stream only on a connection proved under
// the current identity.
func (g *peerGate) provenStream(h rpc.StreamHandler) rpc.StreamHandler {
	return func(ctx context.Context, st *rpc.Stream) error {
		if !g.current(ctx) {
			return errUnproven
		}
		return h(ctx, st)
	}
}

// provenUnary serves a peer call only on a connection proved under the
// current identity.
func (g *peerGate) provenUnary(h rpc.UnaryHandler) rpc.UnaryHandler {
	return func(ctx context.Context, req []byte) ([]byte, error) {
		if !g.current(ctx) {
			return nil, errUnproven
		}
		return h(ctx, req)
	}
}

// errUnproven refuses a call on a peer connection that proved no member
// (a join exchange's), or proved it under an identity this member no
// longer holds.
var errUnproven = api.Errorf(api.CodePermissionDenied, "this peer connection proved no member of this member's cluster identity")

// errPeerUnproven is a peer's answer to this member's handshake that does
// not prove the cluster secret this member holds.
var errPeerUnproven = errors.New("peer handshake")

// errNoClusterSecret says this member cannot prove itself yet.
var errNoClusterSecret = errors.New("node: this member has not received the cluster secret yet")

// peerRefusedError is another member's refusal of this member's
// handshake, in its words.
type peerRefusedError struct {
	Member uint64 // 0 if unknown (a join exchange)
	Addr   string
	Why    string
}

func (e *peerRefusedError) Error() string {
	if e.Member == 0 {
		return fmt.Sprintf("the member at %s refused this member's handshake: %s", e.Addr, e.Why)
	}
	return fmt.Sprintf("member %016x at %s refused this member's handshake: %s", e.Member, e.Addr, e.Why)
}

// peerRemovedError is another member saying this member was removed from
// the cluster.
type peerRemovedError struct {
	Member uint64
	Why    string
}

func (e *peerRemovedError) Error() string {
	return fmt.Sprintf("member %016x says: %s", e.Member, e.Why)
}

// accept is the listener's side (rpc.ServerOptions.Authenticate).
func (g *peerGate) accept(ctx context.Context, rw io.ReadWriter, info rpc.AuthInfo) (context.Context, error) {
	nonce, err := newPeerNonce()
	if err != nil {
		return nil, err
	}
	if _, err := rw.Write(peerChallenge{Nonce: nonce}.append(nil)); err != nil {
		return nil, fmt.Errorf("peer handshake with %s: %w", info.Remote, err)
	}
	h, err := readPeerHello(rw)
	if err != nil {
		return nil, fmt.Errorf("peer handshake with %s: %w", info.Remote, err)
	}
	id := g.identity.Load()
	if id == nil {
		return nil, g.refuse(rw, h.Mode, "this member has not received the cluster secret yet; try again later",
			"peer handshake with %s: refused: this member (%016x) has not received the cluster secret yet", info.Remote, g.id)
	}
	if h.Mode == peerModeJoin {
		if err := g.acceptJoin(ctx, rw, info, nonce, h, id); err != nil {
			return nil, err
		}
		return ctx, nil // proves nothing: nothing is served on it
	}
	from, err := g.acceptMember(rw, info, nonce, h, id)
	if err != nil {
		return nil, err
	}
	g.confirmIdentity(from)
	return context.WithValue(ctx, peerKey{}, provenMember{ID: from, Incarnation: id.Incarnation}), nil
}

// refuse tells the dialer why (toDialer) and returns the error the
// listener logs (format, args).
func (g *peerGate) refuse(w io.Writer, mode byte, toDialer, format string, args ...any) error {
	a := peerAnswer{Status: peerAnswerRefused, Text: toDialer}
	_, _ = w.Write(a.append(nil, mode))
	return fmt.Errorf(format, args...)
}

// acceptMember checks a member-mode hello (see peer_handshake.go for the
// order) and answers it; it returns the proven member.
func (g *peerGate) acceptMember(rw io.ReadWriter, info rpc.AuthInfo, nonce peerNonce, h peerHello, id *clusterIdentity) (uint64, error) {
	claim := fmt.Sprintf("member %016x of cluster %016x incarnation %016x", h.From, h.Cluster, h.Incarnation)
	self := fmt.Sprintf("member %016x of %s", g.id, id)
	want := memberMAC(id.Secret[:], labelMemberHello, nonce, h.Nonce, h.Cluster, h.Incarnation, h.From, h.To)
	if !hmac.Equal(want[:], h.MAC[:]) {
		g.confirm.NoteRefused(fmt.Sprintf("this member refused the peer at %s, which claims to be %s: its proof does not match this member's cluster secret", info.Remote, claim))
		return 0, g.refuse(rw, h.Mode,
			fmt.Sprintf("the proof of %s does not match the cluster secret of the member at this address: this member belongs to another cluster, or holds another cluster's data dir, or is not a member", claim),
			"peer handshake refused: the peer at %s claims to be %s, but its proof does not match the cluster secret of this member, %s: it belongs to another cluster, or holds another cluster's data dir, or is not a member",
			info.Remote, claim, self)
	}
	switch {
	case h.Cluster != id.Cluster || h.Incarnation != id.Incarnation:
		g.confirm.NoteRefused(fmt.Sprintf("this member refused the peer at %s: it is %s", info.Remote, claim))
		return 0, g.refuse(rw, h.Mode, fmt.Sprintf("this is %s; you are %s", self, claim),
			"peer handshake refused: the peer at %s is %s; this is %s", info.Remote, claim, self)
	case h.To != g.id:
		return 0, g.refuse(rw, h.Mode, fmt.Sprintf("this is %s, not member %016x", self, h.To),
			"peer handshake refused: the peer at %s, %s, called member %016x; this is %s", info.Remote, claim, h.To, self)
	case h.From == g.id:
		return 0, g.refuse(rw, h.Mode, fmt.Sprintf("this is %s: you claim to be it", self),
			"peer handshake refused: the peer at %s claims to be this member, %s", info.Remote, self)
	}
	if g.members.IsRemoved(h.From) {
		a := peerAnswer{Status: peerAnswerRemoved, Text: fmt.Sprintf("member %016x was removed from cluster %016x", h.From, id.Cluster)}
		_, _ = rw.Write(a.append(nil, h.Mode))
		return 0, fmt.Errorf("peer handshake refused: the peer at %s is member %016x, which was removed from the cluster; told it so", info.Remote, h.From)
	}
	urls, ok := g.memberURLs(h.From)
	if !ok {
		return 0, g.refuse(rw, h.Mode, fmt.Sprintf("member %016x is not a member of cluster %016x (as far as this member knows yet)", h.From, id.Cluster),
			"peer handshake refused: the peer at %s, %s, is not a member of the cluster (as far as this member, %s, knows yet)", info.Remote, claim, self)
	}
	if cert := verifiedCert(info); cert != nil {
		if err := checkPeerCertificate(cert, urls, g.allowedCNs, g.allowedHostnames); err != nil {
			return 0, g.refuse(rw, h.Mode, fmt.Sprintf("member %016x: %v", h.From, err),
				"peer handshake refused: the peer at %s, %s: %v", info.Remote, claim, err)
		}
	}
	a := peerAnswer{Status: peerAnswerOK, MAC: memberMAC(id.Secret[:], labelMemberAnswer, nonce, h.Nonce, id.Cluster, id.Incarnation, h.From, g.id)}
	if _, err := rw.Write(a.append(nil, h.Mode)); err != nil {
		return 0, fmt.Errorf("peer handshake with %s: %w", info.Remote, err)
	}
	return h.From, nil
}

// acceptJoin answers a member asking for the cluster's identity.
func (g *peerGate) acceptJoin(ctx context.Context, rw io.ReadWriter, info rpc.AuthInfo, nonce peerNonce, h peerHello, id *clusterIdentity) error {
	self := fmt.Sprintf("member %016x of %s", g.id, id)
	claimed := printable(h.PeerURLs)
	want := joinMAC(g.joinKey, labelJoinHello, nonce, h.Nonce, h.PeerURLs)
	if !hmac.Equal(want[:], h.MAC[:]) {
		return g.refuse(rw, h.Mode,
			"the proof of --initial-cluster-token does not match the cluster's: start the member with the --initial-cluster-token the cluster was started with",
			"peer handshake refused: the peer at %s asked for the cluster secret as the member with peer URLs %s, but its proof of --initial-cluster-token does not match the one of this member, %s",
			info.Remote, claimed, self)
	}
	urls := strings.Split(h.PeerURLs, ",")
	member, started, found := g.pendingMember(urls)
	switch {
	case !found:
		return g.refuse(rw, h.Mode,
			fmt.Sprintf("the cluster has no member with peer URLs %s: add it first (ctl member add NAME --peer-urls=%s)", claimed, claimed),
			"peer handshake refused: the peer at %s asked for the cluster secret as the member with peer URLs %s, which the cluster does not have (this is %s)",
			info.Remote, claimed, self)
	case started:
		return g.refuse(rw, h.Mode,
			fmt.Sprintf("the member with peer URLs %s has started before: it is not given the cluster secret again; copy member/%s from another member's data dir into its own", claimed, clusterSecretFile),
			"peer handshake refused: the peer at %s asked for the cluster secret as member %016x (peer URLs %s), which has started before (this is %s)",
			info.Remote, member, claimed, self)
	}
	var err error
	if cert := verifiedCert(info); cert != nil {
		err = checkPeerCertificate(cert, urls, g.allowedCNs, g.allowedHostnames)
	} else {
		err = g.fromHostOf(ctx, info.Remote, urls)
	}
	if err != nil {
		return g.refuse(rw, h.Mode, fmt.Sprintf("the member with peer URLs %s: %v", claimed, err),
			"peer handshake refused: the peer at %s asking for the cluster secret as member %016x: %v", info.Remote, member, err)
	}
	j := *g.held()
	j.Member = member
	sealed := sealJoined(g.joinKey, nonce, h.Nonce, h.PeerURLs, j)
	a := peerAnswer{Status: peerAnswerOK, Sealed: sealed}
	if _, err := rw.Write(a.append(nil, h.Mode)); err != nil {
		return fmt.Errorf("peer handshake with %s: %w", info.Remote, err)
	}
	g.log.Debug("gave the cluster identity to a member starting for the first time", "id", fmt.Sprintf("%016x", member),
		"peer-urls", claimed, "from", info.Remote.String(), "identity", j.Identity.String(), "committed", j.Committed, "campaigned", j.Campaigned)
	return nil
}

// held is the identity this member holds and its state, read together
// (nil if it holds none): an adoption swaps the identity before it
// changes the state, so a state read between two loads of the same
// identity is that identity's.
func (g *peerGate) held() *joinedIdentity {
	for {
		id := g.identity.Load()
		committed, campaigned := g.committed.Load(), g.campaigned.Load()
		if g.identity.Load() != id {
			continue
		}
		if id == nil {
			return nil
		}
		return &joinedIdentity{Identity: *id, Answerer: g.id, Committed: committed, Campaigned: campaigned}
	}
}

// verifiedCert is the dialer's TLS certificate, if the TLS handshake
// verified one.
func verifiedCert(info rpc.AuthInfo) *x509.Certificate {
	if info.TLS == nil || len(info.TLS.VerifiedChains) == 0 || len(info.TLS.PeerCertificates) == 0 {
		return nil
	}
	return info.TLS.PeerCertificates[0]
}

// memberURLs returns the peer URLs of a member this member knows: from
// the registry, or from the initial ones for a member the registry does
// not list yet.
func (g *peerGate) memberURLs(id uint64) ([]string, bool) {
	if m, ok := g.members.Get(id); ok {
		return m.PeerURLs, true
	}
	us, ok := g.initial[id]
	return us, ok
}

// pendingMember finds the member with exactly the peer URLs urls (sorted)
// and says whether it has started before (it published its client URLs).
func (g *peerGate) pendingMember(urls []string) (id uint64, started, found bool) {
	list := g.members.List()
	for _, m := range list {
		if slices.Equal(sortedCopy(m.PeerURLs), urls) {
			return m.ID, len(m.ClientURLs) > 0, true
		}
	}
	if len(list) == 0 {
		// The registry is empty until the bootstrap entries apply.
		for id, us := range g.initial {
			if slices.Equal(sortedCopy(us), urls) {
				return id, false, true
			}
		}
	}
	return 0, false, false
}

// fromHostOf checks that a plain-TCP join request comes from the host
// of one of the peer URLs it asks for.
func (g *peerGate) fromHostOf(ctx context.Context, remote net.Addr, urls []string) error {
	tcp, ok := remote.(*net.TCPAddr)
	if !ok {
		return fmt.Errorf("the request comes from %s, not a TCP address", remote)
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	var hosts []string
	for _, raw := range urls {
		host := urlHost(raw)
		if host == "" {
			continue
		}
		hosts = append(hosts, host)
		ips := []net.IP{net.ParseIP(host)}
		if ips[0] == nil {
			var err error
			if ips, err = g.lookupIP(ctx, host); err != nil {
				continue
			}
		}
		if slices.ContainsFunc(ips, tcp.IP.Equal) {
			return nil
		}
	}
	return fmt.Errorf("the request comes from %s, which is not the host of its peer URLs (%s)", tcp.IP, strings.Join(hosts, ","))
}

// urlHost is the host name of a URL ("" if it has none).
func urlHost(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Hostname()
}

// dialProof is the dialer's side to member to
// (rpc.DialOptions.Authenticate).
func (g *peerGate) dialProof(to uint64) rpc.ClientAuthenticate {
	return func(rw io.ReadWriter, info rpc.AuthInfo) error {
		id := g.identity.Load()
		if id == nil {
			return errNoClusterSecret
		}
		err := proveMember(rw, info, id, g.id, to)
		var refused *peerRefusedError
		switch {
		case err == nil:
			g.confirmIdentity(to)
		case errors.As(err, &refused), errors.Is(err, errPeerUnproven):
			g.confirm.NoteRefused(err.Error())
		}
		return err
	}
}

// proveMember runs the dialer's side of a member-mode handshake: this
// member, from, of the cluster id, calls member to.
func proveMember(rw io.ReadWriter, info rpc.AuthInfo, id *clusterIdentity, from, to uint64) error {
	ch, err := readPeerChallenge(rw)
	if err != nil {
		return err
	}
	nonce, err := newPeerNonce()
	if err != nil {
		return err
	}
	h := peerHello{Mode: peerModeMember, Cluster: id.Cluster, Incarnation: id.Incarnation, From: from, To: to, Nonce: nonce}
	h.MAC = memberMAC(id.Secret[:], labelMemberHello, ch.Nonce, nonce, h.Cluster, h.Incarnation, from, to)
	if _, err := rw.Write(h.append(nil)); err != nil {
		return err
	}
	a, err := readPeerAnswer(rw, peerModeMember)
	if err != nil {
		return err
	}
	switch a.Status {
	case peerAnswerRemoved:
		return &peerRemovedError{Member: to, Why: printable(a.Text)}
	case peerAnswerRefused:
		return &peerRefusedError{Member: to, Addr: info.Remote.String(), Why: printable(a.Text)}
	}
	want := memberMAC(id.Secret[:], labelMemberAnswer, ch.Nonce, nonce, id.Cluster, id.Incarnation, from, to)
	if !hmac.Equal(want[:], a.MAC[:]) {
		return fmt.Errorf("%w: the peer at %s, called as member %016x, does not prove it holds the cluster secret of this member, member %016x of %s: it belongs to another cluster, or holds another cluster's data dir, or is not a member",
			errPeerUnproven, info.Remote, to, from, id)
	}
	return nil
}

// joinProof is the dialer's side of a join exchange: the member with peer
// URLs urls (sorted) asks for the cluster's identity, proving it knows the
// cluster token; out receives the answer.
func joinProof(joinKey []byte, urls []string, out *joinedIdentity) rpc.ClientAuthenticate {
	peerURLs := strings.Join(urls, ",")
	return func(rw io.ReadWriter, info rpc.AuthInfo) error {
		ch, err := readPeerChallenge(rw)
		if err != nil {
			return err
		}
		nonce, err := newPeerNonce()
		if err != nil {
			return err
		}
		h := peerHello{Mode: peerModeJoin, PeerURLs: peerURLs, Nonce: nonce}
		h.MAC = joinMAC(joinKey, labelJoinHello, ch.Nonce, nonce, peerURLs)
		if _, err := rw.Write(h.append(nil)); err != nil {
			return err
		}
		a, err := readPeerAnswer(rw, peerModeJoin)
		if err != nil {
			return err
		}
		if a.Status != peerAnswerOK {
			return &peerRefusedError{Addr: info.Remote.String(), Why: printable(a.Text)}
		}
		j, err := openJoined(joinKey, ch.Nonce, nonce, peerURLs, a.Sealed)
		if err != nil {
			return fmt.Errorf("the member at %s answered the request for the cluster secret, but %w", info.Remote, err)
		}
		*out = j
		return nil
	}
}
