// Package procharness tests a cluster of real cmd/node processes for
// linearizability under faults, in the manner of Jepsen.
//
// A Harness builds cmd/node, starts three member processes whose peer
// traffic passes through a fault proxy (Net), runs concurrent clients doing
// get, put and compare-and-swap on a few keys while a nemesis kills members
// with SIGKILL (and restarts them from their data dirs), pauses them with
// SIGSTOP/SIGCONT, and partitions them through the proxy. At the end it
// heals everything, checks that the cluster accepts a write again, that
// every member reports itself whole (Status lists no repair under way)
// and holds every acknowledged write in its own history (a watch from
// revision 1 on that member alone), and checks the recorded history with
// linearizability.Check.
//
// The disk faults (DiskFaultKinds, injected only when Config.Faults
// names them) damage a member's WAL between a kill and its restart, as
// the simulator's do (sim/loss.go): lose-wal-tail cuts the newest segment
// inside a record, lose-segment deletes the newest segment (after filler
// writes of 1 MiB have moved the log to a second one: a member that lost
// its only segment keeps no identity and cannot start), lose-vote cuts
// the newest segment at the record of the member's current term and vote,
// and flip-bit flips one bit in an older entries record that valid ones
// follow. The restarted member must log that it repairs itself
// (ErrDamageUnnoticed otherwise), and the nemesis damages a member only
// while every other member is up and reports itself whole, so that a
// majority always holds everything it acknowledged. Starting a damaged
// member as if whole fails the run: Config.UnsafeSkipRepair builds
// cmd/node with -tags cairn_mutation and starts every member with
// --unsafe-skip-repair (a flag only that build has), and
// TestProcessClusterDiskFaultsCatchSkippedRepair requires the run to fail.
//
// The proxy is one listener per member: every peer connection to member B
// goes through B's listener, and the proxy learns which member dialed it by
// looking the connection's other end up in Linux's /proc (PeerProcess).
// That makes the links directed (A->B is cut while B->A still works) even
// though every member is given the same --initial-cluster, which it must
// be: cmd/node derives member ids from the peer URLs there, so members
// given different URLs for one peer would disagree about its id.
//
// The harness needs Linux (/proc, SIGSTOP) and a Go toolchain to build
// cmd/node.
package procharness
