package raftcore

import "fmt"

// None is the node id that means "no node": no vote cast, no leader known.
const None uint64 = 0

// EntryType says how the state machine must interpret an Entry's Data.
type EntryType uint8

const (
	// EntryNormal carries an opaque application command (or nothing: the
	// leader's no-op entry at the start of its term has empty Data).
	EntryNormal EntryType = iota
	// EntryConfChange carries an encoded ConfChange.
	EntryConfChange
)

func (t EntryType) String() string {
	switch t {
	case EntryNormal:
		return "Normal"
	case EntryConfChange:
		return "ConfChange"
	}
	return fmt.Sprintf("EntryType(%d)", uint8(t))
}

// Entry is one slot of the replicated log.
type Entry struct {
	Term  uint64
	Index uint64
	Type  EntryType
	Data  []byte
}

// HardState is the part of a node's state that must be durable before the
// messages that depend on it are sent: the current term, the vote cast in
// it, and the highest index known to be committed.
type HardState struct {
	Term   uint64
	Vote   uint64
	Commit uint64
}

// IsEmpty reports whether h is the zero HardState.
func (h HardState) IsEmpty() bool { return h == HardState{} }

// ConfState is a cluster membership: the voters, which elect leaders and
// form quorums, and the learners, which only receive the log.
type ConfState struct {
	Voters   []uint64
	Learners []uint64
}

// SnapshotMetadata says which prefix of the log a snapshot replaces and the
// membership in force at its last entry.
type SnapshotMetadata struct {
	Index     uint64
	Term      uint64
	ConfState ConfState
}

// Snapshot is the application's state machine as of Metadata.Index, in the
// application's own encoding.
type Snapshot struct {
	Metadata SnapshotMetadata
	Data     []byte
}

// IsEmpty reports whether s holds no snapshot.
func (s Snapshot) IsEmpty() bool { return s.Metadata.Index == 0 }

// ConfChangeType is the kind of single-server membership change.
type ConfChangeType uint8

const (
	// AddVoter adds a voter, or promotes an existing learner to voter.
	AddVoter ConfChangeType = iota
	// AddLearner adds a non-voting member that receives the log.
	AddLearner
	// RemoveNode removes a voter or a learner.
	RemoveNode
)

func (t ConfChangeType) String() string {
	switch t {
	case AddVoter:
		return "AddVoter"
	case AddLearner:
		return "AddLearner"
	case RemoveNode:
		return "RemoveNode"
	}
	return fmt.Sprintf("ConfChangeType(%d)", uint8(t))
}

// ConfChange is a single-server membership change. Context is opaque to
// raft; the server uses it to carry the member's addresses.
type ConfChange struct {
	Type    ConfChangeType
	NodeID  uint64
	Context []byte
}

// MessageType is the kind of a Message exchanged between raft nodes.
type MessageType uint8

// The message types. Proposal, ReadIndex and TransferLeader messages are
// forwarded from followers to the leader; every other type is the Raft
// protocol proper.
const (
	MsgApp            MessageType = iota + 1 // leader → follower: append entries after (LogTerm, Index)
	MsgAppResp                               // follower → leader: accepted up to Index, or Reject with a hint
	MsgVote                                  // candidate → all: vote for me in Term
	MsgVoteResp                              // vote granted or rejected
	MsgPreVote                               // pre-candidate → all: would you vote for me in Term?
	MsgPreVoteResp                           // pre-vote granted or rejected
	MsgHeartbeat                             // leader → follower: I am alive; commit is Commit
	MsgHeartbeatResp                         // follower → leader: heard heartbeat round Seq
	MsgSnap                                  // leader → follower: install Snapshot
	MsgTimeoutNow                            // leader → transferee: campaign now
	MsgProp                                  // follower → leader: forwarded proposal
	MsgReadIndex                             // follower → leader: forwarded ReadIndex request
	MsgReadIndexResp                         // leader → follower: read may proceed at Index
	MsgTransferLeader                        // follower → leader: forwarded TransferLeader
)

