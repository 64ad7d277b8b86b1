package node

import (
	"context"
	"io"
	"path/filepath"
	"testing"
	"time"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/auth"
	"github.com/cairndb/cairn/node/replica"
	"github.com/cairndb/cairn/rpc"
)

// Test hooks of the peer port, for the rogue-peer tests of package
// node_test.

// Peer methods.
const (
	MethodRaftForTest         = methodRaft
	MethodRaftSnapshotForTest = methodRaftSnapshot
	MethodPeerMembersForTest  = methodPeerMembers
	MethodPeerHashKVForTest   = methodPeerHashKV
)

// StreamHeaderForTest opens a peer stream.
func StreamHeaderForTest(cluster, from, to uint64) []byte { return streamHeader(cluster, from, to) }

// ClusterIdentityForTest reads the cluster identity kept in a member's
// data dir: its cluster id, incarnation and secret.
func ClusterIdentityForTest(t testing.TB, dataDir string) (cluster, incarnation uint64, secret []byte) {
	t.Helper()
	id, _, err := loadClusterIdentity(filepath.Join(dataDir, memberDir))
	if err != nil || id == nil {
		t.Fatalf("no cluster identity in %s: %v", dataDir, err)
	}
	return id.Cluster, id.Incarnation, id.Secret[:]
}

// PeerProofForTest is the dialer's side of the peer handshake of member
// from, of cluster incarnation with secret, calling member to.
func PeerProofForTest(cluster, incarnation uint64, secret []byte, from, to uint64) rpc.ClientAuthenticate {
	id := &clusterIdentity{Cluster: cluster, Incarnation: incarnation}
	copy(id.Secret[:], secret)
	return func(rw io.ReadWriter, info rpc.AuthInfo) error { return proveMember(rw, info, id, from, to) }
}

// JoinProofForTest is the dialer's side of a join exchange of the member
// with peer URLs urls (sorted), proving token.
func JoinProofForTest(token string, urls []string) rpc.ClientAuthenticate {
	var j joinedIdentity
	return joinProof(joinKeyOf(token), urls, &j)
}

// InternalPutForTest is an entry's data: an internal put of key, stamped
// as made by member in term, behind the header of a made-up proposer.
func InternalPutForTest(t testing.TB, key string, member, term, seq uint64) []byte {
	cmd, err := replica.Internal(&api.PutRequest{Key: []byte(key), Value: []byte("forged")})
	if err != nil {
		t.Fatal(err)
	}
	cmd.Tag, cmd.Seq, cmd.Member, cmd.Term = 0xbadbadbad, seq, member, term
	return cmd.Marshal()
}

// IssueTokenForTest is an entry's data: a simple token (by its hash)
// issued for user, stamped as made by member in term.
func IssueTokenForTest(user, hash string, revision, member, term, seq uint64) []byte {
	cmd := replica.IssueToken(&auth.Command{Op: auth.OpIssueToken, Name: user, Token: hash, Revision: revision})
	cmd.Tag, cmd.Seq, cmd.Member, cmd.Term = 0xbadbadbad, seq, member, term
	return cmd.Marshal()
}

// TermForTest is the member's raft term.
func (s *Server) TermForTest(t testing.TB) uint64 {
	st, err := s.driver.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return st.HardState.Term
}

// SetSnapshotStallForTest sets how long a snapshot being received may
// go without data.
func (s *Server) SetSnapshotStallForTest(d time.Duration) { s.transport.snapshotStall = d }
