package node

import (
	"bytes"
	"crypto/x509"
	"fmt"
	"strings"
	"testing"

	"github.com/cairndb/cairn/internal/testcerts"
)

func testNonce(b byte) peerNonce { return peerNonce(bytes.Repeat([]byte{b}, peerNonceSize)) }

func testHellos() []peerHello {
	return []peerHello{
		{Mode: peerModeMember, Cluster: 1, Incarnation: 2, From: 3, To: 4, Nonce: testNonce(5), MAC: peerMAC(bytes.Repeat([]byte{6}, peerMACSize))},
		{Mode: peerModeJoin, PeerURLs: "http://127.0.0.1:2380,http://10.0.0.1:2380", Nonce: testNonce(7), MAC: peerMAC(bytes.Repeat([]byte{8}, peerMACSize))},
		{Mode: peerModeJoin, Nonce: testNonce(9)},
	}
}

func testAnswers() []struct {
	mode byte
	a    peerAnswer
} {
	return []struct {
		mode byte
		a    peerAnswer
	}{
		{peerModeMember, peerAnswer{Status: peerAnswerOK, MAC: peerMAC(bytes.Repeat([]byte{1}, peerMACSize))}},
		{peerModeJoin, peerAnswer{Status: peerAnswerOK, Sealed: bytes.Repeat([]byte{2}, peerSealedSize)}},
		{peerModeMember, peerAnswer{Status: peerAnswerRefused, Text: "no"}},
		{peerModeJoin, peerAnswer{Status: peerAnswerRefused, Text: ""}},
		{peerModeMember, peerAnswer{Status: peerAnswerRemoved, Text: "removed"}},
	}
}

func TestPeerHandshakeMessagesRoundTrip(t *testing.T) {
	c := peerChallenge{Nonce: testNonce(3)}
	got, err := readPeerChallenge(bytes.NewReader(c.append(nil)))
	if err != nil || got != c {
		t.Fatalf("challenge: %+v %v", got, err)
	}
	for _, h := range testHellos() {
		b := h.append(nil)
		got, err := readPeerHello(bytes.NewReader(b))
		if err != nil || got != h {
			t.Fatalf("hello %+v: read back %+v, %v", h, got, err)
		}
	}
	for _, tc := range testAnswers() {
		got, err := readPeerAnswer(bytes.NewReader(tc.a.append(nil, tc.mode)), tc.mode)
		if err != nil || got.Status != tc.a.Status || got.Text != tc.a.Text || got.MAC != tc.a.MAC || !bytes.Equal(got.Sealed, tc.a.Sealed) {
			t.Fatalf("answer %+v: read back %+v, %v", tc.a, got, err)
		}
	}
}

// Bad input gets an error saying what is wrong, never a panic, and no
// allocation past the bound of a text.
func TestPeerHandshakeMessagesRefuseBadInput(t *testing.T) {
	member := testHellos()[0].append(nil)
	for _, tc := range []struct {
		name, want string
		read       func([]byte) error
		in         []byte
	}{
		{"challenge of another version", "version 2", func(b []byte) error { _, err := readPeerChallenge(bytes.NewReader(b)); return err },
			append([]byte{2}, make([]byte, peerNonceSize)...)},
		{"short challenge", "EOF", func(b []byte) error { _, err := readPeerChallenge(bytes.NewReader(b)); return err }, []byte{1, 2}},
		{"hello of unknown mode", "unknown mode 9", readHello, []byte{1, 9}},
		{"hello of another version", "version 0", readHello, []byte{0, 1}},
		{"cut member hello", "EOF", readHello, member[:len(member)-1]},
		{"join hello with too long URLs", "more than 2048", readHello,
			append(append([]byte{1, peerModeJoin}, make([]byte, peerNonceSize)...), 0xff, 0xff)},
		{"answer of unknown status", "unknown status 7", func(b []byte) error { _, err := readPeerAnswer(bytes.NewReader(b), peerModeMember); return err }, []byte{7}},
		{"sealed identity of the wrong size", "want 89", func(b []byte) error { _, err := readPeerAnswer(bytes.NewReader(b), peerModeJoin); return err },
			[]byte{0, 0, 3, 1, 2, 3}},
	} {
		err := tc.read(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error saying %q", tc.name, err, tc.want)
		}
	}
}

