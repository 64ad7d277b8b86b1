package node

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// The peer handshake runs on every connection to the peer port, right
// after the rpc hellos (and TLS), before any call (rpc's Authenticate
// hooks). The member that listens speaks first and tells nothing about
// itself or its cluster:
//
//	challenge  listener → dialer   u8 version (1), nonce[32]
//	hello      dialer → listener   u8 version, u8 mode, then by mode:
//	  member (1)  u64 cluster, u64 incarnation, u64 from, u64 to,
//	              nonce[32], mac[32]
//	  join (2)    nonce[32], u16 length, peer URLs (sorted, comma-separated),
//	              mac[32]
//	answer     listener → dialer   u8 status, then by status:
//	  ok (0)       member: mac[32]; join: u16 length, sealed identity
//	  refused (1)  u16 length, why (text)
//	  removed (2)  u16 length, why (text): the dialer was removed from the
//	               cluster
//
// In member mode each side proves it holds the cluster secret: the
// dialer's mac is HMAC-SHA256 under the secret of a label, both nonces and
// the four ids it claims; the listener's, of another label and the same.
// The listener checks, in order, the proof (before it the dialer is
// nobody: a refusal repeats only what the dialer claimed), the cluster and
// its incarnation, that it is the member called, that the dialer is a
// member (or was: it is then told it was removed), and with peer TLS and
// client certificates, that the dialer's certificate names its peer URL's
// host, or an allowed common name or host name. Each refusal says which,
// naming both identities in the listener's log.
//
// In join mode a member that has no cluster identity yet asks for it (see
// peer_identity.go): its mac is under a key derived from
// --initial-cluster-token, over the nonces and its peer URLs, and the
// answer seals the identity with AES-256-GCM under a key derived from the
// same and both nonces, so that only a listener that knows the token can
// answer and only the dialer can read it. A join connection carries no
// proof: nothing else is served on it.
const (
	peerHandshakeVersion = 1

	peerModeMember = 1
	peerModeJoin   = 2

	peerAnswerOK      = 0
	peerAnswerRefused = 1
	peerAnswerRemoved = 2

	peerNonceSize = 32
	peerMACSize   = sha256.Size
	// peerMaxText bounds the peer URLs of a join and a refusal's text.
	peerMaxText = 2048
	// peerSealedPlainSize is what a join's answer seals: the cluster,
	// the incarnation, its maker, the joining member, the answering
	// member, the state of the answerer's identity (a byte: 0
	// provisional, 1 committed, 2 campaigned; see peer_identity.go), and
	// the secret; peerSealedSize adds the AEAD tag.
	peerSealedPlainSize = 5*8 + 1 + clusterSecretSize
	peerSealedSize      = peerSealedPlainSize + 16
)

// Labels keep each mac from being taken for another.
const (
	labelMemberHello  = "cairn peer member hello"
	labelMemberAnswer = "cairn peer member answer"
	labelJoinHello    = "cairn peer join hello"
	labelJoinSeal     = "cairn peer join seal"
	labelJoinKey      = "cairn peer join key"
)

type peerNonce = [peerNonceSize]byte
type peerMAC = [peerMACSize]byte

// peerChallenge is the listener's opening.
type peerChallenge struct {
	Nonce peerNonce
}

func (c peerChallenge) append(b []byte) []byte {
	return append(append(b, peerHandshakeVersion), c.Nonce[:]...)
}

func readPeerChallenge(r io.Reader) (peerChallenge, error) {
	var b [1 + peerNonceSize]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return peerChallenge{}, fmt.Errorf("reading the peer challenge: %w", err)
	}
	if b[0] != peerHandshakeVersion {
		return peerChallenge{}, fmt.Errorf("peer handshake version %d, this member speaks %d", b[0], peerHandshakeVersion)
	}
	var c peerChallenge
	copy(c.Nonce[:], b[1:])
	return c, nil
}

