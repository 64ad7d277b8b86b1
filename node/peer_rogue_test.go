package node_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/client"
	"github.com/cairndb/cairn/internal/testcerts"
	"github.com/cairndb/cairn/internal/wire"
	"github.com/cairndb/cairn/node"
	"github.com/cairndb/cairn/node/nodetest"
	"github.com/cairndb/cairn/node/peerwire"
	"github.com/cairndb/cairn/raftcore"
	"github.com/cairndb/cairn/rpc"
)

// These tests are the reproductions of issue 20 (what a probe of the
// peer port did with real processes), each tried by a rogue peer against
// an in-process cluster with auth on: all must be refused, and leave the
// cluster as it was.

// rogueTarget is a three-member cluster with auth on, whose members'
// logs the test reads, and the rogue's TLS configuration (nil: plain).
type rogueTarget struct {
	*nodetest.Cluster
	logs     map[string]*logBuffer
	rogueTLS *tls.Config
}

func startRogueTarget(t *testing.T, peerTLS bool) *rogueTarget {
	t.Helper()
	r := &rogueTarget{logs: map[string]*logBuffer{}}
	for i := range 3 {
		r.logs[fmt.Sprintf("m%d", i)] = &logBuffer{}
	}
	opts := nodetest.Options{
		Configure: func(i int, cfg *node.Config) { cfg.BcryptCost = 4 }, // bcrypt's lowest cost: cheap hashes
		Logger: func(name string) *slog.Logger {
			return slog.New(slog.NewTextHandler(r.logs[name], &slog.HandlerOptions{Level: slog.LevelDebug}))
		},
	}
	if peerTLS {
		// One CA for clients and peers, as the README's setup has it;
		// the rogue holds a user's client certificate from it.
		ca := testcerts.NewCA(t, "shared CA")
		member := ca.Issue(t, "member") // valid for 127.0.0.1
		opts.PeerTLS = &tls.Config{Certificates: []tls.Certificate{member}, ClientCAs: ca.Pool(),
			ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12}
		opts.PeerClientTLS = &tls.Config{Certificates: []tls.Certificate{member}, RootCAs: ca.Pool(), MinVersion: tls.VersionTLS12}
		r.rogueTLS = &tls.Config{Certificates: []tls.Certificate{ca.IssueFor(t, "alice", nil)}, RootCAs: ca.Pool(), MinVersion: tls.VersionTLS12}
	}
	r.Cluster = nodetest.Start(t, 3, opts) // every member published: none is a joiner
	setUpAuth(t, dial(t, r.Cluster, 0))
	return r
}

// dialPeer dials member i's peer port as the rogue.
func (r *rogueTarget) dialPeer(i int, auth rpc.ClientAuthenticate) (*rpc.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return rpc.Dial(ctx, r.Configs[i].ListenPeerURLs[0].Host, rpc.DialOptions{TLS: r.rogueTLS, Authenticate: auth, MaxFrameSize: 16 << 20})
}

// state is what a rogue must not change: each member's term and leader.
func (r *rogueTarget) state(t *testing.T) string {
	var parts []string
	for _, s := range r.Servers {
		parts = append(parts, fmt.Sprintf("%016x: term %d, leader %016x", s.ID(), s.TermForTest(t), s.Leader()))
	}
	return strings.Join(parts, "; ")
}

