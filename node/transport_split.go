package node

import "github.com/cairndb/cairn/raftcore"

// splitProposal cuts a forwarded proposal (MsgProp) whose entries pass
// peerBatchBytes into several, in order, each of about peerBatchBytes or
// a single entry. A follower forwards everything its clients proposed in
// one turn as one message: with large values (a hundred puts of a
// megabyte) that message could pass peerMaxFrame, and the stream would
// refuse it whole, losing every proposal in it until their callers timed
// out. Any other message is returned as it is.
func splitProposal(m raftcore.Message) []raftcore.Message {
	if m.Type != raftcore.MsgProp || len(m.Entries) < 2 || m.EncodedSize() <= peerBatchBytes {
		return []raftcore.Message{m}
	}
	var out []raftcore.Message
	for ents := m.Entries; len(ents) > 0; {
		n, size := 1, ents[0].EncodedSize()
		for n < len(ents) && size+ents[n].EncodedSize() <= peerBatchBytes {
			size += ents[n].EncodedSize()
			n++
		}
		part := m
		part.Entries = ents[:n:n]
		out = append(out, part)
		ents = ents[n:]
	}
	return out
}
