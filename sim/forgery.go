package sim

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/auth"
	"github.com/cairndb/cairn/node/peerwire"
	"github.com/cairndb/cairn/node/replica"
	"github.com/cairndb/cairn/raftcore"
)

// The forger is a nemesis of its own: at random times during the faulty
// period it puts forged raft messages in a member's inbox, messages the
// member must refuse without changing anything:
//
//   - from an id that was never a member: responses, forwarded requests
//     and leader messages at a term far ahead (past raftcore.MaxTermJump),
//     and votes, mostly to the leader (a leader in its lease never steps
//     down for them);
//   - from a member, at a term past raftcore.MaxTerm (up to 2^64-1);
//   - forwarded proposals (MsgProp) carrying internal commands or simple
//     tokens issued, in envelopes as a member makes them (replica.Internal,
//     replica.IssueToken), but stamped with another member or another
//     term than the forwarder's (the leader's origin check refuses them);
//   - snapshots from a member that is not the leader the receiver follows,
//     or larger than snapshotLimit (the transport refuses them before raft
//     sees them; acceptStream plays the transport).
//
// The forged messages are encoded and decoded as the transport does
// (network.go, snapshot.go), their extreme values with them, but reach the
// member as if its transport took them: the forger tests what a member
// does with what comes in, not the handshake that keeps non-members out.
//
// After each, the member must be where it was: same term, same role, same
// leader. The run checks besides that no member's term passes saneTerm,
// and that no forged command ever reaches any member's applied stream.
// It draws from its own random source, so that its draws do not shift
// the nemesis's.
type forger struct {
	on  bool
	rng *rand.Rand
	// forged counts the forged commands; each writes a key under
	// forgedPrefix, or names a user under it.
	forged uint64
	// injected counts the messages forged, by kind; leaderVotes counts
	// the non-members' votes a leader received, leaderProps the forged
	// proposals a leader received.
	injected                 [forgeKinds]int
	leaderVotes, leaderProps int
}

const (
	// forgedPrefix marks every forged command: no member may ever apply
	// an entry that holds it.
	forgedPrefix = "sim-forged/"
	// saneTerm bounds every member's term: a 20-second run cannot hold a
	// million elections; only a forged term could take a member there.
	saneTerm = 1 << 20
	// snapshotLimit is the largest snapshot a member takes (the
	// transport's limit, scaled down to the simulation's small stores).
	snapshotLimit = 1 << 20
	// nonMember is the first id the forger claims: no member ever has it
	// (members are numbered from 1).
	nonMember = 1 << 40
)

// forgery kinds.
const (
	forgeNonMember = iota // a message from an id that was never a member
	forgeTerm             // a member's message with a term past MaxTerm
	forgeCommand          // a forwarded proposal of commands its sender did not make
	forgeSnapshot         // a snapshot from a non-leader, or too large
	forgeVote             // a non-member's vote request, to the leader
	forgeKinds
)

func (f *forger) init(w *World) {
	f.rng = rand.New(rand.NewPCG(w.cfg.Seed, 0xf0))
	f.on = f.rng.IntN(3) != 0
	if f.on {
		w.schedule(200+f.rng.Int64N(1000), event{kind: evForge})
	}
}

// act injects one forged message, if some member is up and idle, and
// schedules the next.
func (f *forger) act(w *World) {
	if w.healed {
		return
	}
	w.schedule(100+f.rng.Int64N(800), event{kind: evForge})
	var idle []*member
	for _, m := range w.members {
		if m.state == stateUp && w.now >= m.busyUntil {
			idle = append(idle, m)
		}
	}
	if len(idle) == 0 {
		return
	}
	kind := f.rng.IntN(forgeKinds)
	m := idle[f.rng.IntN(len(idle))]
	if lead := w.leader(); kind == forgeVote && lead != nil && w.now >= lead.busyUntil {
		m = lead
	}
	st := m.core.Status()
	msg, must := f.forge(w, m, st, kind)
	if msg.Type == raftcore.MsgSnap && m.crashInSnapshot {
		return // the armed crash is for a real snapshot
	}
	msg.To = m.id
	f.injected[kind]++
	if st.SoftState.State == raftcore.StateLeader {
		switch msg.Type {
		case raftcore.MsgVote, raftcore.MsgPreVote:
			f.leaderVotes++
		case raftcore.MsgProp:
			f.leaderProps++
		}
	}
	w.logFault("forge %s from %x at term %d to %d (%s)", msg.Type, msg.From, msg.Term, m.id, must)
	w.countFault("forgery", -1)
	w.forgedArrives(m, msg)
	if m.state != stateUp {
		return // crashed in the step (an armed fsync crash)
	}
	after := m.core.Status()
	switch {
	case after.HardState.Term > saneTerm:
		w.fail("member %d took term %d from a forged %s from %x", m.id, after.HardState.Term, msg.Type, msg.From)
	case must == "unchanged" && (after.HardState.Term != st.HardState.Term || after.SoftState != st.SoftState):
		w.fail("a forged %s from %x at term %d changed member %d: term %d -> %d, %s (lead %d) -> %s (lead %d)",
			msg.Type, msg.From, msg.Term, m.id, st.HardState.Term, after.HardState.Term,
			st.SoftState.State, st.SoftState.Lead, after.SoftState.State, after.SoftState.Lead)
	case must == "leader stays" && st.SoftState.State == raftcore.StateLeader &&
		(after.SoftState.State != raftcore.StateLeader || after.HardState.Term != st.HardState.Term):
		w.fail("a forged %s from non-member %x made leader %d step down: term %d -> %d, now %s",
			msg.Type, msg.From, m.id, st.HardState.Term, after.HardState.Term, after.SoftState.State)
	}
}

