package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc/metadata"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/auth"
	"github.com/cairndb/cairn/node/replica"
	"github.com/cairndb/cairn/raftcore"
	"github.com/cairndb/cairn/rpc"
)

// These are issue 20's reproductions (a probe of the peer port of real
// processes with auth on), tried again against cmd/node processes: every
// one must be refused, and leave the cluster as it was. The attacker has
// the source: it speaks cairn's rpc and peer protocol from this test, with
// the wire values written out here as an attacker would copy them. Where
// an attack needs more than the network gives (the raft-level refusals),
// the attacker has stolen the cluster secret from a member's data dir.

// Peer methods and request kinds, as node/transport.go and
// node/replica/envelope.go number them.
const (
	peerMethodRaft     rpc.Method = 1000
	peerMethodSnapshot rpc.Method = 1001
	peerMethodMembers  rpc.Method = 1002

	kindInternal   = 66
	kindIssueToken = 67
)

// stolenIdentity is what <data-dir>/member/cluster-secret holds.
type stolenIdentity struct {
	cluster, incarnation uint64
	secret               []byte
}

// stealIdentity reads a member's cluster-secret file.
func stealIdentity(t *testing.T, dataDir string) stolenIdentity {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dataDir, "member", "cluster-secret"))
	if err != nil {
		t.Fatal(err)
	}
	var id stolenIdentity
	for _, line := range strings.Split(string(b), "\n") {
		name, value, _ := strings.Cut(line, " ")
		switch name {
		case "cluster":
			id.cluster, err = strconv.ParseUint(value, 16, 64)
		case "incarnation":
			id.incarnation, err = strconv.ParseUint(value, 16, 64)
		case "secret":
			id.secret, err = hex.DecodeString(value)
		}
		if err != nil {
			t.Fatalf("cluster-secret line %q: %v", line, err)
		}
	}
	if id.cluster == 0 || id.incarnation == 0 || len(id.secret) != 32 {
		t.Fatalf("cluster-secret %q: not understood", b)
	}
	return id
}

