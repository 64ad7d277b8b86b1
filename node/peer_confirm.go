package node

import (
	"fmt"

	"github.com/cairndb/cairn/api"
)

// A member restarted on a data dir serves no read — not even a
// serializable one, which needs no other member — until a peer has
// confirmed that the data dir is this cluster's: a handshake with another
// member succeeded, in either direction, under the cluster identity the
// data dir holds (peer_identity.go). A data dir copied from another
// cluster started with the same flags (the same cluster id, another
// incarnation) holds that cluster's keys; its peers refuse its handshakes
// and it refuses theirs, so it is never confirmed and serves none of them.
// A member that has no other member, or starts on a new data dir (nothing
// to serve yet), is confirmed at once. Once confirmed, a member stays so
// until it stops.
//
// etcd is stricter: a restarted member serves no client at all until it
// has published its attributes through raft (a quorum); cairn serves
// serializable reads once one peer accepted it.

// ErrUnconfirmed is returned for reads a member refuses until a peer
// confirms its cluster identity. It is an api.ErrUnhealthy: clients move
// the read to another member.
var ErrUnconfirmed = &api.Error{Code: api.CodeUnhealthy, Message: "node: member not yet confirmed by its cluster"}

// confirmIdentity records that member peer proved the cluster identity
// this member holds (a handshake succeeded).
func (g *peerGate) confirmIdentity(peer uint64) {
	if g.confirmed.CompareAndSwap(false, true) {
		g.log.Info("a peer confirmed this member's cluster identity: serving reads", "peer", fmt.Sprintf("%016x", peer))
	}
}

// noteIdentityRefused records why a handshake with a peer failed on the
// cluster identity (another cluster's secret or incarnation), for the
// reads refused meanwhile.
func (g *peerGate) noteIdentityRefused(why string) {
	if !g.confirmed.Load() {
		g.identityRefusal.Store(&why)
	}
}

// identityRefusal says why the member serves no read until a peer confirms
// its cluster identity, or nil once one has.
func (s *Server) identityRefusal() error {
	if s.gate == nil || s.gate.confirmed.Load() {
		return nil
	}
	if why := s.gate.identityRefusal.Load(); why != nil {
		return fmt.Errorf("%w: this member, %s, restarted on its data dir, and its peers refuse its cluster identity (%s): the data dir may be another cluster's; it serves no reads until a peer accepts it",
			ErrUnconfirmed, s.identityString(), *why)
	}
	return fmt.Errorf("%w: this member, %s, restarted on its data dir, and serves no reads until a peer confirms that the data dir is this cluster's (it reached none yet)",
		ErrUnconfirmed, s.identityString())
}

// identityErrors is what the Status response says of a member not yet
// confirmed whose peers refuse its identity (one that reached no peer yet
// only refuses reads).
func (s *Server) identityErrors() []string {
	if err := s.identityRefusal(); err != nil && s.gate.identityRefusal.Load() != nil {
		return []string{fmt.Sprintf("memberID:%016x %v", s.id, err)}
	}
	return nil
}

// hasOtherMembers reports whether the cluster, as this member knows it at
// start, has a member besides it.
func (s *Server) hasOtherMembers(initialURLs map[uint64][]string) bool {
	for id := range initialURLs {
		if id != s.id {
			return true
		}
	}
	for _, m := range s.replica.State.Members().List() {
		if m.ID != s.id {
			return true
		}
	}
	return false
}
