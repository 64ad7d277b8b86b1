package replica

import (
	"fmt"
	"strconv"

	"github.com/cairndb/cairn/btreekv/mvcc"
	"github.com/cairndb/cairn/raftcore"
)

// ErrProposalNotApplied answers a proposal the duplicate filter refused
// while its proposer still waited for it: it committed after more than
// dedupWindow later proposals of the same member had been applied, and
// was not applied. Nothing happened, so the request can be made again;
// it wraps raftcore.ErrProposalDropped, which the server and clients
// already treat that way.
var ErrProposalNotApplied = fmt.Errorf("node: proposal committed too late after its member's later ones, not applied: %w", raftcore.ErrProposalDropped)

// admit asks the state machine, if it filters duplicates, which of the
// proposals among ents (at most dedupChunk consecutive committed
// entries) to apply, and returns the indexes of those refused.
func (c *Core) admit(ents []raftcore.Entry) (refused map[uint64]bool, err error) {
	if len(ents) == 0 {
		return nil, nil
	}
	from, to := max(ents[0].Index, c.smApplied+1), ents[len(ents)-1].Index
	if from > to {
		return nil, nil // all durable in the state machine before a restart
	}
	props := c.props[:0]
	for _, e := range ents {
		if e.Type != raftcore.EntryNormal || e.Index < from || len(e.Data) < headerSize {
			continue
		}
		tag, seq, _, _ := splitHeader(e.Data)
		if tag == 0 {
			continue
		}
		props = append(props, Proposal{Index: e.Index, Tag: tag, Seq: seq})
	}
	c.props = props[:0]
	admitted, err := c.sm.AdmitProposals(from, to, props)
	if err != nil {
		return nil, err
	}
	if len(admitted) != len(props) {
		return nil, fmt.Errorf("decide proposals %d to %d: %d answers for %d proposals", from, to, len(admitted), len(props))
	}
	for i, ok := range admitted {
		if !ok {
			if refused == nil {
				refused = map[uint64]bool{}
			}
			refused[props[i].Index] = true
		}
	}
	return refused, nil
}

// AdmitProposals implements Deduplicator: it decides with the records
// kept in the store's aux table, and writes those that changed, in a
// store write of their own that records no index (the entries' writes
// that follow do).
func (k *KVState) AdmitProposals(from, to uint64, props []Proposal) ([]bool, error) {
	if k.fatal != nil {
		return nil, k.fatal
	}
	if to < from || to-from >= dedupChunk {
		return nil, k.fail(fmt.Errorf("node: decide proposals %d to %d: more than %d entries at once", from, to, dedupChunk))
	}
	admitted, changed := k.dedup.admit(from, to, props)
	if len(changed) == 0 {
		return admitted, nil
	}
	tw := k.Store().Write(0, 0)
	var err error
	for _, tag := range changed {
		var value []byte
		if r, ok := k.dedup.recs[tag]; ok {
			value = r.encode()
		}
		if err = tw.PutAux(auxIDKey(auxDedup, tag), value); err != nil {
			break
		}
	}
	if endErr := tw.End(); err == nil {
		err = endErr
	}
	if err != nil {
		return nil, k.fail(fmt.Errorf("node: record the proposals applied among entries %d to %d: %w", from, to, err))
	}
	return admitted, nil
}

// loadDedup reads the duplicate filter's records from the store.
func loadDedup(s *mvcc.Store) (dedupTable, error) {
	t := newDedupTable()
	for _, r := range s.Aux([]byte(auxDedup)) {
		tag, err := strconv.ParseUint(string(r.Key[len(auxDedup):]), 16, 64)
		if err != nil {
			return t, fmt.Errorf("node: duplicate-filter record %q: %w", r.Key, err)
		}
		rec, err := decodeDedupRecord(r.Value)
		if err != nil {
			return t, fmt.Errorf("node: duplicate-filter record %s: %w", r.Key, err)
		}
		t.recs[tag] = rec
	}
	return t, nil
}
