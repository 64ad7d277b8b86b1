package sim

import (
	"cmp"
	"fmt"
	"hash/fnv"
	"slices"

	"github.com/cairndb/cairn/node/peerwire"
	"github.com/cairndb/cairn/node/replica"
	"github.com/cairndb/cairn/raftcore"
)

// network carries raft messages between members, in batches encoded as
// the server's transport encodes them (sendBatches): each link has its own
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
	// outbox is sendBatches' scratch space, reused.
	outbox []raftcore.Message
	// base caches baseLatency.
	base map[link]int64
}

// link is a direction between two members.
type link struct{ from, to uint64 }

func (n *network) init(w *World) {
	n.seed = w.cfg.Seed
	n.base = map[link]int64{}
	n.heal()
}

func (n *network) heal() {
	n.cut, n.slow = map[link]bool{}, map[link]int64{}
	n.dropRate, n.dupRate = 0, 0
}

// baseLatency is a link's fixed latency, 1-6 ms, fixed for the seed.
func (n *network) baseLatency(l link) int64 {
	if d, ok := n.base[l]; ok {
		return d
	}
	h := fnv.New64a()
	fmt.Fprintf(h, "%d/%d/%d", n.seed, l.from, l.to)
	d := 1 + int64(h.Sum64()%6)
	n.base[l] = d
	return d
}

// sendBatches puts the raft messages of member m's step on the wire, after
// delay (the time m spends on the fsyncs its step made). As the server's
// transport does, the messages for one peer travel together, in one
// batch encoded by the server's codec (peerwire.AppendBatch), and are
// decoded where they arrive (deliver): the batch is what the network
// drops, delays, duplicates. A MsgSnap is not among them: it travels on a
// stream of its own (snapshot.go).
func (w *World) sendBatches(from *member, msgs []raftcore.Message, delay int64) {
	if len(msgs) == 0 {
		return
	}
	if !slices.ContainsFunc(msgs[1:], func(m raftcore.Message) bool { return m.To != msgs[0].To }) {
		w.sendBatch(from, msgs, delay) // one peer: most steps
		return
	}
	// Group by peer, keeping each peer's messages in their order.
	buf := append(w.net.outbox[:0], msgs...)
	slices.SortStableFunc(buf, func(a, b raftcore.Message) int { return cmp.Compare(a.To, b.To) })
	for out := buf; len(out) > 0; {
		n := 1
		for n < len(out) && out[n].To == out[0].To {
			n++
		}
		w.sendBatch(from, out[:n], delay)
		out = out[n:]
	}
	clear(buf) // keep no entries alive
	w.net.outbox = buf[:0]
}

// sendBatch sends one batch of messages, all to the same member.
func (w *World) sendBatch(from *member, msgs []raftcore.Message, delay int64) {
	to := msgs[0].To
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
		for i := range msgs {
			w.observeSend(from.id, &msgs[i], w.now+delay, fate)
		}
		// The transport notices a broken connection, or not: raft's
		// retries cover lost messages either way.
		if n.cut[l] && w.rng.IntN(4) == 0 {
			w.schedule(delay+1, event{kind: evInput, who: from.id, input: replica.EvUnreachable{To: to}})
		}
		return
	}
	// A batch's bytes are its own: the messages decoded from it share
	// them (raftcore.DecodeMessage), and live on in the receiver's log.
	batch := peerwire.AppendBatch(make([]byte, 0, peerwire.BatchSize(msgs)), msgs)
	latency := delay + n.baseLatency(l) + n.slow[l] + int64(w.rng.IntN(4))
	deliver := event{kind: evDeliver, who: to, arg: w.member(to).incarnation, via: from.id, viaInc: from.incarnation, batch: batch}
	w.schedule(latency, deliver)
	for i := range msgs {
		w.observeSend(from.id, &msgs[i], w.now+latency, fateSent)
	}
	// Forwarded proposals (MsgProp) are duplicated too: raft appends
	// both copies, and the state machine's duplicate filter applies
	// the proposal once (node/replica/dedup.go; the NoDedup mutation shows
	// the double apply caught).
	if w.rng.Float64() < n.dupRate {
		dup := latency + int64(w.rng.IntN(30))
		w.schedule(dup, deliver)
		for i := range msgs {
			w.observeSend(from.id, &msgs[i], w.now+dup, fateDuplicate)
		}
	}
}

// deliver hands the messages of a batch from member e.via (in its
// incarnation e.viaInc) to member e.who, if it is running the life it was
// sent to (e.arg: a batch sent to an earlier one is lost, its connection
// died with it), decoded as the server's transport decodes them
// (serveRaft). The sender is honest: a batch or a message that does not
// decode, or does not say what its stream says (sender, receiver), is a
// bug of the codec, and fails the run.
func (w *World) deliver(e *event) {
	m := w.member(e.who)
	if m.state != stateUp || m.incarnation != e.arg {
		return
	}
	w.peerHandshake(m, e.via, e.viaInc)
	for b, err := range peerwire.BatchMessages(e.batch) {
		if err != nil {
			w.fail("member %d cannot read a batch from %d: %v", m.id, e.via, err)
			return
		}
		msg, _, err := raftcore.DecodeMessage(b)
		if err != nil {
			w.fail("member %d cannot read a message from %d: %v", m.id, e.via, err)
			return
		}
		if msg.From != e.via || msg.To != m.id || msg.Type == raftcore.MsgSnap {
			w.fail("a batch from %d to %d holds a %s from %d to %d", e.via, m.id, msg.Type, msg.From, msg.To)
			return
		}
		w.step(m, replica.EvMessage{Msg: msg})
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