// peerHello is the dialer's claim and proof.
type peerHello struct {
	Mode byte
	// Member mode: who the dialer says it is and whom it called.
	Cluster, Incarnation, From, To uint64
	// Join mode: the dialer's peer URLs, sorted, comma-separated.
	PeerURLs string
	Nonce    peerNonce
	MAC      peerMAC
}

func (h *peerHello) append(b []byte) []byte {
	b = append(b, peerHandshakeVersion, h.Mode)
	switch h.Mode {
	case peerModeMember:
		for _, v := range []uint64{h.Cluster, h.Incarnation, h.From, h.To} {
			b = binary.BigEndian.AppendUint64(b, v)
		}
		b = append(b, h.Nonce[:]...)
	case peerModeJoin:
		b = append(b, h.Nonce[:]...)
		b = appendPeerText(b, h.PeerURLs)
	}
	return append(b, h.MAC[:]...)
}

func readPeerHello(r io.Reader) (peerHello, error) {
	var h peerHello
	var head [2]byte
	if _, err := io.ReadFull(r, head[:]); err != nil {
		return h, fmt.Errorf("reading the peer hello: %w", err)
	}
	if head[0] != peerHandshakeVersion {
		return h, fmt.Errorf("peer handshake version %d, this member speaks %d", head[0], peerHandshakeVersion)
	}
	h.Mode = head[1]
	switch h.Mode {
	case peerModeMember:
		var b [32]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return h, fmt.Errorf("reading the peer hello: %w", err)
		}
		h.Cluster, h.Incarnation = binary.BigEndian.Uint64(b[:]), binary.BigEndian.Uint64(b[8:])
		h.From, h.To = binary.BigEndian.Uint64(b[16:]), binary.BigEndian.Uint64(b[24:])
		if _, err := io.ReadFull(r, h.Nonce[:]); err != nil {
			return h, fmt.Errorf("reading the peer hello: %w", err)
		}
	case peerModeJoin:
		if _, err := io.ReadFull(r, h.Nonce[:]); err != nil {
			return h, fmt.Errorf("reading the peer hello: %w", err)
		}
		var err error
		if h.PeerURLs, err = readPeerText(r, "peer URLs"); err != nil {
			return h, fmt.Errorf("reading the peer hello: %w", err)
		}
	default:
		return h, fmt.Errorf("peer hello of unknown mode %d", h.Mode)
	}
	if _, err := io.ReadFull(r, h.MAC[:]); err != nil {
		return h, fmt.Errorf("reading the peer hello: %w", err)
	}
	return h, nil
}

// peerAnswer is the listener's verdict.
type peerAnswer struct {
	Status byte
	// Why the dialer was refused or told it was removed.
	Text string
	// The listener's proof (member mode), or the sealed identity (join).
	MAC    peerMAC
	Sealed []byte
}

func (a *peerAnswer) append(b []byte, mode byte) []byte {
	b = append(b, a.Status)
	switch {
	case a.Status != peerAnswerOK:
		return appendPeerText(b, a.Text)
	case mode == peerModeMember:
		return append(b, a.MAC[:]...)
	default:
		return appendPeerText(b, string(a.Sealed))
	}
}

func readPeerAnswer(r io.Reader, mode byte) (peerAnswer, error) {
	var a peerAnswer
	var st [1]byte
	if _, err := io.ReadFull(r, st[:]); err != nil {
		return a, fmt.Errorf("reading the peer answer: %w", err)
	}
	a.Status = st[0]
	var err error
	switch {
	case a.Status == peerAnswerRefused || a.Status == peerAnswerRemoved:
		a.Text, err = readPeerText(r, "refusal")
	case a.Status != peerAnswerOK:
		return a, fmt.Errorf("peer answer of unknown status %d", a.Status)
	case mode == peerModeMember:
		_, err = io.ReadFull(r, a.MAC[:])
	default:
		var s string
		if s, err = readPeerText(r, "sealed identity"); err == nil {
			if len(s) != peerSealedSize {
				return a, fmt.Errorf("sealed identity of %d bytes, want %d", len(s), peerSealedSize)
			}
			a.Sealed = []byte(s)
		}
	}
	if err != nil {
		return a, fmt.Errorf("reading the peer answer: %w", err)
	}
	return a, nil
}

