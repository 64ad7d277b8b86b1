package sim

import (
	"fmt"

	"github.com/cairndb/cairn/node/replica"
)

// A member restarted on its disk serves no read, and resumes no watch,
// until a peer has confirmed that the disk is its cluster's
// (replica.PeerConfirmation, as on the server). The server's confirmation
// is a handshake under the cluster identity its data dir holds; every
// simulated member holds the same, so every handshake succeeds, and a
// batch or a stream arriving from a member is taken for one: it confirms
// both ends (a handshake does, in either direction), the sender only if
// it has not restarted since it sent it. (What was sent to a member
// before it restarted never arrives: network.go.)
//
// No check can catch a member that serves reads unconfirmed, so no
// mutation test tries: the simulated clients read linearizably only, a
// read a member serves only once the leader answered its ReadIndex (a
// peer's message, which confirmed it first), and no member restarts on
// another cluster's disk. What the rule guards against — a data dir of
// another cluster serving that cluster's keys to serializable reads —
// would need both. The rule is run so that the simulation holds it as the
// server does: a read arriving at a member that is not confirmed is
// refused as it is planned (Replica.Plan asks member.readRefusal), and
// its client goes on as it does after any refusal
// (TestRestartedMemberWaitsForAPeer).

// startConfirmation starts member m's confirmation as it opens its disk:
// one that ran before on it and knows of another member waits for a peer.
func (w *World) startConfirmation(m *member) {
	var initial []uint64
	if m.initial {
		for _, p := range w.initial {
			initial = append(initial, p.ID)
		}
	}
	restarted := m.incarnation > 1 // its first start made incarnation 1
	m.confirm = replica.NewPeerConfirmation(restarted, replica.HasOtherMembers(m.id, initial, m.replica.State.Members()))
}

// peerHandshake is the handshake of a connection from member peer, in its
// incarnation peerInc, to member m, which a batch or a stream arriving
// proves succeeded.
func (w *World) peerHandshake(m *member, peer, peerInc uint64) {
	w.confirmed(m)
	if p := w.member(peer); p.state == stateUp && p.incarnation == peerInc {
		w.confirmed(p)
	}
}

// confirmed records that a peer confirmed member m; the watches it held
// resume once it is.
func (w *World) confirmed(m *member) {
	if m.confirm.Confirm() {
		w.resumeWatchers(m)
	}
}

// peerRefusal says why member m serves no read until a peer confirms it,
// or nil once one has; it counts the reads it refuses.
func (m *member) peerRefusal() error {
	err := m.confirm.Refusal(func() string { return fmt.Sprintf("member %d", m.id) })
	if err != nil {
		m.unconfirmedReads++
	}
	return err
}