// forgedArrives hands member m a forged message, through the peer wire's
// codec: a snapshot on a stream of its own, any other in a batch of one.
func (w *World) forgedArrives(m *member, msg raftcore.Message) {
	if msg.Type == raftcore.MsgSnap {
		data := msg.Snapshot.Data
		snap := *msg.Snapshot
		snap.Data = nil
		msg.Snapshot = &snap
		s, err := encodeStream(msg, byteSource(data))
		if err != nil {
			w.fail("encode a forged snapshot: %v", err)
			return
		}
		s.forged, s.toInc = true, m.incarnation
		if w.acceptStream(m, s) {
			w.step(m, snapshotArrival{EvMessage: replica.EvMessage{Msg: s.msg}, stream: s, upto: len(s.frames)})
		}
		return
	}
	for b, err := range peerwire.BatchMessages(peerwire.AppendBatch(nil, []raftcore.Message{msg})) {
		if err == nil {
			msg, _, err = raftcore.DecodeMessage(b)
		}
		if err != nil {
			w.fail("decode a forged %s: %v", msg.Type, err)
			return
		}
	}
	w.step(m, replica.EvMessage{Msg: msg})
}

// byteSource is a store copy of the bytes it holds, for forged snapshots.
type byteSource []byte

func (b byteSource) Index() uint64                      { return 0 }
func (b byteSource) Term() uint64                       { return 0 }
func (b byteSource) Size() (int64, error)               { return int64(len(b)), nil }
func (b byteSource) WriteTo(w io.Writer) (int64, error) { n, err := w.Write(b); return int64(n), err }
func (b byteSource) Close() error                       { return nil }

// forge makes a forged message for m, and says what it must leave of m:
// "unchanged" (term, role and leader), "leader stays" (a vote, which a
// follower that hears no leader may take from a member added after its
// last entry, but a leader never).
func (f *forger) forge(w *World, m *member, st raftcore.Status, kind int) (raftcore.Message, string) {
	term := st.HardState.Term
	switch kind {
	case forgeNonMember:
		from := nonMember + f.rng.Uint64N(1<<20)
		types := []raftcore.MessageType{
			raftcore.MsgVote, raftcore.MsgPreVote, raftcore.MsgApp, raftcore.MsgHeartbeat,
			raftcore.MsgReadIndexResp, raftcore.MsgAppResp, raftcore.MsgVoteResp,
			raftcore.MsgPreVoteResp, raftcore.MsgHeartbeatResp, raftcore.MsgTimeoutNow,
			raftcore.MsgProp, raftcore.MsgReadIndex, raftcore.MsgTransferLeader,
		}
		msg := raftcore.Message{Type: types[f.rng.IntN(len(types))], From: from, Term: term + f.rng.Uint64N(2)}
		switch msg.Type {
		case raftcore.MsgVote, raftcore.MsgPreVote:
			return f.vote(msg.Type, from, term)
		case raftcore.MsgApp, raftcore.MsgHeartbeat, raftcore.MsgReadIndexResp:
			// A leader's messages from a non-member are taken only
			// within MaxTermJump of the receiver's term.
			msg.Term = term + 1<<40
			msg.Index, msg.LogTerm, msg.Commit = st.HardState.Commit, term, st.HardState.Commit+10
			msg.Entries = f.commands(w, from, term, 1+f.rng.IntN(3))
		case raftcore.MsgProp:
			msg.Term = 0
			msg.Entries = f.commands(w, from, term, 1+f.rng.IntN(3))
		case raftcore.MsgReadIndex, raftcore.MsgTransferLeader:
			msg.Term = 0
		}
		return msg, "unchanged"
	case forgeTerm:
		types := []raftcore.MessageType{raftcore.MsgApp, raftcore.MsgHeartbeat, raftcore.MsgVote,
			raftcore.MsgPreVote, raftcore.MsgAppResp, raftcore.MsgVoteResp, raftcore.MsgTimeoutNow, raftcore.MsgSnap}
		msg := raftcore.Message{Type: types[f.rng.IntN(len(types))], From: f.otherMember(w, m), Term: ^uint64(0)}
		if f.rng.IntN(2) == 0 {
			msg.Term = raftcore.MaxTerm + 1 + f.rng.Uint64N(1<<40)
		}
		msg.Index, msg.LogTerm, msg.Commit = st.HardState.Commit, term, st.HardState.Commit+10
		if msg.Type == raftcore.MsgSnap {
			msg.Snapshot = f.snapshot(st, 64)
		}
		return msg, "unchanged"
	case forgeCommand:
		from := f.otherMember(w, m)
		return raftcore.Message{Type: raftcore.MsgProp, From: from, Entries: f.commands(w, from, term, 1+f.rng.IntN(3))}, "unchanged"
	case forgeVote:
		typ := raftcore.MsgVote
		if f.rng.IntN(2) == 0 {
			typ = raftcore.MsgPreVote
		}
		return f.vote(typ, nonMember+f.rng.Uint64N(1<<20), term)
	default: // forgeSnapshot
		from, size := f.otherMember(w, m), 64+f.rng.IntN(4096)
		switch f.rng.IntN(3) {
		case 0:
			from = nonMember + f.rng.Uint64N(1<<20)
		case 1:
			// The leader it follows, if any, but far too large.
			if lead := m.core.Leader(); lead != 0 && lead != m.id {
				from = lead
			}
			size = snapshotLimit + 1 + f.rng.IntN(1<<16)
		}
		if from == m.core.Leader() && size <= snapshotLimit {
			from = nonMember
		}
		return raftcore.Message{Type: raftcore.MsgSnap, From: from, Term: term + f.rng.Uint64N(2), Snapshot: f.snapshot(st, size)}, "unchanged"
	}
}