func randomSecret(t *testing.T) []byte {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRoguePeerIsRefused(t *testing.T) {
	for _, peerTLS := range []bool{false, true} {
		t.Run(map[bool]string{false: "plain TCP", true: "TLS with a client certificate of the shared CA"}[peerTLS], func(t *testing.T) {
			r := startRogueTarget(t, peerTLS)
			before := r.state(t)
			cluster := r.Servers[0].ClusterID() // any client learns it
			target, other := r.Servers[0].ID(), r.Servers[1].ID()
			_, incarnation, secret := node.ClusterIdentityForTest(t, r.Configs[0].DataDir)
			identity := fmt.Sprintf("cluster %016x incarnation %016x", cluster, incarnation)

			// 1. A peer method told anyone the cluster id and the members.
			conn, err := r.dialPeer(0, nil)
			if err == nil {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				b, err := conn.Call(ctx, node.MethodPeerMembersForTest, nil)
				cancel()
				conn.Close()
				if err == nil {
					t.Fatalf("the peer port answered an unproven connection with %d bytes", len(b))
				}
			}
			if !peerTLS {
				// All an unproven connection reads: the rpc hello, a
				// random challenge and a refusal that repeats its own
				// claims; nothing about the cluster.
				raw, err := net.Dial("tcp", r.Configs[0].ListenPeerURLs[0].Host)
				if err != nil {
					t.Fatal(err)
				}
				_, _ = raw.Write([]byte("CAIRNRPC\x00\x02"))
				_, _ = raw.Write(bytes.Repeat([]byte{1}, 200)) // a hello of its own making
				_ = raw.SetDeadline(time.Now().Add(5 * time.Second))
				got, _ := io.ReadAll(raw)
				raw.Close()
				var id [8]byte
				binary.BigEndian.PutUint64(id[:], cluster)
				if len(got) < 10+33 || bytes.Contains(got, id[:]) || !strings.Contains(string(got), "does not match") {
					t.Fatalf("an unproven connection read %q", got)
				}
				for _, s := range r.Servers {
					for _, v := range []uint64{s.ID(), cluster} {
						if strings.Contains(string(got), fmt.Sprintf("%016x", v)) {
							t.Fatalf("an unproven connection was told %016x: %q", v, got)
						}
					}
				}
			}

			// 2-4. A raft stream (and with it forged proposals, internal
			// commands, tokens, terms and snapshots) as a member it never
			// was, as a member without the secret, with the secret of
			// another cluster started alike (same id).
			for name, auth := range map[string]rpc.ClientAuthenticate{
				"a member it never was":             node.PeerProofForTest(cluster, incarnation, randomSecret(t), 0xbad, target),
				"a member, without the secret":      node.PeerProofForTest(cluster, incarnation, randomSecret(t), other, target),
				"a member of a twin cluster":        node.PeerProofForTest(cluster, incarnation+1, randomSecret(t), other, target),
				"the secret, but not a member's ID": node.PeerProofForTest(cluster, incarnation, secret, 0xbad, target),
			} {
				if conn, err := r.dialPeer(0, auth); err == nil {
					conn.Close()
					t.Fatalf("%s: the handshake succeeded", name)
				} else if !strings.Contains(err.Error(), "refused this member's handshake") {
					t.Fatalf("%s: %v", name, err)
				}
			}
			if peerTLS {
				// Even with the secret, a user's certificate is no member's.
				if conn, err := r.dialPeer(0, node.PeerProofForTest(cluster, incarnation, secret, other, target)); err == nil {
					conn.Close()
					t.Fatal("a user's client certificate passed for a member's")
				} else if !strings.Contains(err.Error(), "certificate") {
					t.Fatalf("a user's client certificate with the secret: %v", err)
				}
			}

			// 5. Taking the secret with the cluster token (the default one):
			// every member has started, so no one gets it.
			for _, urls := range [][]string{{r.Configs[1].ListenPeerURLs[0].String()}, {"http://127.0.0.1:1"}} {
				if conn, err := r.dialPeer(0, node.JoinProofForTest(node.DefaultInitialClusterToken, urls)); err == nil {
					conn.Close()
					t.Fatalf("the cluster secret was handed out for %v", urls)
				}
			}

			for _, want := range []string{
				"peer handshake refused",
				fmt.Sprintf("member 0000000000000bad of cluster %016x incarnation %016x", cluster, incarnation),
				fmt.Sprintf("member %016x of %s", target, identity),
				fmt.Sprintf("incarnation %016x", incarnation+1),
			} {
				waitLog(t, r.logs["m0"], want)
			}
			if strings.Contains(r.logs["m0"].String(), fmt.Sprintf("%x", secret)) {
				t.Fatal("a member logged the cluster secret")
			}
			time.Sleep(300 * time.Millisecond)
			if after := r.state(t); after != before {
				t.Fatalf("the cluster changed:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
}

// waitLog waits for a member's log to say want (a refusal is logged
// just after it is sent).
func waitLog(t *testing.T, logs *logBuffer, want string) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(logs.String(), want); {
		if time.Now().After(deadline) {
			t.Fatalf("the member's log does not say %q:\n%s", want, logs)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// sendRaft opens a raft stream from member from to member i and sends
// msgs; it returns the stream's outcome after a moment.
func (r *rogueTarget) sendRaft(t *testing.T, conn *rpc.Conn, from uint64, i int, msgs ...raftcore.Message) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := conn.NewStream(ctx, node.MethodRaftForTest)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Send(node.StreamHeaderForTest(r.Servers[i].ClusterID(), from, r.Servers[i].ID())); err != nil {
		t.Fatal(err)
	}
	if err := st.Send(peerwire.AppendBatch(nil, msgs)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
}

// sendSnapshot announces a snapshot of size bytes from member from to
// member i, sends data, and returns how the member ended the stream.
func (r *rogueTarget) sendSnapshot(t *testing.T, conn *rpc.Conn, from uint64, i int, size uint64, data []byte, wait time.Duration) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	st, err := conn.NewStream(ctx, node.MethodRaftSnapshotForTest)
	if err != nil {
		return err
	}
	defer st.Close()
	to := r.Servers[i].ID()
	term := r.Servers[i].TermForTest(t)
	m := raftcore.Message{Type: raftcore.MsgSnap, From: from, To: to, Term: term,
		Snapshot: &raftcore.Snapshot{Metadata: raftcore.SnapshotMetadata{Index: 1 << 30, Term: term, ConfState: raftcore.ConfState{Voters: []uint64{from, to}}}}}
	if err := st.Send(node.StreamHeaderForTest(r.Servers[i].ClusterID(), from, to)); err != nil {
		return err
	}
	if err := st.Send(raftcore.AppendMessage(wire.AppendUvarint(nil, size), m)); err != nil {
		return err
	}
	if len(data) > 0 {
		if err := st.Send(data); err != nil {
			return err
		}
	}
	_, err = st.Recv()
	return err
}

// A member's secret in the wrong hands (or a member gone rogue) still
// cannot do what no member may: wrap the term, put commands in another
// member's name, issue a token outside its own term, or send a snapshot
// unless it leads — and then only one, of a size that fits, that does
// not stall.
func TestRogueMemberIsRefusedByRaft(t *testing.T) {
	r := startRogueTarget(t, false)
	lead := r.Leader()
	follower, impostor := (lead+1)%3, (lead+2)%3
	L, X := r.Servers[lead].ID(), r.Servers[impostor].ID()
	cluster, incarnation, secret := node.ClusterIdentityForTest(t, r.Configs[0].DataDir)
	as := func(from uint64, i int) *rpc.Conn {
		conn, err := r.dialPeer(i, node.PeerProofForTest(cluster, incarnation, secret, from, r.Servers[i].ID()))
		if err != nil {
			t.Fatalf("the handshake as member %016x with the secret: %v", from, err)
		}
		t.Cleanup(func() { conn.Close() })
		return conn
	}
	term := r.Servers[lead].TermForTest(t)
	before := r.state(t)

	toLeader := as(X, lead)
	// A term that would wrap, on a heartbeat and on a vote request.
	r.sendRaft(t, toLeader, X, lead,
		raftcore.Message{Type: raftcore.MsgHeartbeat, From: X, To: L, Term: ^uint64(0)},
		raftcore.Message{Type: raftcore.MsgVote, From: X, To: L, Term: ^uint64(0), Index: 1 << 40, LogTerm: ^uint64(0)})
	// Internal commands and tokens in another member's name, or made in
	// another term; a token issued as a plain auth command.
	r.sendRaft(t, toLeader, X, lead, raftcore.Message{Type: raftcore.MsgProp, From: X, To: L, Entries: []raftcore.Entry{
		{Data: node.InternalPutForTest(t, "forged/leader's", L, term, 1)},
		{Data: node.InternalPutForTest(t, "forged/old-term", X, term-1, 2)},
		{Data: node.IssueTokenForTest("root", "0123", 0, L, term, 3)},
		{Data: node.IssueTokenForTest("root", "4567", 0, X, term+1, 4)},
	}})
	for _, why := range []string{"made by member " + fmt.Sprintf("%016x", L), fmt.Sprintf("in term %d, forwarded in term %d", term-1, term),
		fmt.Sprintf("in term %d, forwarded in term %d", term+1, term)} {
		waitLog(t, r.logs[fmt.Sprintf("m%d", lead)], why)
	}

	// Snapshots: from a member that does not lead, of 1 TiB from the
	// leader's id, and one that stalls.
	toFollower := as(X, follower)
	if err := r.sendSnapshot(t, toFollower, X, follower, 1024, nil, 5*time.Second); err == nil || !strings.Contains(err.Error(), "not the leader") {
		t.Fatalf("a snapshot from a member that does not lead: %v", err)
	}
	asLeader := as(L, follower)
	if err := r.sendSnapshot(t, asLeader, L, follower, 1<<40, nil, 5*time.Second); err == nil || !strings.Contains(err.Error(), "larger than this member takes") {
		t.Fatalf("a snapshot of 1 TiB: %v", err)
	}
	r.Servers[follower].SetSnapshotStallForTest(300 * time.Millisecond)
	stalled := make(chan error, 1)
	go func() { stalled <- r.sendSnapshot(t, asLeader, L, follower, 1<<20, []byte("a little"), 10*time.Second) }()
	time.Sleep(100 * time.Millisecond)
	if err := r.sendSnapshot(t, asLeader, L, follower, 1024, nil, 5*time.Second); err == nil || !strings.Contains(err.Error(), "receiving another snapshot") {
		t.Fatalf("a second snapshot while one is received: %v", err)
	}
	if err := <-stalled; err == nil {
		t.Fatal("a stalled snapshot was taken")
	}
	waitLog(t, r.logs[fmt.Sprintf("m%d", follower)], "the stream stalled")
	// Received in part, nothing is left on disk.
	parts, _ := filepath.Glob(filepath.Join(r.Configs[follower].DataDir, "member", "db.snap-*"))
	if len(parts) != 0 {
		t.Fatalf("the refused snapshots left %v", parts)
	}

	time.Sleep(300 * time.Millisecond)
	if after := r.state(t); after != before {
		t.Fatalf("the cluster changed:\nbefore %s\nafter  %s", before, after)
	}
	root := asUser{t, dial(t, r.Cluster, lead), mustAuthenticate(t, dial(t, r.Cluster, lead), "root", "rootpw")}
	var resp api.RangeResponse
	if err := root.call(api.MethodRange, &api.RangeRequest{Key: []byte("forged/"), RangeEnd: []byte("forged0")}, &resp); err != nil || len(resp.Kvs) != 0 {
		t.Fatalf("forged keys: %+v %v", resp.Kvs, err)
	}
	for _, tok := range []string{"0123", "4567"} {
		wantCode(t, "a forged token", (asUser{t, dial(t, r.Cluster, lead), tok}).put("app/x"), api.ErrInvalidAuthToken)
	}
}

// Issue 16's reproduction: two clusters started alike (same token, same
// peer URLs) share a cluster id; a member's data dir copied from one into
// the other is refused by both sides, each naming both identities, and
// the cluster it was copied into goes on undisturbed.
func TestDataDirOfATwinClusterIsRefused(t *testing.T) {
	logs := map[string]*logBuffer{"m0": {}, "m1": {}, "m2": {}}
	c := nodetest.Start(t, 3, nodetest.Options{Logger: func(name string) *slog.Logger {
		return slog.New(slog.NewTextHandler(logs[name], nil))
	}})
	ctx := ctxT(t)
	if _, err := c.Client().Put(ctx, "from-a", "1"); err != nil {
		t.Fatal(err)
	}
	c.StopAll()
	var dirsA []string
	for i := range c.Configs {
		dirsA = append(dirsA, c.Configs[i].DataDir)
		c.Configs[i].DataDir = t.TempDir() // cluster B: same flags, new data
	}
	c.StartAll()
	c.Leader()
	if _, err := c.Client().Put(ctx, "from-b", "1"); err != nil {
		t.Fatal(err)
	}
	clusterA, incA, _ := node.ClusterIdentityForTest(t, dirsA[2])
	clusterB, incB, _ := node.ClusterIdentityForTest(t, c.Configs[0].DataDir)
	if clusterA != clusterB || incA == incB {
		t.Fatalf("clusters %016x/%016x and %016x/%016x: want the same id, other incarnations", clusterA, incA, clusterB, incB)
	}
	c.StopMember(2)
	c.Configs[2].DataDir = dirsA[2]
	c.StartMember(2)
	// replica.Members 0 and 1 of B still agree; the copy follows no one.
	lead := -1
	for deadline := time.Now().Add(10 * time.Second); lead < 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("cluster B has no leader")
		}
		if l := c.Servers[0].Leader(); l != 0 && l == c.Servers[1].Leader() {
			lead = map[bool]int{true: 0, false: 1}[l == c.Servers[0].ID()]
		}
	}
	termB := c.Servers[lead].TermForTest(t)

	a := fmt.Sprintf("cluster %016x incarnation %016x", clusterA, incA)
	b := fmt.Sprintf("cluster %016x incarnation %016x", clusterB, incB)
	// B's members refuse the copy (it dials them), naming both; the copy
	// refuses B's members (they dial it), naming both.
	waitLog(t, logs["m0"], "incarnation "+fmt.Sprintf("%016x", incA))
	waitLog(t, logs["m0"], b)
	waitLog(t, logs["m2"], "incarnation "+fmt.Sprintf("%016x", incB))
	waitLog(t, logs["m2"], a)

	time.Sleep(time.Second) // ten election timeouts of the copy campaigning
	if got := c.Servers[lead].TermForTest(t); got != termB {
		t.Fatalf("cluster B's term went from %d to %d", termB, got)
	}
	if _, err := c.Client(c.Endpoint(0)).Put(ctx, "still-b", "1"); err != nil {
		t.Fatalf("cluster B after the copy started: %v", err)
	}
	short, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	if resp, err := c.Client(c.Endpoint(2)).Get(short, "from-b"); err == nil {
		t.Fatalf("the copy of A's member answered a linearizable read for cluster B: %+v", resp)
	}
	// Nor does it serve A's keys as B's, serializable, or watch them,
	// and its status says why.
	copyOfA := c.Client(c.Endpoint(2))
	rctx, rcancel := context.WithTimeout(ctx, 2*time.Second)
	defer rcancel()
	if resp, err := copyOfA.Get(rctx, "from-a", client.WithSerializable()); !errors.Is(err, api.ErrUnhealthy) || !strings.Contains(err.Error(), "refuse its cluster identity") {
		t.Fatalf("the copy of A's member answered a serializable read: %+v, %v", resp, err)
	}
	wctx, wcancel := context.WithTimeout(ctx, time.Second)
	defer wcancel()
	if wr, ok := <-copyOfA.Watch(wctx, "from-a", client.WithRev(1)); ok && len(wr.Events) > 0 {
		t.Fatalf("the copy of A's member served a watch of A's keys: %+v", wr)
	}
	st, err := copyOfA.Status(ctx, c.Endpoint(2))
	if err != nil {
		t.Fatal(err)
	}
	// Its errors may begin with etcd's "no leader" (it may know none).
	says := slices.IndexFunc(st.Errors, func(e string) bool {
		return strings.Contains(e, "refuse its cluster identity") && strings.Contains(e, a)
	})
	if says < 0 {
		t.Fatalf("the copy's status does not say its peers refuse it: %+v, %v", st, err)
	}
}

// A member started with another --initial-cluster-token than the others
// is refused, and both sides say why (it was "cannot reach peer ... EOF"
// on both).
func TestWrongClusterTokenIsNamed(t *testing.T) {
	logs := map[string]*logBuffer{"m0": {}, "m1": {}, "m2": {}}
	c := nodetest.New(t, 3, nodetest.Options{
		Configure: func(i int, cfg *node.Config) {
			if i == 2 {
				cfg.InitialClusterToken = "not-the-cluster's"
			}
		},
		Logger: func(name string) *slog.Logger { return slog.New(slog.NewTextHandler(logs[name], nil)) },
	})
	c.StartAll()
	// The wrong member either waits for the secret (its proof of the
	// token fails) or, taking itself for the founder, made another
	// cluster's (its proof of the secret fails).
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		wrong, right := logs["m2"].String(), logs["m0"].String()+logs["m1"].String()
		token := strings.Contains(wrong, "--initial-cluster-token") && strings.Contains(right, "proof of --initial-cluster-token does not match")
		secret := strings.Contains(wrong, "peer handshake refused") && strings.Contains(right, "peer handshake refused") &&
			strings.Contains(right, "does not match the cluster secret")
		if token || secret {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the wrong token is not named:\nm2:\n%s\nm0, m1:\n%s", wrong, right)
		}
	}
}

// The members of a new cluster agree on its identity without any one of
// them: with the member of the lowest id (whose identity the others
// would take) not started, the two others form the cluster; when it
// starts, it takes theirs.
func TestNewClusterFormsWithoutItsLowestMember(t *testing.T) {
	c := nodetest.New(t, 3, nodetest.Options{})
	lowest := 0
	for i, cfg := range c.Configs {
		if node.MemberID(cfg.InitialAdvertisePeerURLs, cfg.InitialClusterToken) <
			node.MemberID(c.Configs[lowest].InitialAdvertisePeerURLs, c.Configs[lowest].InitialClusterToken) {
			lowest = i
		}
	}
	for i := range c.Configs {
		if i != lowest {
			c.StartMember(i)
		}
	}
	c.Leader()
	ctx := ctxT(t)
	if _, err := c.Client().Put(ctx, "k", "v"); err != nil {
		t.Fatal(err)
	}
	c.StartMember(lowest)
	c.Leader()
	if resp, err := c.Client(c.Endpoint(lowest)).Get(ctx, "k"); err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("the lowest member, started last: %+v %v", resp, err)
	}
	_, inc, _ := node.ClusterIdentityForTest(t, c.Configs[0].DataDir)
	for i := range c.Configs {
		if _, got, _ := node.ClusterIdentityForTest(t, c.Configs[i].DataDir); got != inc {
			t.Fatalf("member %d holds incarnation %016x, member 0 %016x", i, got, inc)
		}
	}
}