func randomBytes(t *testing.T, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// memberHello is the dialer's side of the peer handshake in member mode
// (node/peer_handshake.go): claim to be member from of id's cluster,
// calling member to, proved with id's secret.
func memberHello(id stolenIdentity, from, to uint64) rpc.ClientAuthenticate {
	return func(rw io.ReadWriter, _ rpc.AuthInfo) error {
		var challenge [33]byte
		if _, err := io.ReadFull(rw, challenge[:]); err != nil {
			return fmt.Errorf("reading the challenge: %w", err)
		}
		var nonce [32]byte
		if _, err := rand.Read(nonce[:]); err != nil {
			return err
		}
		var ids [32]byte
		for i, v := range []uint64{id.cluster, id.incarnation, from, to} {
			binary.BigEndian.PutUint64(ids[8*i:], v)
		}
		mac := hmac.New(sha256.New, id.secret)
		mac.Write([]byte("cairn peer member hello"))
		mac.Write(challenge[1:])
		mac.Write(nonce[:])
		mac.Write(ids[:])
		hello := append([]byte{1, 1}, ids[:]...)
		hello = append(append(hello, nonce[:]...), mac.Sum(nil)...)
		if _, err := rw.Write(hello); err != nil {
			return err
		}
		var status [1]byte
		if _, err := io.ReadFull(rw, status[:]); err != nil {
			return fmt.Errorf("reading the answer: %w", err)
		}
		if status[0] == 0 {
			var theirs [32]byte
			_, err := io.ReadFull(rw, theirs[:])
			return err
		}
		var n [2]byte
		if _, err := io.ReadFull(rw, n[:]); err != nil {
			return err
		}
		why := make([]byte, binary.BigEndian.Uint16(n[:]))
		if _, err := io.ReadFull(rw, why); err != nil {
			return err
		}
		return fmt.Errorf("peer handshake refused (status %d): %s", status[0], why)
	}
}

// dialPeerPort dials a peer URL's host as the attacker.
func dialPeerPort(peerURL string, tlsConf *tls.Config, hello rpc.ClientAuthenticate) (*rpc.Conn, error) {
	u, err := url.Parse(peerURL)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return rpc.Dial(ctx, u.Host, rpc.DialOptions{TLS: tlsConf, Authenticate: hello, MaxFrameSize: 16 << 20})
}

// peerStreamHeader opens a raft or snapshot stream.
func peerStreamHeader(cluster, from, to uint64) []byte {
	b := binary.BigEndian.AppendUint64(nil, cluster)
	b = binary.BigEndian.AppendUint64(b, from)
	return binary.BigEndian.AppendUint64(b, to)
}

// raftBatch is one message of a raft stream.
func raftBatch(msgs ...raftcore.Message) []byte {
	b := binary.AppendUvarint(nil, uint64(len(msgs)))
	for _, m := range msgs {
		b = binary.AppendUvarint(b, uint64(m.EncodedSize()))
		b = raftcore.AppendMessage(b, m)
	}
	return b
}

// proposal is an entry's data as a member proposes it: a request header
// (proposer, sequence) and a command of kind stamped as made by member
// in term.
func proposal(kind byte, member, term uint64, body []byte) []byte {
	b := binary.BigEndian.AppendUint64(nil, 0xbadbadbad)
	b = binary.BigEndian.AppendUint64(b, uint64(time.Now().UnixNano()))
	b = append(b, kind)
	b = binary.BigEndian.AppendUint64(b, member)
	b = binary.BigEndian.AppendUint64(b, term)
	return append(b, body...)
}

// memberStatus is one member's view from `ctl endpoint status`.
type memberStatus struct {
	ID, Cluster, Leader, Term, Revision uint64
}

func peerStatusOf(t *testing.T, endpoint string, user ...string) memberStatus {
	t.Helper()
	out := ctl(t, "", append([]string{"--endpoints=" + endpoint}, append(user, "endpoint", "status", "-w", "json")...)...)
	var sts []struct {
		Status struct {
			Header struct {
				ClusterID uint64 `json:"cluster_id"`
				MemberID  uint64 `json:"member_id"`
				Revision  int64  `json:"revision"`
			}
			Leader   uint64
			RaftTerm uint64 `json:"raftTerm"`
		}
	}
	if err := json.Unmarshal([]byte(out), &sts); err != nil || len(sts) != 1 {
		t.Fatalf("endpoint status printed %q: %v", out, err)
	}
	s := sts[0].Status
	return memberStatus{ID: s.Header.MemberID, Cluster: s.Header.ClusterID, Leader: s.Leader, Term: s.RaftTerm, Revision: uint64(s.Header.Revision)}
}

// secureCluster is a three-member cluster of processes with auth on: root
// (password rootpw), and alice, who may read and write app/.
type secureCluster struct {
	*cluster3
	peers []string // peer URLs, by member
	root  string
}

func startSecureCluster(t *testing.T) *secureCluster {
	c := &secureCluster{cluster3: startCluster3(t), root: "--user=root:rootpw"}
	for _, a := range c.args {
		for i := range a {
			if a[i] == "--listen-peer-urls" {
				c.peers = append(c.peers, a[i+1])
			}
		}
	}
	eps := c.endpoints()
	ctl(t, "rootpw\n", eps, "user", "add", "root", "--interactive=false")
	ctl(t, "", eps, "auth", "enable")
	ctl(t, "", eps, c.root, "role", "add", "app-rw")
	ctl(t, "", eps, c.root, "role", "grant-permission", "app-rw", "readwrite", "app/", "--prefix")
	ctl(t, "", eps, c.root, "user", "add", "alice:alicepw")
	ctl(t, "", eps, c.root, "user", "grant-role", "alice", "app-rw")
	ctl(t, "", eps, c.root, "put", "app/x", "1")
	ctl(t, "", eps, c.root, "put", "secret", "s")
	return c
}

// state is what no attack may change: every member's id, cluster, leader,
// term and revision, and every key and value.
func (c *secureCluster) state(t *testing.T) string {
	t.Helper()
	var parts []string
	for _, ep := range c.eps {
		parts = append(parts, fmt.Sprintf("%+v", peerStatusOf(t, ep, c.root)))
	}
	parts = append(parts, ctl(t, "", c.endpoints(), c.root, "get", "", "--prefix"))
	return strings.Join(parts, "\n")
}

// unchanged waits a few election timeouts, then checks that the cluster
// is as it was.
func (c *secureCluster) unchanged(t *testing.T, before string) {
	t.Helper()
	time.Sleep(1500 * time.Millisecond) // three election timeouts
	if after := c.state(t); after != before {
		t.Fatalf("the cluster changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// logSays waits for member i's log to say want.
func (c *secureCluster) logSays(t *testing.T, i int, want string) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(c.members[i].stderr.String(), want); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("member m%d's log does not say %q:\n%s", i+1, want, c.members[i].stderr.String())
		}
	}
}

// 1, 3, 4 of issue 20: a stranger on a plain peer port learns nothing
// and is served nothing; a thief of the cluster secret posing as a member
// still cannot wrap the term, force an election as a non-member, forge
// commands in another member's name, or announce a 1 TiB snapshot.
func TestPeerPortAttacksAreRefused(t *testing.T) {
	c := startSecureCluster(t)
	lead := c.leader()
	follower, impostor := (lead+1)%3, (lead+2)%3
	st := func(i int) memberStatus { return peerStatusOf(t, c.eps[i], c.root) }
	L, F, X := st(lead).ID, st(follower).ID, st(impostor).ID
	cluster := st(lead).Cluster
	before := c.state(t)

	t.Run("a stranger learns nothing", func(t *testing.T) {
		// The peer method that listed the members, called with no proof.
		conn, err := dialPeerPort(c.peers[lead], nil, nil)
		if err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			b, err := conn.Call(ctx, peerMethodMembers, nil)
			cancel()
			conn.Close()
			if err == nil {
				t.Fatalf("the peer port answered an unproven call with %q", b)
			}
		}
		// All a raw connection reads: the rpc hello, a random challenge
		// and a refusal; no id of the cluster or its members.
		u, _ := url.Parse(c.peers[lead])
		raw, err := net.Dial("tcp", u.Host)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = raw.Write([]byte("CAIRNRPC\x00\x02"))
		_, _ = raw.Write(bytes.Repeat([]byte{1}, 200))
		_ = raw.SetDeadline(time.Now().Add(5 * time.Second))
		got, _ := io.ReadAll(raw)
		raw.Close()
		if len(got) == 0 {
			t.Fatal("the peer port said nothing: the check below would prove nothing")
		}
		for _, v := range []uint64{cluster, L, F, X} {
			be := binary.BigEndian.AppendUint64(nil, v)
			le := binary.LittleEndian.AppendUint64(nil, v)
			if bytes.Contains(got, be) || bytes.Contains(got, le) || strings.Contains(string(got), fmt.Sprintf("%x", v)) {
				t.Fatalf("an unproven connection was told %016x: %q", v, got)
			}
		}
	})

	t.Run("a stranger opens no raft stream", func(t *testing.T) {
		guessed := stolenIdentity{cluster: cluster, incarnation: 1, secret: randomBytes(t, 32)}
		for name, hello := range map[string]rpc.ClientAuthenticate{
			"no handshake":                      nil,
			"as a member it never was":          memberHello(guessed, 0xbad, L),
			"as a member, without the secret":   memberHello(guessed, X, L),
			"the secret, but not a member's id": memberHello(stealIdentity(t, filepath.Join(c.dir, "m1.node")), 0xbad, L),
		} {
			conn, err := dialPeerPort(c.peers[lead], nil, hello)
			if err != nil {
				if hello != nil && !strings.Contains(err.Error(), "refused") {
					t.Fatalf("%s: %v", name, err)
				}
				t.Logf("%s: refused: %v", name, err)
				continue
			}
			// Dialed: then nothing may be served on the connection. Try
			// the whole attack: a raft stream as X with a higher term, a
			// forged internal put and a forged root token.
			term := st(lead).Term
			err = sendRaft(conn, cluster, X, L,
				raftcore.Message{Type: raftcore.MsgHeartbeat, From: X, To: L, Term: term + 100},
				raftcore.Message{Type: raftcore.MsgProp, From: X, To: L, Entries: []raftcore.Entry{
					{Data: internalPut(t, "forged/stranger", X, term)},
					{Data: issueToken("root", "stranger-token", X, term)}}})
			conn.Close()
			if err == nil {
				t.Fatalf("%s: the raft stream was served", name)
			}
			t.Logf("%s: dialed, then refused: %v", name, err)
		}
		c.unchanged(t, before)
	})

	id := stealIdentity(t, filepath.Join(c.dir, fmt.Sprintf("m%d.node", follower+1)))
	as := func(from uint64, i int) *rpc.Conn {
		conn, err := dialPeerPort(c.peers[i], nil, memberHello(id, from, st(i).ID))
		if err != nil {
			t.Fatalf("the handshake as member %016x with the stolen secret: %v", from, err)
		}
		t.Cleanup(func() { conn.Close() })
		return conn
	}

	t.Run("terms: no wrap, no election from a non-member", func(t *testing.T) {
		term := st(lead).Term
		// A term that would wrap, on a heartbeat and a vote request.
		wrapErr := sendRaft(as(X, lead), cluster, X, L,
			raftcore.Message{Type: raftcore.MsgHeartbeat, From: X, To: L, Term: ^uint64(0)},
			raftcore.Message{Type: raftcore.MsgVote, From: X, To: L, Term: ^uint64(0), Index: 1 << 40, LogTerm: ^uint64(0)})
		t.Logf("a term of 2^64-1: the stream ended with %v", wrapErr)
		// A higher term in the name of a member that never was, on a
		// member's stream.
		if err := sendRaft(as(X, follower), cluster, X, F,
			raftcore.Message{Type: raftcore.MsgVote, From: 0xbad, To: F, Term: term + 10, Index: 1 << 40, LogTerm: term + 10}); err == nil {
			t.Fatal("a message from a non-member on a member's stream was taken")
		} else {
			t.Logf("a higher term from a non-member: %v", err)
		}
		c.unchanged(t, before)
	})

	t.Run("forged commands in another member's name", func(t *testing.T) {
		term := st(lead).Term
		const token = "forged-root-token"
		_ = sendRaft(as(X, lead), cluster, X, L, raftcore.Message{Type: raftcore.MsgProp, From: X, To: L, Entries: []raftcore.Entry{
			{Data: internalPut(t, "forged/leader's", L, term)},
			{Data: internalPut(t, "forged/old-term", X, term-1)},
			{Data: issueToken("root", token, L, term)},
			{Data: issueToken("root", token, X, term+1)},
		}})
		c.logSays(t, lead, fmt.Sprintf("made by member %016x", L))
		c.logSays(t, lead, fmt.Sprintf("in term %d, forwarded in term %d", term-1, term))
		c.logSays(t, lead, fmt.Sprintf("in term %d, forwarded in term %d", term+1, term))
		c.unchanged(t, before)
		cli, err := clientv3.New(clientv3.Config{Endpoints: c.eps, DialTimeout: 5 * time.Second, MaxUnaryRetries: 1, Logger: zap.NewNop()})
		if err != nil {
			t.Fatal(err)
		}
		defer cli.Close()
		ctx, cancel := context.WithTimeout(metadata.AppendToOutgoingContext(context.Background(), "token", token), 5*time.Second)
		defer cancel()
		if resp, err := cli.Get(ctx, "secret"); err == nil || !strings.Contains(err.Error(), "invalid auth token") {
			t.Fatalf("the forged token read %+v, %v", resp, err)
		}
	})

	t.Run("snapshots: only the leader's, of a size that fits", func(t *testing.T) {
		dataDir := filepath.Join(c.dir, fmt.Sprintf("m%d.node", follower+1))
		files := snapFiles(t, dataDir)
		size := dirSize(t, dataDir)
		// A non-member gets no snapshot stream: its handshake is refused,
		// even with the secret; without a handshake nothing is served.
		if conn, err := dialPeerPort(c.peers[follower], nil, memberHello(id, 0xbad, F)); err == nil {
			conn.Close()
			t.Fatal("a non-member's handshake with the secret succeeded")
		}
		if conn, err := dialPeerPort(c.peers[follower], nil, nil); err == nil {
			err = sendSnapshot(conn, cluster, 0xbad, F, st(follower).Term, 1<<40)
			conn.Close()
			if err == nil {
				t.Fatal("a snapshot stream was served without a handshake")
			}
		}
		if err := sendSnapshot(as(X, follower), cluster, X, F, st(follower).Term, 1<<40); err == nil || !strings.Contains(err.Error(), "not the leader") {
			t.Fatalf("1 TiB from a member that does not lead: %v", err)
		}
		if err := sendSnapshot(as(L, follower), cluster, L, F, st(follower).Term, 1<<40); err == nil || !strings.Contains(err.Error(), "larger than this member takes") {
			t.Fatalf("1 TiB in the leader's name: %v", err)
		}
		if got := snapFiles(t, dataDir); got != files {
			t.Fatalf("the data dir's snapshot files went from %q to %q", files, got)
		}
		if grown := dirSize(t, dataDir) - size; grown > 4<<20 {
			t.Fatalf("the data dir grew by %d bytes", grown)
		}
		c.unchanged(t, before)
	})
}