// vote is a non-member's request for votes in the next term, with a log
// longer than anyone's: a leader in its lease refuses it (a follower that
// hears no leader may grant it: the request is legitimate from a member
// added after its last entry).
func (f *forger) vote(typ raftcore.MessageType, from, term uint64) (raftcore.Message, string) {
	return raftcore.Message{Type: typ, From: from, Term: term + 1, Index: 1 << 50, LogTerm: term + 1}, "leader stays"
}

// otherMember returns a member's id other than m's (or a non-member's,
// in a cluster of one).
func (f *forger) otherMember(w *World, m *member) uint64 {
	var ids []uint64
	for _, o := range w.members {
		if o != m && o.state != stateRemoved {
			ids = append(ids, o.id)
		}
	}
	if len(ids) == 0 {
		return nonMember
	}
	return ids[f.rng.IntN(len(ids))]
}

// snapshot is a forged snapshot past m's commit index, of size bytes of
// garbage.
func (f *forger) snapshot(st raftcore.Status, size int) *raftcore.Snapshot {
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(f.rng.Uint32())
	}
	return &raftcore.Snapshot{
		Metadata: raftcore.SnapshotMetadata{Index: st.HardState.Commit + 1 + f.rng.Uint64N(100), Term: st.HardState.Term,
			ConfState: raftcore.ConfState{Voters: []uint64{nonMember}}},
		Data: data,
	}
}

// commands forges n log entries as member from would propose them: an
// internal command or a simple token issued, in an envelope stamped with
// another member than from, or with another term than term, or not at all.
func (f *forger) commands(w *World, from, term uint64, n int) []raftcore.Entry {
	var ents []raftcore.Entry
	for range n {
		f.forged++
		name := fmt.Sprintf("%s%d", forgedPrefix, f.forged)
		var cmd replica.Envelope
		if f.rng.IntN(3) == 0 {
			cmd = replica.IssueToken(&auth.Command{Op: auth.OpIssueToken, Name: name, Token: name, Revision: 1})
		} else {
			var err error
			if cmd, err = replica.Internal(&api.PutRequest{Key: []byte(name), Value: []byte("forged")}); err != nil {
				w.fail("forge a command: %v", err)
				return nil
			}
		}
		switch f.rng.IntN(4) {
		case 0:
			cmd.Member, cmd.Term = from+1, term
		case 1:
			cmd.Member, cmd.Term = from, term-1
		case 2:
			cmd.Member, cmd.Term = from, term+1+f.rng.Uint64N(3)
		}
		cmd.Tag, cmd.Seq = f.rng.Uint64()|1<<63, f.forged
		ents = append(ents, raftcore.Entry{Type: raftcore.EntryNormal, Data: cmd.Marshal()})
	}
	return ents
}

// checkNotForged fails the run if an entry member m applies holds a forged
// command.
func (w *World) checkNotForged(m *member, index uint64, data []byte) {
	if w.forger.forged > 0 && bytes.Contains(data, []byte(forgedPrefix)) {
		i := bytes.Index(data, []byte(forgedPrefix))
		w.fail("member %d applied a forged command at index %d: %q", m.id, index, data[i:])
	}
}

// checkTerms requires every member's term to be under saneTerm.
func (w *World) checkTerms() error {
	for _, m := range w.members {
		if m.state == stateUp {
			if t := m.core.Status().HardState.Term; t > saneTerm {
				return fmt.Errorf("member %d is at term %d, past %d", m.id, t, saneTerm)
			}
		}
	}
	return nil
}