// appendPeerText appends a u16 length and s, cut to peerMaxText bytes.
func appendPeerText(b []byte, s string) []byte {
	if len(s) > peerMaxText {
		s = s[:peerMaxText]
	}
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

// readPeerText reads what appendPeerText wrote: at most peerMaxText
// bytes, checked before anything is allocated.
func readPeerText(r io.Reader, what string) (string, error) {
	var n [2]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return "", err
	}
	size := int(binary.BigEndian.Uint16(n[:]))
	if size > peerMaxText {
		return "", fmt.Errorf("%s of %d bytes, more than %d", what, size, peerMaxText)
	}
	b := make([]byte, size)
	if _, err := io.ReadFull(r, b); err != nil {
		return "", err
	}
	return string(b), nil
}

// printable makes text from the other side safe to log and quote: valid
// UTF-8 without control characters.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if r == utf8.RuneError || r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, s)
}

// memberMAC is a member-mode proof under the cluster secret.
func memberMAC(secret []byte, label string, server, client peerNonce, cluster, incarnation, from, to uint64) peerMAC {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(label))
	m.Write(server[:])
	m.Write(client[:])
	var b [32]byte
	binary.BigEndian.PutUint64(b[:], cluster)
	binary.BigEndian.PutUint64(b[8:], incarnation)
	binary.BigEndian.PutUint64(b[16:], from)
	binary.BigEndian.PutUint64(b[24:], to)
	m.Write(b[:])
	var out peerMAC
	m.Sum(out[:0])
	return out
}

// joinKeyOf derives the join exchange's key from the cluster token.
func joinKeyOf(token string) []byte {
	sum := sha256.Sum256([]byte(labelJoinKey + "\x00" + token))
	return sum[:]
}

// joinMAC is a joining member's proof that it knows the cluster token
// (label labelJoinHello), or the key that seals the answer
// (labelJoinSeal).
func joinMAC(joinKey []byte, label string, server, client peerNonce, peerURLs string) peerMAC {
	m := hmac.New(sha256.New, joinKey)
	m.Write([]byte(label))
	m.Write(server[:])
	m.Write(client[:])
	m.Write([]byte(peerURLs))
	var out peerMAC
	m.Sum(out[:0])
	return out
}

// joinedIdentity is what a join exchange hands the joining member.
type joinedIdentity struct {
	Identity clusterIdentity
	// Member is the joining member's id, Answerer the id of the member
	// that answered; Committed says whether the answerer's identity is
	// committed, Campaigned whether it is campaigned (peer_identity.go).
	Member, Answerer      uint64
	Committed, Campaigned bool
}

// The state byte of a sealed identity. A committed identity is 1, as
// before campaigned identities existed: it means the same.
const (
	sealedProvisional = 0
	sealedCommitted   = 1
	sealedCampaigned  = 2
)

// joinAEAD is the cipher that seals a join's answer.
func joinAEAD(joinKey []byte, server, client peerNonce, peerURLs string) cipher.AEAD {
	key := joinMAC(joinKey, labelJoinSeal, server, client, peerURLs)
	block, err := aes.NewCipher(key[:])
	if err != nil {
		panic(err) // a 32-byte key is always valid
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic(err)
	}
	return aead
}

