package node

import (
	"fmt"
	"maps"
	"slices"

	"github.com/cairndb/cairn/node/replica"
)

// A member restarted on its data dir serves no read until a peer has
// confirmed that the data dir is this cluster's (the rule, its state and
// its refusal: replica.PeerConfirmation). Here the handshakes tell it how
// they went (peer_gate.go), and the services ask it.

// confirmIdentity records that member peer proved the cluster identity
// this member holds (a handshake succeeded).
func (g *peerGate) confirmIdentity(peer uint64) {
	if g.confirm.Confirm() {
		g.log.Info("a peer confirmed this member's cluster identity: serving reads", "peer", fmt.Sprintf("%016x", peer))
	}
}

// identityRefusal says why the member serves no read until a peer confirms
// its cluster identity, or nil once one has.
func (s *Server) identityRefusal() error {
	if s.gate == nil {
		return nil
	}
	return s.gate.confirm.Refusal(s.identityString)
}

// identityErrors is what the Status response says of a member not yet
// confirmed whose peers refuse its identity (one that reached no peer yet
// only refuses reads).
func (s *Server) identityErrors() []string {
	if s.gate == nil || !s.gate.confirm.RefusedByPeers() {
		return nil
	}
	if err := s.identityRefusal(); err != nil {
		return []string{fmt.Sprintf("memberID:%016x %v", s.id, err)}
	}
	return nil
}

// hasOtherMembers reports whether the cluster, as this member knows it at
// start, has a member besides it.
func (s *Server) hasOtherMembers(initialURLs map[uint64][]string) bool {
	return replica.HasOtherMembers(s.id, slices.Collect(maps.Keys(initialURLs)), s.replica.State.Members())
}
