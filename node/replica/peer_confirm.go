package replica

import (
	"fmt"
	"sync/atomic"

	"github.com/cairndb/cairn/api"
)

// A member restarted on its data dir serves no read — not even a
// serializable one, which needs no other member — until a peer has
// confirmed that the data dir is this cluster's: a handshake with another
// member succeeded, in either direction, under the cluster identity the
// data dir holds (node/peer_identity.go). A data dir copied from another
// cluster started with the same flags (the same cluster id, another
// incarnation) holds that cluster's keys; its peers refuse its handshakes
// and it refuses theirs, so it is never confirmed and serves none of them.
// A member that has no other member, or starts on a new data dir (nothing
// to serve yet), is confirmed at once. Once confirmed, a member stays so
// until it stops.
//
// The server runs the handshakes (node/peer_gate.go) and tells a
// PeerConfirmation how they went; the simulator takes a batch arriving
// from a member for a handshake that succeeded (sim/confirm.go).
//
// etcd is stricter: a restarted member serves no client at all until it
// has published its attributes through raft (a quorum); cairn serves
// serializable reads once one peer accepted it.

// ErrUnconfirmed is returned for reads a member refuses until a peer
// confirms its cluster identity. It is an api.ErrUnhealthy: clients move
// the read to another member.
var ErrUnconfirmed = &api.Error{Code: api.CodeUnhealthy, Message: "node: member not yet confirmed by its cluster"}

// PeerConfirmation is whether a peer has confirmed the cluster identity of
// a member's data dir, and, until one has, why its peers refuse it. It is
// safe for concurrent use: handshakes report to it while reads ask it.
type PeerConfirmation struct {
	confirmed atomic.Bool
	// refused is why the last handshake failed on the cluster identity,
	// while the member is not confirmed.
	refused atomic.Pointer[string]
}

// NewPeerConfirmation starts the confirmation of a member: one restarted
// on its data dir whose cluster has another member (HasOtherMembers) waits
// for a peer; any other is confirmed at once.
func NewPeerConfirmation(restarted, hasOtherMembers bool) *PeerConfirmation {
	p := &PeerConfirmation{}
	p.confirmed.Store(!restarted || !hasOtherMembers)
	return p
}

// HasOtherMembers reports whether the cluster, as member self knows it at
// start, has a voter besides it: in its registry, or, while the registry
// is empty (nothing applied yet), among initial (the members it was
// started with). A member that is its cluster's only voter needs no
// peer's confirmation, as a lone member does not: a learner that never
// started, or members long removed but still named by --initial-cluster,
// must not keep it from serving reads.
func HasOtherMembers(self uint64, initial []uint64, members *Members) bool {
	list := members.List()
	if len(list) == 0 {
		for _, id := range initial {
			if id != self {
				return true
			}
		}
		return false
	}
	for _, m := range list {
		if m.ID != self && !m.IsLearner {
			return true
		}
	}
	return false
}

// Confirm records that a peer proved the cluster identity this member
// holds (a handshake succeeded). It reports whether that confirmed the
// member: true only the first time.
func (p *PeerConfirmation) Confirm() bool { return p.confirmed.CompareAndSwap(false, true) }

// Confirmed reports whether a peer confirmed the member (or it needed
// none).
func (p *PeerConfirmation) Confirmed() bool { return p.confirmed.Load() }

// NoteRefused records why a handshake with a peer failed on the cluster
// identity (another cluster's secret or incarnation), for the reads
// refused meanwhile.
func (p *PeerConfirmation) NoteRefused(why string) {
	if !p.confirmed.Load() {
		p.refused.Store(&why)
	}
}

// RefusedByPeers reports whether the member is not confirmed and a peer
// refused its identity: its data dir may be another cluster's (what the
// server's Status reports as an error; a member that reached no peer yet
// only refuses reads).
func (p *PeerConfirmation) RefusedByPeers() bool {
	return !p.confirmed.Load() && p.refused.Load() != nil
}

// Refusal says why the member serves no read until a peer confirms its
// cluster identity, or nil once one has. self names the member (its id and
// cluster identity); it is called only for a refusal, as every read asks.
func (p *PeerConfirmation) Refusal(self func() string) error {
	if p.confirmed.Load() {
		return nil
	}
	if why := p.refused.Load(); why != nil {
		return fmt.Errorf("%w: this member, %s, restarted on its data dir, and its peers refuse its cluster identity (%s): the data dir may be another cluster's; it serves no reads until a peer accepts it",
			ErrUnconfirmed, self(), *why)
	}
	return fmt.Errorf("%w: this member, %s, restarted on its data dir, and serves no reads until a peer confirms that the data dir is this cluster's (it reached none yet)",
		ErrUnconfirmed, self())
}
