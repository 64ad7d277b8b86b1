// Package replica is one cairn member's deterministic part: the raft core
// (Core: raftcore plus the raft log and the state machine, stepped by
// Events with Effects out), the replicated state machine (KVState: the
// MVCC store, membership, alarms, auth, the duplicate filter), the lessor,
// snapshots, and the repair of data a disk lost. It has no goroutines,
// clock or network of its own: time comes as ticks and through a clock
// function, randomness from a *rand.Rand it is given, and its disk is an
// fsx.FS.
//
// Open is the one way to start a member: the production server (package
// node) and the simulator (package sim) both call it, so the simulator
// runs the server's wiring, not a copy. Read in this order:
//
//   - replica.go: Open, and what the world gives a member (Config).
//   - contract.go: everything the core asks of its log and state machine.
//   - envelope.go: a command as it travels in the log — who made it,
//     which kind, its place in its proposer's sequence, the request.
//   - core.go: the core; dedup.go and dedup_apply.go, the duplicate
//     filter; repair.go, the repair of lost data.
//   - kvstate.go, auth_apply.go, members.go, snapshot.go: the state
//     machine; lessor.go, the leases' clocks.
package replica