// sendRaft opens a raft stream as from to member to and sends msgs; it
// returns how the member ended the stream (nil if it kept it open).
func sendRaft(conn *rpc.Conn, cluster, from, to uint64, msgs ...raftcore.Message) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	st, err := conn.NewStream(ctx, peerMethodRaft)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.Send(peerStreamHeader(cluster, from, to)); err != nil {
		return err
	}
	if err := st.Send(raftBatch(msgs...)); err != nil {
		return err
	}
	if _, err := st.Recv(); err != nil && !errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
		return err
	}
	return nil
}

// sendSnapshot announces a snapshot of size bytes from from to to, sends
// a MiB of it, and returns how the member ended the stream.
func sendSnapshot(conn *rpc.Conn, cluster, from, to, term, size uint64) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := conn.NewStream(ctx, peerMethodSnapshot)
	if err != nil {
		return err
	}
	defer st.Close()
	m := raftcore.Message{Type: raftcore.MsgSnap, From: from, To: to, Term: term,
		Snapshot: &raftcore.Snapshot{Metadata: raftcore.SnapshotMetadata{Index: 1 << 30, Term: term, ConfState: raftcore.ConfState{Voters: []uint64{from, to}}}}}
	if err := st.Send(peerStreamHeader(cluster, from, to)); err != nil {
		return err
	}
	if err := st.Send(raftcore.AppendMessage(binary.AppendUvarint(nil, size), m)); err != nil {
		return err
	}
	for range 16 {
		if st.Send(make([]byte, 64<<10)) != nil {
			break
		}
	}
	_, err = st.Recv()
	return err
}

