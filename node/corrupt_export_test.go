package node

import "github.com/cairndb/cairn/api"

// Test hooks of the corruption check, for the tests of package node_test.

// CorruptStoreForTest writes key = value straight into this member's
// store, bypassing raft: from then on its data differ from the others'.
func (s *Server) CorruptStoreForTest(key, value string) error {
	_, err := s.replica.State.Store().Put(0, 0, &api.PutRequest{Key: []byte(key), Value: []byte(value)})
	return err
}

// CorruptChecksComparedForTest counts this member's periodic checks that
// compared at least two members' hashes.
func (s *Server) CorruptChecksComparedForTest() int64 { return s.corrupt.compared.Load() }

// InitialCorruptCheckPassedForTest reports whether the initial check ran
// and found no difference.
func (s *Server) InitialCorruptCheckPassedForTest() bool { return s.corrupt.initialPassed.Load() }

// CompactionPendingForTest reports whether this member's store has
// compaction work left to its commits.
func (s *Server) CompactionPendingForTest() bool { return s.replica.State.Store().CompactionPending() }
