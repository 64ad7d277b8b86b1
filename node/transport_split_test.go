package node

import (
	"testing"

	"github.com/cairndb/cairn/raftcore"
	"pgregory.net/rapid"
)

// A forwarded proposal is cut into messages that each fit a peer batch
// (or hold one entry), with every entry once, in order; other messages
// pass whole.
func TestSplitProposalKeepsEveryEntryInOrder(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		typ := rapid.SampledFrom([]raftcore.MessageType{raftcore.MsgProp, raftcore.MsgApp}).Draw(t, "type")
		sizes := rapid.SliceOfN(rapid.OneOf(rapid.IntRange(0, 1000), rapid.IntRange(100<<10, 3<<20)), 0, 40).Draw(t, "sizes")
		m := raftcore.Message{Type: typ, From: 2, To: 1, Term: 3}
		for i, n := range sizes {
			m.Entries = append(m.Entries, raftcore.Entry{Index: uint64(i + 1), Data: make([]byte, n)})
		}
		parts := splitProposal(m)
		if typ != raftcore.MsgProp || m.EncodedSize() <= peerBatchBytes {
			if len(parts) != 1 || len(parts[0].Entries) != len(m.Entries) {
				t.Fatalf("%v of %d bytes cut into %d parts", typ, m.EncodedSize(), len(parts))
			}
			return
		}
		next := uint64(1)
		for i, p := range parts {
			if p.Type != m.Type || p.From != m.From || p.To != m.To || p.Term != m.Term {
				t.Fatalf("part %d is %+v, not addressed as the proposal", i, p)
			}
			if len(p.Entries) == 0 {
				t.Fatalf("part %d is empty", i)
			}
			if len(p.Entries) > 1 && p.EncodedSize() > peerBatchBytes+64 {
				t.Fatalf("part %d holds %d entries in %d bytes, past the batch size %d", i, len(p.Entries), p.EncodedSize(), peerBatchBytes)
			}
			for _, e := range p.Entries {
				if e.Index != next {
					t.Fatalf("part %d: entry %d where %d was due", i, e.Index, next)
				}
				next++
			}
		}
		if next != uint64(len(sizes))+1 {
			t.Fatalf("parts hold %d entries of %d", next-1, len(sizes))
		}
	})
}