func internalPut(t *testing.T, key string, member, term uint64) []byte {
	body := append([]byte{byte(replica.KindPut)}, api.Marshal(&api.PutRequest{Key: []byte(key), Value: []byte("forged")})...)
	return proposal(kindInternal, member, term, body)
}

func issueToken(user, token string, member, term uint64) []byte {
	return proposal(kindIssueToken, member, term, (&auth.Command{Op: auth.OpIssueToken, Name: user, Token: auth.HashSimpleToken(token)}).Marshal())
}

// snapFiles lists the files under dir whose name says snapshot.
func snapFiles(t *testing.T, dir string) string {
	var names []string
	_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && strings.Contains(d.Name(), "snap") && !d.IsDir() {
			names = append(names, path)
		}
		return nil
	})
	return strings.Join(names, ",")
}

func dirSize(t *testing.T, dir string) int64 {
	var total int64
	_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if info, err := d.Info(); err == nil {
				total += info.Size()
			}
		}
		return nil
	})
	return total
}

// 2 of issue 20: peer TLS as the README sets it up (one CA for clients
// and peers, peer client-cert auth): a client certificate of that CA is
// no member's, even with the stolen secret and a member's id.
func TestPeerPortRefusesAClientCertificateOfTheSharedCA(t *testing.T) {
	pki := newTestPKI(t)
	memberCert, memberKey := pki.issue(t, "member", x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth)
	dir := t.TempDir()
	var peers, clients, initial []string
	for i := range 3 {
		peers = append(peers, fmt.Sprintf("https://127.0.0.1:%d", freePort(t)))
		clients = append(clients, fmt.Sprintf("https://127.0.0.1:%d", freePort(t)))
		initial = append(initial, fmt.Sprintf("m%d=%s", i+1, peers[i]))
	}
	var args [][]string
	for i := range 3 {
		args = append(args, []string{"--name", fmt.Sprintf("m%d", i+1), "--data-dir", fmt.Sprintf("m%d.node", i+1),
			"--listen-client-urls", clients[i], "--listen-peer-urls", peers[i],
			"--initial-cluster", strings.Join(initial, ","), "--initial-cluster-token", "e2e-tls",
			"--heartbeat-interval", "50", "--election-timeout", "500",
			"--cert-file", memberCert, "--key-file", memberKey, "--trusted-ca-file", pki.CA, "--client-cert-auth",
			"--peer-cert-file", memberCert, "--peer-key-file", memberKey, "--peer-trusted-ca-file", pki.CA, "--peer-client-cert-auth"})
	}
	startTogether(t, dir, args)
	clientCert, clientKey := pki.issue(t, "alice", x509.ExtKeyUsageClientAuth)
	eps := "--endpoints=" + strings.Join(clients, ",")
	tlsFlags := []string{eps, "--cacert", pki.CA, "--cert", clientCert, "--key", clientKey}
	ctl(t, "", append(tlsFlags, "put", "k", "v")...)
	flags := []string{"--cacert", pki.CA, "--cert", clientCert, "--key", clientKey}
	status := func() string {
		var parts []string
		for _, ep := range clients {
			parts = append(parts, fmt.Sprintf("%+v", peerStatusOf(t, ep, flags...)))
		}
		return strings.Join(parts, "\n") + "\n" + ctl(t, "", append(tlsFlags, "get", "", "--prefix")...)
	}
	before := status()
	to, other := peerStatusOf(t, clients[0], flags...).ID, peerStatusOf(t, clients[1], flags...).ID

	alice := pki.ca.IssueFor(t, "alice", nil, x509.ExtKeyUsageClientAuth)
	rogueTLS := &tls.Config{Certificates: []tls.Certificate{alice}, RootCAs: pki.ca.Pool(), MinVersion: tls.VersionTLS12}
	id := stealIdentity(t, filepath.Join(dir, "m2.node"))
	for name, hello := range map[string]rpc.ClientAuthenticate{
		"alone":                               nil,
		"with the stolen secret, as a member": memberHello(id, other, to),
	} {
		conn, err := dialPeerPort(peers[0], rogueTLS, hello)
		if err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			b, callErr := conn.Call(ctx, peerMethodMembers, nil)
			cancel()
			conn.Close()
			if callErr == nil {
				t.Fatalf("%s: a user's client certificate was answered as a member's: %q", name, b)
			}
			t.Logf("%s: dialed, then refused: %v", name, callErr)
			continue
		}
		if hello != nil && !strings.Contains(err.Error(), "certificate") {
			t.Fatalf("%s: refused, but not for its certificate: %v", name, err)
		}
		t.Logf("%s: refused: %v", name, err)
	}
	// The control: the member's own certificate with the secret passes,
	// so the refusal above is the certificate's.
	member, err := tls.LoadX509KeyPair(memberCert, memberKey)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := dialPeerPort(peers[0], &tls.Config{Certificates: []tls.Certificate{member}, RootCAs: pki.ca.Pool(), MinVersion: tls.VersionTLS12}, memberHello(id, other, to))
	if err != nil {
		t.Fatalf("a member's certificate with the secret: %v", err)
	}
	conn.Close()
	time.Sleep(time.Second)
	if after := status(); after != before {
		t.Fatalf("the cluster changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// 5 and 6 of issue 20, with auth on through ctl: a watch whose
// permission is withdrawn is canceled; a user keeps alive only a lease
// whose keys they may all write; data files are 0600 and directories
// 0700; no simple token is in the WAL in plain text.
func TestAuthWithdrawalAndDataDirThroughCLI(t *testing.T) {
	dir := t.TempDir()
	peer := fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
	clientURL := fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
	m := startNode(t, dir, "--name", "a", "--data-dir", "a.node", "--listen-peer-urls", peer,
		"--initial-advertise-peer-urls", peer, "--initial-cluster", "a="+peer, "--listen-client-urls", clientURL)
	ep := strings.TrimPrefix(clientURL, "http://")
	eps := "--endpoints=" + ep
	root, alice := "--user=root:rootpw", "--user=alice:alicepw"
	ctl(t, "rootpw\n", eps, "user", "add", "root", "--interactive=false")
	ctl(t, "", eps, "auth", "enable")
	ctl(t, "", eps, root, "role", "add", "app-rw")
	ctl(t, "", eps, root, "role", "grant-permission", "app-rw", "readwrite", "app/", "--prefix")
	ctl(t, "", eps, root, "user", "add", "alice:alicepw")
	ctl(t, "", eps, root, "user", "grant-role", "alice", "app-rw")

	// Leases: alice may keep alive one that holds only app/ keys, not one
	// that holds a key she may not write.
	leaseID := func() string {
		out := ctl(t, "", eps, root, "lease", "grant", "600")
		id := regexp.MustCompile(`lease ([0-9a-f]+) granted`).FindStringSubmatch(out)
		if id == nil {
			t.Fatalf("lease grant printed %q", out)
		}
		return id[1]
	}
	mine, theirs := leaseID(), leaseID()
	ctl(t, "", eps, root, "put", "app/leased", "1", "--lease="+mine)
	ctl(t, "", eps, root, "put", "app/leased-too", "1", "--lease="+theirs)
	ctl(t, "", eps, root, "put", "secret", "s", "--lease="+theirs)
	ctl(t, "", eps, alice, "lease", "keep-alive", "--once", mine)
	if out, code := ctlCode(t, "", eps, alice, "lease", "keep-alive", "--once", theirs); code == 0 || !strings.Contains(out, "permission denied") {
		t.Fatalf("alice kept alive a lease holding secret: exit %d, %q", code, out)
	}

	// Watches canceled when their permission is withdrawn: alice's when
	// her role is revoked, bob's when he is deleted.
	ctl(t, "", eps, root, "user", "add", "bob:bobpw")
	ctl(t, "", eps, root, "user", "grant-role", "bob", "app-rw")
	watchCanceled(t, eps, root, "alice", func() { ctl(t, "", eps, root, "user", "revoke-role", "alice", "app-rw") })
	// Bob keeps a lease of 3 s alive on a stream (renewed every second)
	// past its TTL; once he is deleted, the renewals are refused and the
	// lease expires with its key.
	out := ctl(t, "", eps, root, "lease", "grant", "3")
	bobs := regexp.MustCompile(`lease ([0-9a-f]+) granted`).FindStringSubmatch(out)
	if bobs == nil {
		t.Fatalf("lease grant printed %q", out)
	}
	ctl(t, "", eps, root, "put", "app/bob", "1", "--lease="+bobs[1])
	_, ctlBin := binaries(t)
	keepAlive := exec.Command(ctlBin, eps, "--user=bob:bobpw", "lease", "keep-alive", bobs[1])
	var kaOut, kaErr syncBuffer
	keepAlive.Stdout, keepAlive.Stderr = &kaOut, &kaErr
	if err := keepAlive.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = keepAlive.Process.Kill(); _ = keepAlive.Wait() })
	time.Sleep(4 * time.Second)
	if out := ctl(t, "", eps, root, "get", "app/bob", "--print-value-only"); out != "1\n" {
		t.Fatalf("bob's keep-alive did not keep his lease alive past its TTL: get printed %q; keep-alive printed %q, %q", out, kaOut.String(), kaErr.String())
	}
	watchCanceled(t, eps, root, "bob", func() { ctl(t, "", eps, root, "user", "delete", "bob") })
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		if out := ctl(t, "", eps, root, "get", "app/bob", "--print-value-only"); out == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a deleted user's keep-alive stream still keeps his lease alive: it printed %q, %q", kaOut.String(), kaErr.String())
		}
	}
	t.Logf("bob's keep-alive, his lease gone: printed %q, %q", kaOut.String(), kaErr.String())

	// A simple token, as a client gets it.
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{ep}, DialTimeout: 5 * time.Second, Username: "root", Password: "rootpw"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	resp, err := cli.Authenticate(ctx, "root", "rootpw")
	cancel()
	cli.Close()
	if err != nil || resp.Token == "" {
		t.Fatalf("authenticate: %+v %v", resp, err)
	}
	m.stop()

	var wal []byte
	var checked int
	err = filepath.WalkDir(filepath.Join(dir, "a.node"), func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		want := fs.FileMode(0o600)
		if d.IsDir() {
			want = 0o700
		}
		if info.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", path, info.Mode().Perm(), want)
		}
		checked++
		if !d.IsDir() && strings.Contains(filepath.ToSlash(path), "/wal/") {
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			wal = append(wal, b...)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(wal) == 0 || checked < 4 {
		t.Fatalf("checked %d paths, %d bytes of WAL: not a data dir", checked, len(wal))
	}
	if !bytes.Contains(wal, []byte("alice")) {
		t.Fatal("the WAL does not hold the user alice: the token check below would prove nothing")
	}
	if !bytes.Contains(wal, []byte(auth.HashSimpleToken(resp.Token))) {
		t.Fatal("the WAL does not hold the token's hash: the check below would prove nothing")
	}
	if bytes.Contains(wal, []byte(resp.Token)) {
		t.Fatalf("the WAL holds the simple token %q in plain text", resp.Token)
	}
}

