// Package raftcore is the Raft consensus algorithm as a pure,
// deterministic state machine: no goroutines, no clock, no network, no
// disk. Its caller feeds it inputs — ticks of a logical clock, messages
// from other nodes, requests — and it answers with a Ready: a list of
// things to write, send and apply. Given the same inputs in the same order
// (and the same Config.Rand), a Node makes the same decisions, which is
// what lets package sim replay a whole cluster from a seed.
//
// References below are to the Raft paper (Ongaro and Ousterhout, "In
// Search of an Understandable Consensus Algorithm", extended version,
// 2014: "paper §5.3") and to Ongaro's dissertation ("Consensus: Bridging
// Theory and Practice", Stanford, 2014: "thesis §6.4").
//
// # Driving a Node
//
// The caller owns one goroutine (or one event loop) per Node:
//
//	n, err := raftcore.NewNode(cfg, peers) // peers: only to bootstrap a new cluster
//	for {
//		// inputs, any number of them between two Readies:
//		n.Tick()                // every tick of the caller's clock
//		n.Step(msg)             // a message from another node
//		n.Propose(data)         // a command for the log
//		n.ReadIndex(ctx)        // a linearizable read
//
//		for n.HasReady() {
//			rd, err := n.Ready()
//			// 1. send rd.Messages (may overlap with step 2)
//			// 2. persist rd.Snapshot, rd.Entries, rd.HardState (fsync if rd.MustSync)
//			// 3. send rd.MessagesAfterPersist
//			// 4. apply rd.Snapshot, then rd.CommittedEntries; serve rd.ReadStates
//			n.Advance()
//		}
//	}
//
// The order inside a Ready is the contract (see Ready's comment). Raft's
// persistent state — current term, vote, log — must be durable before
// the node answers anyone in a way that depends on it (paper figure 2,
// thesis §3.8): a vote or an append acknowledgement promises the disk,
// so they come in MessagesAfterPersist. A leader's appends and
// heartbeats promise nothing about its own disk, so they come in
// Messages and may leave while the leader's fsync runs (thesis §10.2.1);
// the leader counts itself toward a quorum only when Advance tells it
// that its own entries are durable (raft.onPersisted). Advance also
// moves the applied index, so the next Ready hands out what comes after.
//
// Everything fed between two Readies is persisted by one Ready, with one
// fsync: that is how a busy server batches concurrent proposals (thesis
// §10.2.2; package node's Core also proposes them in one Node.Propose
// call, so each follower gets them in one append). Core is the production
// caller (Core.Feed, Core.Run, Core.handleReady); logstore.Log is the
// Storage that persists what a Ready says.
//
// # The files
//
//	types.go      Entry, HardState, ConfState, Snapshot, ConfChange, Message, the roles
//	node.go       Node: the public API, Ready and Advance, bootstrap, Status
//	raft.go       raft: the protocol — elections, replication, commit, ReadIndex, transfer
//	log.go        raftLog: the stored log plus the unstable tail not yet persisted
//	progress.go   progress: the leader's view of each follower, flow control (inflights)
//	membership.go configs: the membership history of the entries in the log
//	storage.go    Storage, the interface the durable log implements; MemoryStorage
//	encoding.go, codec.go  the binary encoding the WAL and the network use
//
// Every state change goes through raft.step (messages) or raft.tick
// (time); each role has a short step function: stepLeader,
// stepCandidate (candidates and pre-candidates), stepFollower.
//
// # Where each rule lives
//
// Terms: every message carries its sender's term. raft.step handles a
// higher term (become a follower) and a lower one (answer so the stale
// sender learns it, or drop) before any role sees the message (paper
// §5.1). Before that, raft.checkSender refuses what no member could
// send: a term past MaxTerm (none wraps), and from a node that is not a
// member anything but a leader's or a candidate's message while no live
// leader is followed, or one more than MaxTermJump terms ahead.
//
// Leader election (paper §5.2, thesis §3.4): raft.tickElection counts
// ticks to a timeout drawn at random in [ElectionTick, 2*ElectionTick)
// (resetRandomizedElectionTimeout); raft.hup and raft.campaign start an
// election; raft.handleVoteRequest grants at most one vote per term;
// raft.poll and raft.tally count the votes; raft.becomeLeader wins.
//
// Election restriction (paper §5.4.1, thesis §3.6.1): a vote goes only to
// a candidate whose log is at least as up to date as the voter's:
// raftLog.isUpToDate, called from handleVoteRequest.
//
// Pre-vote (thesis §9.6), Config.PreVote: before raising its term a node
// asks whether it could win (MsgPreVote, StatePreCandidate,
// raft.becomePreCandidate); a pre-vote changes no term and no vote, so a
// node cut off from the cluster does not disrupt it when it comes back.
//
// Check-quorum, Config.CheckQuorum: a leader that has not heard from a
// quorum for an election timeout steps down (raft.tickLeader,
// raft.quorumActive; thesis §6.2), and a node that hears from a leader
// ignores vote requests until an election timeout has passed since
// (the lease test at the top of raft.step; thesis §4.2.3). A stale
// leader with a lower term is told the current term (raft.step) so it
// steps down.
//
// Log replication and log matching (paper §5.3, thesis §3.5): the leader
// sends each follower the entries after the one it believes they share
// (raft.sendAppend, with Index and LogTerm naming that entry); the
// follower appends only if it holds that entry, cutting a conflicting
// suffix (raftLog.maybeAppend, findConflict; raft.handleAppend). On a
// rejection the follower hints where the logs may match and the leader
// skips a whole term at a time (raftLog.findConflictByTerm,
// progress.maybeDecrTo; the optimization sketched at the end of paper
// §5.3). A leader never overwrites its own log (raft.appendEntries only
// appends), and an entry at or below the commit index is never replaced
// (raftLog.append and maybeAppend panic rather than do it).
//
// Pipelining and flow control (thesis §10.2.2): progress.go keeps each
// follower in probe, replicate or snapshot state; in replicate state the
// leader streams appends without waiting, bounded by Config.MaxInflightMsgs
// and MaxInflightBytes (inflights).
//
// Commit rule (paper §5.4.2 and figure 8, thesis §3.6.2): the leader
// commits the highest index stored on a quorum of voters (raft.maybeCommit,
// the quorum-th highest match), but only if that entry is of its own
// term (raftLog.maybeCommit). A new leader appends an empty entry at once
// (raft.becomeLeader) so that it can commit the entries of earlier terms.
// Config.UnsafeCommitAnyTerm breaks this rule on purpose, for the tests
// that must catch it (TestFigure8, sim's TestMutationCommitAnyTermCaught).
// Followers learn the commit index from appends and heartbeats, never
// beyond what they are known to hold (raft.sendHeartbeat).
//
// Snapshots and log compaction (paper §7, thesis chapter 5): when a
// follower needs entries the log no longer holds, raft.sendAppend falls
// back to raft.sendSnapshot (MsgSnap with Storage.Snapshot);
// raft.handleSnapshot and raft.restore install one on a follower,
// resetting the log and the membership. The application takes snapshots
// and compacts the log itself (Storage, logstore.Log.CreateSnapshot and
// Compact). cairn's store is its own snapshot (a disk-based state
// machine, thesis §5.2): package node streams the store itself in place
// of the snapshot's data.
//
// Linearizable reads, ReadIndex (paper §8, thesis §6.4): Node.ReadIndex;
// the leader records its commit index as the read index (raft.readIndex),
// but only once it has committed an entry of its term (until then the
// request waits in readsBeforeCommit); it confirms it still leads with a
// round of heartbeats numbered by heartbeatSeq, which followers echo
// (Message.Seq); raft.releaseConfirmedReads releases every read whose
// round a quorum acknowledged, as a ReadState (or a MsgReadIndexResp to a
// follower that forwarded the request). The application serves the read
// once it has applied up to ReadState.Index. One round serves any number
// of reads.
//
// Leadership transfer (thesis §3.10): Node.TransferLeader;
// raft.transferLeader brings the transferee's log up to date, then sends
// MsgTimeoutNow; the transferee campaigns at once, skipping the pre-vote
// and overriding the voters' lease (Message.Transfer). Proposals are
// dropped meanwhile, and a transfer not done in an election timeout is
// abandoned (raft.tickLeader).
//
// Membership changes (thesis §4.1 and §4.2): one server at a time, so the
// majorities of the old and new configurations always overlap.
// Node.ProposeConfChange; raft.checkConfChange allows a change only after
// the leader committed an entry of its term and while no other change is
// uncommitted. A change takes effect when appended, not when committed
// (raft.onEntriesAppended; configs in membership.go keeps one record per
// change in the log, so a follower whose suffix is cut rolls its
// membership back). Learners receive the log without voting (thesis
// §4.2.1, ConfChange AddLearner). A leader that removed itself keeps
// leading until the change commits, then steps down (raft.promotable,
// raft.onCommit; thesis §4.2.2).
//
// Persisted state and restarts (paper figure 2, thesis §3.8): NewNode
// rebuilds term, vote, commit and membership from Storage
// (Storage.InitialState and the conf changes in the log); Ready.MustSync
// says when a Ready changes what must be fsynced (entries, term, vote,
// snapshot — not a commit index alone, which can be learned again).
//
// # Refusing the impossible
//
// A few states cannot happen in a correct cluster; raftcore says so
// instead of going on. ErrImpossibleAck: a follower acknowledged entries
// the leader never had (a member forgot its vote across a crash).
// ErrSnapshotMissing: the log is compacted but storage has no snapshot.
// A committed entry about to be overwritten, or a commit or applied index
// out of range, is a bug: raftLog.append, maybeAppend, commitTo and
// appliedTo panic, naming the indexes.
//
// # Tests
//
// raft_test.go has one test per rule above (TestVoteRules,
// TestPreVoteDoesNotDisruptLeader, TestCheckQuorumLeaderStepsDown,
// TestLeaderDoesNotCommitPreviousTermEntryAlone, TestFigure8,
// TestReadIndexNeedsHeartbeatQuorum, TestLeaderTransfer,
// TestOneConfChangeAtATime, ...). property_test.go runs random schedules
// with drops, duplicates, partitions, crashes and membership changes, and
// cluster_test.go checks the safety properties of paper figure 3 after
// every step: election safety, log matching, leader completeness, and
// that a committed entry never changes (state machine safety).
package raftcore
