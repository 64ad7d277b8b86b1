package sim

import (
	"fmt"
	"hash/fnv"
	"slices"

	"github.com/cairndb/cairn/node/replica"
	"github.com/cairndb/cairn/raftcore"
)

// network carries raft messages between members: each link has its own
// latency (a base per link, plus jitter, so messages overtake each other),
// and the nemesis can cut links one way or both, drop, duplicate and slow
// messages.
type network struct {
	seed uint64
	// cut holds the directed links that deliver nothing.
	cut map[link]bool
	// slow adds latency to some links.
	slow     map[link]int64
	dropRate float64
	dupRate  float64
}

// link is a direction between two members.
type link struct{ from, to uint64 }

func (n *network) init(w *World) {
	n.seed = w.cfg.Seed
	n.heal()
}

func (n *network) heal() {
	n.cut, n.slow = map[link]bool{}, map[link]int64{}
	n.dropRate, n.dupRate = 0, 0
}

// baseLatency is a link's fixed latency, 1-6 ms, fixed for the seed.
func (n *network) baseLatency(l link) int64 {
	h := fnv.New64a()
	fmt.Fprintf(h, "%d/%d/%d", n.seed, l.from, l.to)
	return 1 + int64(h.Sum64()%6)
}

// send puts a message from member m on the wire, after delay (the time m
// spends on the fsyncs its step made).
func (w *World) send(from *member, msg raftcore.Message, delay int64) {
	to := msg.To
	if to < 1 || int(to) > len(w.members) {
		return
	}
	l := link{from.id, to}
	n := &w.net
	if n.cut[l] || w.rng.Float64() < n.dropRate {
		fate := fateLost
		if n.cut[l] {
			fate = fateCut
		}
		w.observeSend(from.id, &msg, w.now+delay, fate)
		// The transport notices a broken connection, or not: raft's
		// retries cover lost messages either way.
		if msg.Type == raftcore.MsgSnap {
			w.schedule(delay+1, event{kind: evInput, who: from.id, input: replica.EvSnapshotStatus{To: to, Failed: true}})
		} else if n.cut[l] && w.rng.IntN(4) == 0 {
			w.schedule(delay+1, event{kind: evInput, who: from.id, input: replica.EvUnreachable{To: to}})
		}
		return
	}
	latency := delay + n.baseLatency(l) + n.slow[l] + int64(w.rng.IntN(4))
	w.schedule(latency, event{kind: evDeliver, who: to, msg: msg})
	w.observeSend(from.id, &msg, w.now+latency, fateSent)
	// Forwarded proposals (MsgProp) are duplicated too: raft appends
	// both copies, and the state machine's duplicate filter applies
	// the proposal once (node/replica/dedup.go; the NoDedup mutation shows
	// the double apply caught).
	if w.rng.Float64() < n.dupRate {
		dup := latency + int64(w.rng.IntN(30))
		w.schedule(dup, event{kind: evDeliver, who: to, msg: msg})
		w.observeSend(from.id, &msg, w.now+dup, fateDuplicate)
	}
}

// deliver hands a message to its member, if it is running.
func (w *World) deliver(msg raftcore.Message) {
	m := w.member(msg.To)
	if m.state != stateUp {
		if msg.Type == raftcore.MsgSnap {
			w.schedule(1, event{kind: evInput, who: msg.From, input: replica.EvSnapshotStatus{To: msg.To, Failed: true}})
		}
		return
	}
	w.step(m, replica.EvMessage{Msg: msg})
	if msg.Type == raftcore.MsgSnap {
		// The transport reports whether the snapshot got through (it did
		// not if the member crashed installing it).
		back := w.net.baseLatency(link{msg.To, msg.From})
		w.schedule(back, event{kind: evInput, who: msg.From, input: replica.EvSnapshotStatus{To: msg.To, Failed: m.state != stateUp}})
	}
}

// partition kinds the nemesis chooses from.
const (
	partSplit   = iota // two sides, no link between them
	partIsolate        // one member (often the leader) alone
	partOneWay         // a member's outgoing (or incoming) links cut
	partBridge         // two sides joined only through one member
	partRing           // each member hears only its neighbours
	partKinds
)

// partition cuts links among the running members in one of the shapes;
// victim, if not 0, is the member isolated or cut one way.
func (w *World) partition(kind int, victim uint64) {
	ids := w.runningIDs()
	if len(ids) < 2 {
		return
	}
	n := &w.net
	n.cut = map[link]bool{}
	cutBoth := func(a, b uint64) { n.cut[link{a, b}], n.cut[link{b, a}] = true, true }
	w.rng.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
	switch kind {
	case partSplit:
		k := 1 + w.rng.IntN(len(ids)-1)
		for _, a := range ids[:k] {
			for _, b := range ids[k:] {
				cutBoth(a, b)
			}
		}
		w.logFault("partition %v | %v", sorted(ids[:k]), sorted(ids[k:]))
	case partIsolate:
		if victim == 0 {
			victim = ids[0]
			if l := w.leader(); l != nil && w.rng.IntN(3) != 0 {
				victim = l.id
			}
		}
		for _, b := range ids {
			if b != victim {
				cutBoth(victim, b)
			}
		}
		w.logFault("isolate %d", victim)
	case partOneWay:
		if victim == 0 {
			victim = ids[0]
			if l := w.leader(); l != nil && w.rng.IntN(2) == 0 {
				victim = l.id
			}
		}
		out := w.rng.IntN(2) == 0
		for _, b := range ids {
			if b == victim {
				continue
			}
			if out {
				n.cut[link{victim, b}] = true
			} else {
				n.cut[link{b, victim}] = true
			}
		}
		dir := "incoming"
		if out {
			dir = "outgoing"
		}
		w.logFault("cut %s links of %d", dir, victim)
	case partBridge:
		if len(ids) < 3 {
			return
		}
		bridge, rest := ids[0], ids[1:]
		k := len(rest) / 2
		for _, a := range rest[:k] {
			for _, b := range rest[k:] {
				cutBoth(a, b)
			}
		}
		w.logFault("bridge: %v | %d | %v", sorted(rest[:k]), bridge, sorted(rest[k:]))
	case partRing:
		slices.Sort(ids)
		for i, a := range ids {
			for j, b := range ids {
				d := (j - i + len(ids)) % len(ids)
				if d > 1 && d < len(ids)-1 {
					n.cut[link{a, b}] = true
				}
			}
		}
		w.logFault("ring %v", ids)
	}
}

// runningIDs lists the members that are neither dead nor removed.
func (w *World) runningIDs() []uint64 {
	var ids []uint64
	for _, m := range w.members {
		if m.state != stateDead && m.state != stateRemoved {
			ids = append(ids, m.id)
		}
	}
	return ids
}

func sorted(ids []uint64) []uint64 {
	out := slices.Clone(ids)
	slices.Sort(out)
	return out
}
