// Package procharness tests a cluster of real cmd/node processes for
// linearizability under faults, in the manner of Jepsen.
//
// A Harness builds cmd/node, starts three member processes whose peer
// traffic passes through a fault proxy (Net), runs concurrent clients doing
// get, put and compare-and-swap on a few keys while a nemesis kills members
// with SIGKILL (and restarts them from their data dirs), pauses them with
// SIGSTOP/SIGCONT, and partitions them through the proxy. At the end it
// heals everything, checks that the cluster accepts a write again, and
// checks the recorded history with linearizability.Check.
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
