package sim

import (
	"bytes"

	"github.com/cairndb/cairn/node/replica"
	"github.com/cairndb/cairn/raftcore"
)

// Snapshots between simulated members. A real transport streams a
// snapshot's data after its MsgSnap (node/transport.go); here the leader's
// copy of its store is read whole when the message leaves and travels in
// the message's Data, and the receiving member stores it
// (KVState.ReceiveSnapshot) before the message reaches its core, as the
// transport does. The stores are small, and the copy is opened where the
// transport opens it: on the leader's core, between steps.

// takeEffects takes the effects of member m's step, each MsgSnap with the
// copy of m's store it announces. It reports whether m crashed opening a
// copy (which commits the store: an fsync).
func (w *World) takeEffects(m *member) (replica.Effects, bool) {
	eff := m.core.TakeEffects()
	crashed := w.protect(m, "snapshot send", func() {
		out := eff.Messages[:0:0]
		for _, msg := range eff.Messages {
			if msg.Type == raftcore.MsgSnap {
				var ok bool
				if msg, ok = w.packSnapshot(m, msg); !ok {
					continue
				}
			}
			out = append(out, msg)
		}
		eff.Messages = out
	})
	return eff, crashed
}

// packSnapshot opens the copy of m's store a MsgSnap announces and puts it
// in the message. If the copy cannot be opened (the store failed), the
// snapshot is reported failed, as the transport would.
func (w *World) packSnapshot(m *member, msg raftcore.Message) (raftcore.Message, bool) {
	if w.corrupt.isRotten(m.id) {
		// A rotten store copied to every member (a rotten leader's
		// snapshots do that, as real corruption spreads) can be found by
		// no comparison of hashes, and leaves the simulator no clean store
		// to hold the others to: the rot fault is kept to the stores it
		// reached, and a rotten member sends no snapshot (the transport
		// reports it failed). A clean leader sends one instead: the
		// rotten leader hands its leadership to a clean voter that is up.
		w.schedule(1, event{kind: evInput, who: m.id, input: replica.EvSnapshotStatus{To: msg.To, Failed: true}})
		for _, id := range w.conf.voters {
			if x := w.member(id); id != m.id && x.state == stateUp && !w.corrupt.isRotten(id) {
				w.logFault("rotten leader %d hands leadership to %d, to send %d a clean snapshot", m.id, id, msg.To)
				w.schedule(1, event{kind: evInput, who: m.id, input: replica.EvTransferLeader{To: id}})
				break
			}
		}
		return msg, false
	}
	out, src, err := m.core.OpenSnapshot(msg)
	if err == nil {
		defer src.Close()
		var buf bytes.Buffer
		if _, err = src.WriteTo(&buf); err == nil {
			out.Snapshot.Data = buf.Bytes()
			return out, true
		}
	}
	w.logFault("member %d cannot send a snapshot to %d: %v", m.id, msg.To, err)
	w.schedule(1, event{kind: evInput, who: m.id, input: replica.EvSnapshotStatus{To: msg.To, Failed: true}})
	return msg, false
}

// receiveSnapshot stores the data of a MsgSnap arriving at m and returns
// the message without it, for m's core. As the transport does, it takes a
// snapshot only from the leader m follows, and only up to snapshotLimit
// bytes. If it refuses the snapshot, or m cannot store it (its disk is
// full), the message is dropped: ok is false.
func (w *World) receiveSnapshot(m *member, ev replica.Event) (replica.Event, bool) {
	in, isMsg := ev.(replica.EvMessage)
	if !isMsg || in.Msg.Type != raftcore.MsgSnap || in.Msg.Snapshot == nil {
		return ev, true
	}
	snap := *in.Msg.Snapshot
	if lead := m.core.Leader(); in.Msg.From != lead || len(snap.Data) > snapshotLimit {
		return ev, false
	}
	if err := m.sm.kv.ReceiveSnapshot(snap.Metadata.Index, int64(len(snap.Data)), bytes.NewReader(snap.Data)); err != nil {
		w.logFault("member %d cannot store the snapshot at %d: %v", m.id, snap.Metadata.Index, err)
		return ev, false
	}
	snap.Data = nil
	in.Msg.Snapshot = &snap
	return in, true
}