// sealJoined seals j for the dialer of one join exchange. The key is
// new for every exchange (it depends on both nonces), so the AEAD nonce
// can be fixed.
func sealJoined(joinKey []byte, server, client peerNonce, peerURLs string, j joinedIdentity) []byte {
	plain := make([]byte, 0, peerSealedPlainSize)
	for _, v := range []uint64{j.Identity.Cluster, j.Identity.Incarnation, j.Identity.Maker, j.Member, j.Answerer} {
		plain = binary.BigEndian.AppendUint64(plain, v)
	}
	state := byte(sealedProvisional)
	switch {
	case j.Committed:
		state = sealedCommitted
	case j.Campaigned:
		state = sealedCampaigned
	}
	plain = append(append(plain, state), j.Identity.Secret[:]...)
	aead := joinAEAD(joinKey, server, client, peerURLs)
	return aead.Seal(nil, make([]byte, aead.NonceSize()), plain, []byte(peerURLs))
}

// openJoined opens what sealJoined sealed; it fails unless the answer was
// sealed with the same key, nonces and peer URLs.
func openJoined(joinKey []byte, server, client peerNonce, peerURLs string, sealed []byte) (joinedIdentity, error) {
	aead := joinAEAD(joinKey, server, client, peerURLs)
	plain, err := aead.Open(nil, make([]byte, aead.NonceSize()), sealed, []byte(peerURLs))
	if err != nil || len(plain) != peerSealedPlainSize {
		return joinedIdentity{}, errors.New("the answer is not sealed with this member's --initial-cluster-token")
	}
	u := func(i int) uint64 { return binary.BigEndian.Uint64(plain[8*i:]) }
	var j joinedIdentity
	j.Identity.Cluster, j.Identity.Incarnation, j.Identity.Maker, j.Member, j.Answerer = u(0), u(1), u(2), u(3), u(4)
	if plain[40] > sealedCampaigned {
		return joinedIdentity{}, fmt.Errorf("the sealed identity's state is %d", plain[40])
	}
	j.Committed, j.Campaigned = plain[40] == sealedCommitted, plain[40] == sealedCampaigned
	copy(j.Identity.Secret[:], plain[41:])
	if j.Identity.Incarnation == 0 || j.Identity.Maker == 0 || j.Member == 0 || j.Answerer == 0 {
		return joinedIdentity{}, errors.New("the sealed identity names member 0 or incarnation 0")
	}
	return j, nil
}

// checkPeerCertificate checks a peer's verified TLS certificate: it must
// name one of the allowed common names, if there are any; else be valid
// for one of the allowed host names, if there are any; else be valid for
// the host of one of the member's peer URLs.
func checkPeerCertificate(cert *x509.Certificate, peerURLs []string, allowedCNs, allowedHostnames []string) error {
	switch {
	case len(allowedCNs) > 0:
		for _, cn := range allowedCNs {
			if cert.Subject.CommonName == cn {
				return nil
			}
		}
		return fmt.Errorf("its certificate's common name %q is not one of --peer-cert-allowed-cn %s",
			printable(cert.Subject.CommonName), strings.Join(allowedCNs, ","))
	case len(allowedHostnames) > 0:
		for _, h := range allowedHostnames {
			if cert.VerifyHostname(h) == nil {
				return nil
			}
		}
		return fmt.Errorf("its certificate (common name %q) is valid for none of --peer-cert-allowed-hostname %s",
			printable(cert.Subject.CommonName), strings.Join(allowedHostnames, ","))
	}
	var hosts []string
	for _, raw := range peerURLs {
		host := urlHost(raw)
		if host == "" {
			continue
		}
		if cert.VerifyHostname(host) == nil {
			return nil
		}
		hosts = append(hosts, host)
	}
	return fmt.Errorf("its certificate (common name %q) is valid for none of its peer URLs' hosts (%s); give each member a certificate for its host, or set --peer-cert-allowed-cn or --peer-cert-allowed-hostname",
		printable(cert.Subject.CommonName), strings.Join(hosts, ","))
}

// newPeerNonce draws a nonce.
func newPeerNonce() (peerNonce, error) {
	var n peerNonce
	if _, err := rand.Read(n[:]); err != nil {
		return n, fmt.Errorf("node: draw a nonce: %w", err)
	}
	return n, nil
}