// watchCanceled runs `ctl watch app/ --prefix` as user (password
// user+"pw"), checks that it delivers, withdraws its permission with
// withdraw, and checks that the watch ends with a non-zero exit that says
// why, without delivering what was written after.
func watchCanceled(t *testing.T, eps, root, user string, withdraw func()) {
	t.Helper()
	_, ctlBin := binaries(t)
	watch := exec.Command(ctlBin, eps, "--user="+user+":"+user+"pw", "watch", "app/", "--prefix")
	stdout, err := watch.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr syncBuffer
	watch.Stderr = &stderr
	if err := watch.Start(); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		waited <- watch.Wait()
	}()
	t.Cleanup(func() { _ = watch.Process.Kill() })
	// The watch is open once it delivers: PUT, the key, the value.
	for deadline := time.Now().Add(10 * time.Second); ; {
		ctl(t, "", eps, root, "put", "app/w", "before-"+user)
		var l string
		select {
		case l = <-lines:
		case <-time.After(500 * time.Millisecond):
			if time.Now().After(deadline) {
				t.Fatalf("%s's watch delivered nothing: %s", user, stderr.String())
			}
			continue
		}
		if l != "PUT" || <-lines != "app/w" || <-lines != "before-"+user {
			t.Fatalf("%s's watch printed %q first", user, l)
		}
		break
	}
	withdraw()
	ctl(t, "", eps, root, "put", "app/w", "after-"+user)
	timeout := time.After(10 * time.Second)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				lines = nil
				continue
			}
			if strings.Contains(l, "after-") {
				t.Fatalf("%s's watch delivered %q after its permission was withdrawn", user, l)
			}
		case err := <-waited:
			var ee *exec.ExitError
			if !errors.As(err, &ee) || !strings.Contains(stderr.String(), "permission denied") {
				t.Fatalf("%s's watch ended with %v, stderr %q; want a non-zero exit that says permission denied", user, err, stderr.String())
			}
			t.Logf("%s's watch: %s", user, strings.TrimSpace(stderr.String()))
			return
		case <-timeout:
			t.Fatalf("%s's watch still runs 10 s after its permission was withdrawn (stderr %q)", user, stderr.String())
		}
	}
}