var messageTypeNames = [...]string{
	MsgApp: "MsgApp", MsgAppResp: "MsgAppResp", MsgVote: "MsgVote", MsgVoteResp: "MsgVoteResp",
	MsgPreVote: "MsgPreVote", MsgPreVoteResp: "MsgPreVoteResp", MsgHeartbeat: "MsgHeartbeat",
	MsgHeartbeatResp: "MsgHeartbeatResp", MsgSnap: "MsgSnap", MsgTimeoutNow: "MsgTimeoutNow",
	MsgProp: "MsgProp", MsgReadIndex: "MsgReadIndex", MsgReadIndexResp: "MsgReadIndexResp",
	MsgTransferLeader: "MsgTransferLeader",
}

func (t MessageType) String() string {
	if int(t) < len(messageTypeNames) && messageTypeNames[t] != "" {
		return messageTypeNames[t]
	}
	return fmt.Sprintf("MessageType(%d)", uint8(t))
}

// Valid reports whether t is one of the defined message types.
func (t MessageType) Valid() bool { return t >= MsgApp && t <= MsgTransferLeader }

// Message is the unit of communication between raft nodes. Which fields are
// meaningful depends on Type; unused fields are zero.
type Message struct {
	Type MessageType
	From uint64
	To   uint64
	Term uint64
	// LogTerm and Index name a log position: in MsgApp the entry preceding
	// Entries; in MsgVote/MsgPreVote the candidate's last entry; in a
	// rejected MsgAppResp LogTerm is the term at RejectHint. In an accepted
	// MsgAppResp, Index is the follower's last matching index; in
	// MsgReadIndexResp, the read index; in MsgTransferLeader, the id of
	// the node to hand leadership to.
	LogTerm uint64
	Index   uint64
	Commit  uint64
	Entries []Entry
	// Snapshot is set only on MsgSnap.
	Snapshot *Snapshot
	Reject   bool
	// RejectHint is, on a rejected MsgAppResp, an index at or below which
	// the follower's log may match the leader's (fast backtracking).
	RejectHint uint64
	// Seq numbers a leader's heartbeat rounds; a MsgHeartbeatResp echoes it
	// so the leader can confirm ReadIndex requests.
	Seq uint64
	// Transfer marks a MsgVote sent because of a leadership transfer: voters
	// grant it even if they heard from the old leader recently.
	Transfer bool
	// Repairing marks the answers (MsgAppResp, MsgHeartbeatResp) of a node
	// repairing state its storage lost (Config.Repair): its leader counts
	// it toward no commit and no read, and probes its log afresh.
	// Repaired marks them once it is repaired, for the rest of that term:
	// its leader counts it again, and takes an answer with neither flag in
	// that term for one sent before the loss. See repair.go.
	Repairing, Repaired bool
	// RepairAttempt numbers, on a marked answer, the node's repair that
	// sent it (Config.RepairAttempt): its leader takes no answer of an
	// earlier repair once it has seen a later one's, since the node lost
	// its state again in between. 0 on every other message.
	RepairAttempt uint64
	// Context is the opaque request context of a ReadIndex request.
	Context []byte
}

// StateType is the role a node plays.
type StateType uint8

const (
	StateFollower StateType = iota
	StatePreCandidate
	StateCandidate
	StateLeader
)

func (s StateType) String() string {
	switch s {
	case StateFollower:
		return "Follower"
	case StatePreCandidate:
		return "PreCandidate"
	case StateCandidate:
		return "Candidate"
	case StateLeader:
		return "Leader"
	}
	return fmt.Sprintf("StateType(%d)", uint8(s))
}

// SoftState is volatile state worth telling the application about: who
// leads and what role this node plays. It need not be persisted.
type SoftState struct {
	Lead  uint64
	State StateType
	// Repairing says the node has not finished repairing state its
	// storage lost (Config.Repair): it is repairing, or repaired in its
	// current term (see repair.go). Once a Ready in which it turned false
	// is persisted, the application may forget that a repair was needed.
	Repairing bool
}

// ReadState says that a read issued with RequestCtx may be served once the
// application has applied the log up to Index.
type ReadState struct {
	Index      uint64
	RequestCtx []byte
}