func readHello(b []byte) error { _, err := readPeerHello(bytes.NewReader(b)); return err }

// FuzzPeerHandshakeDecode feeds the listener's and the dialer's decoders
// arbitrary bytes: they must not panic, and what they accept must encode
// back to the bytes they read.
func FuzzPeerHandshakeDecode(f *testing.F) {
	for _, h := range testHellos() {
		f.Add(h.append(nil))
	}
	for _, tc := range testAnswers() {
		f.Add(tc.a.append(nil, tc.mode))
	}
	f.Add(peerChallenge{}.append(nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		r := bytes.NewReader(b)
		if h, err := readPeerHello(r); err == nil {
			if got, read := h.append(nil), b[:len(b)-r.Len()]; !bytes.Equal(got, read) {
				t.Fatalf("hello %x read as %+v, encodes to %x", read, h, got)
			}
		}
		for _, mode := range []byte{peerModeMember, peerModeJoin} {
			r := bytes.NewReader(b)
			if a, err := readPeerAnswer(r, mode); err == nil {
				if got, read := a.append(nil, mode), b[:len(b)-r.Len()]; !bytes.Equal(got, read) {
					t.Fatalf("answer %x (mode %d) read as %+v, encodes to %x", read, mode, a, got)
				}
			}
		}
		if c, err := readPeerChallenge(bytes.NewReader(b)); err == nil && !bytes.Equal(c.append(nil), b[:1+peerNonceSize]) {
			t.Fatalf("challenge %x read as %+v", b, c)
		}
		_, _, _ = parseClusterIdentity(b)
	})
}

func TestJoinSealOpensOnlyWithItsKeyAndNonces(t *testing.T) {
	id, err := newClusterIdentity(0xabc, 9)
	if err != nil {
		t.Fatal(err)
	}
	key := joinKeyOf("token")
	urls := "http://127.0.0.1:2380"
	for _, j := range []joinedIdentity{
		{Identity: *id, Member: 7, Answerer: 8},
		{Identity: *id, Member: 7, Answerer: 8, Committed: true},
		{Identity: *id, Member: 7, Answerer: 8, Campaigned: true},
	} {
		sealed := sealJoined(key, testNonce(1), testNonce(2), urls, j)
		got, err := openJoined(key, testNonce(1), testNonce(2), urls, sealed)
		if err != nil || got != j {
			t.Fatalf("open: %+v %v, want %+v", got, err, j)
		}
	}
	j := joinedIdentity{Identity: *id, Member: 7, Answerer: 8, Committed: true}
	sealed := sealJoined(key, testNonce(1), testNonce(2), urls, j)
	if len(sealed) != peerSealedSize {
		t.Fatalf("sealed %d bytes, want %d", len(sealed), peerSealedSize)
	}
	if bytes.Contains(sealed, id.Secret[:8]) {
		t.Fatal("the sealed answer holds the secret in clear")
	}
	for name, open := range map[string]func() error{
		"another token": func() error {
			_, err := openJoined(joinKeyOf("other"), testNonce(1), testNonce(2), urls, sealed)
			return err
		},
		"another nonce": func() error { _, err := openJoined(key, testNonce(1), testNonce(3), urls, sealed); return err },
		"other URLs":    func() error { _, err := openJoined(key, testNonce(1), testNonce(2), urls+"x", sealed); return err },
		"a flipped bit": func() error {
			bad := bytes.Clone(sealed)
			bad[5] ^= 1
			_, err := openJoined(key, testNonce(1), testNonce(2), urls, bad)
			return err
		},
	} {
		if open() == nil {
			t.Errorf("opened with %s", name)
		}
	}
}

