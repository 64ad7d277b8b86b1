package node

import (
	"path/filepath"
	"testing"

	"github.com/cairndb/cairn/raftcore"
)

// SendVoteRequestForTest has the member ask every other initial member
// for its vote, as a candidate of the next term does: through the
// transport, which records the campaign under its cluster identity first.
// The core's state is left as it is.
func (s *Server) SendVoteRequestForTest(t testing.TB) {
	t.Helper()
	term := s.TermForTest(t) + 1
	var msgs []raftcore.Message
	for id := range s.transport.initial {
		if id != s.id {
			msgs = append(msgs, raftcore.Message{Type: raftcore.MsgVote, From: s.id, To: id, Term: term})
		}
	}
	if len(msgs) == 0 {
		t.Fatal("the member has no other initial member to ask")
	}
	s.transport.Send(msgs)
}

// ClusterIdentityStateForTest is the state of the cluster identity kept
// in a member's data dir: provisional, campaigned or committed.
func ClusterIdentityStateForTest(t testing.TB, dataDir string) string {
	t.Helper()
	id, state, err := loadClusterIdentity(filepath.Join(dataDir, memberDir))
	if err != nil || id == nil {
		t.Fatalf("no cluster identity in %s: %v", dataDir, err)
	}
	return state.String()
}