func TestClusterIdentityFile(t *testing.T) {
	id, err := newClusterIdentity(0x1234, 0x77)
	if err != nil {
		t.Fatal(err)
	}
	for _, state := range []identityState{identityProvisional, identityCampaigned, identityCommitted} {
		got, gotState, err := parseClusterIdentity(id.marshal(state))
		if err != nil || *got != *id || gotState != state {
			t.Fatalf("round trip (%v): %+v %v %v", state, got, gotState, err)
		}
	}
	good := string(id.marshal(identityCommitted))
	if strings.Contains(id.String(), "secret") || strings.Contains(id.String(), good[len(good)-20:]) {
		t.Fatalf("String shows the secret: %s", id)
	}
	for name, bad := range map[string]string{
		"empty":            "",
		"another header":   strings.Replace(good, "v1", "v2", 1),
		"short cluster":    strings.Replace(good, "cluster 0000000000001234", "cluster 1234", 1),
		"no incarnation":   strings.Replace(good, "incarnation ", "inc ", 1),
		"maker 0":          strings.Replace(good, "maker 0000000000000077", "maker 0000000000000000", 1),
		"unknown state":    strings.Replace(good, "state committed", "state maybe", 1),
		"short secret":     good[:len(good)-3] + "\n",
		"extra line":       good + "more\n",
		"zero incarnation": strings.Replace(good, fmt.Sprintf("incarnation %016x", id.Incarnation), "incarnation 0000000000000000", 1),
	} {
		if _, _, err := parseClusterIdentity([]byte(bad)); err == nil {
			t.Errorf("%s: parsed", name)
		}
	}
	dir := t.TempDir()
	if got, _, err := loadClusterIdentity(dir); got != nil || err != nil {
		t.Fatalf("load from an empty dir: %v %v", got, err)
	}
	if err := saveClusterIdentity(dir, id, identityCampaigned); err != nil {
		t.Fatal(err)
	}
	if got, state, err := loadClusterIdentity(dir); err != nil || *got != *id || state != identityCampaigned {
		t.Fatalf("load: %+v %v %v", got, state, err)
	}
}

func TestCheckPeerCertificate(t *testing.T) {
	ca := testcerts.NewCA(t, "shared CA")
	parse := func(hosts ...string) *x509.Certificate {
		c, err := x509.ParseCertificate(ca.IssueFor(t, "cn-"+strings.Join(hosts, "-"), hosts).Certificate[0])
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	member := parse("10.0.0.3", "m3.example.com")
	alice := parse() // a user's client certificate: no host
	urls := []string{"https://10.0.0.3:2380"}
	for _, tc := range []struct {
		name         string
		cert         *x509.Certificate
		urls         []string
		cns, hosts   []string
		ok           bool
		wantInReason string
	}{
		{"the member's own certificate", member, urls, nil, nil, true, ""},
		{"its certificate, by DNS name", member, []string{"https://m3.example.com:2380"}, nil, nil, true, ""},
		{"another host's certificate", member, []string{"https://10.0.0.4:2380"}, nil, nil, false, "10.0.0.4"},
		{"a user's client certificate", alice, urls, nil, nil, false, "none of its peer URLs' hosts"},
		{"an allowed common name", alice, urls, []string{"x", "cn-"}, nil, true, ""},
		{"a common name not allowed", member, urls, []string{"peer"}, nil, false, "--peer-cert-allowed-cn"},
		{"an allowed host name", member, []string{"https://10.9.9.9:1"}, nil, []string{"m3.example.com"}, true, ""},
		{"a host name not allowed", alice, urls, nil, []string{"m3.example.com"}, false, "--peer-cert-allowed-hostname"},
	} {
		err := checkPeerCertificate(tc.cert, tc.urls, tc.cns, tc.hosts)
		if (err == nil) != tc.ok || (err != nil && !strings.Contains(err.Error(), tc.wantInReason)) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}
