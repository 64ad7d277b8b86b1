package replica

import (
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/cairndb/cairn/internal/datadir"
)

// Duplicated proposals.
//
// Raft does not recognize a proposal it has seen: if the network delivers
// a forwarded proposal (MsgProp) twice, or anything ever sends one again,
// the leader appends it twice, and both copies commit. Every proposed
// entry carries a header naming its proposer — a tag drawn at random
// when the member's process starts — and a sequence number the proposer
// increments for each proposal (Core.seq). Before applying committed
// entries, the core asks the state machine which of the proposals among
// them to apply (Deduplicator); the state machine keeps, per proposer, a
// record of the sequence numbers it applied, replicated like the data.
//
// # The window
//
// A proposer's proposals usually commit in the order of their numbers,
// but not always: a follower that forwarded proposal 5 to a leader that
// just lost its post, then proposal 6 to the new one, may see 5 reach the
// new leader through the old one after 6 (and the simulator's network
// reorders messages on any link). So a record is not a single high-water
// mark but a window, as in anti-replay protection: the highest number
// applied and a bitmap of which of the dedupWindow numbers below it were.
// A proposal above the highest, or inside the window and not yet applied,
// is applied; one inside the window already applied is a duplicate; one
// below the window is refused too, since it can no longer be told from a
// duplicate. Its proposer, if it still waits (it does only if the entry
// was never applied: a member that installs a snapshot, which may hold
// the first copy's effect, stops waiting for all its proposals and
// answers them ErrOutcomeUnknown), gets ErrProposalNotApplied, which says
// for sure that nothing happened: the server proposes the request again.
//
// # Atomic with the data, one write per chunk
//
// A record must be durable with the effects of the entries it covers,
// or a crash would leave the store holding an entry without its record,
// and a duplicate of the entry later in the log would be applied again.
// The store's page-file transactions commit at any time between two
// store writes (on an interval, or when a batch is full), so the record
// cannot be written after the effects. It is written before them, once
// per chunk of up to dedupChunk committed entries and per proposer
// in the chunk, and it carries the range of log indexes it covers (the
// proposer's entries in the chunk) with the indexes in that range it
// refused. After a crash the store replays the log after its
// consistent index, which is at or after the start of the chunk whose
// records it holds (all earlier entries were applied before they were
// written): an entry in a record's range is decided as it was the first
// time, from the list, and one after it against the window, which
// already counts the whole range. A snapshot is a committed page file,
// so a member installing one is in the same position.
//
// # Pruning
//
// A process that stopped leaves its record behind. Whenever the log
// passes an index that is a multiple of dedupPruneEvery, every record
// whose proposer has had no entry in the last dedupPruneAfter indexes is
// deleted: at that index, on every member, whatever the chunks, so every
// member decides alike. A duplicate delivered later than that would be
// applied again; a network does not hold a message for a million entries.
//
// Membership changes are not filtered: raft makes them effective when
// appended, not applied, so refusing one at apply time would split the
// registry from raft's view. Raft refuses a repeated change at proposal
// time instead, against the current membership (adding a voter twice,
// removing a stranger). A leader's no-op has no header.

// Parameters of the duplicate filter. They decide which entries every
// member applies, so they are constants: members that disagreed would
// diverge.
const (
	// dedupWindow is how many sequence numbers below a proposer's highest
	// the record remembers (the bits of a uint64).
	dedupWindow = 64
	// dedupChunk is the most committed entries decided at once.
	dedupChunk = 1024
	// dedupPruneEvery and dedupPruneAfter: at every multiple of
	// dedupPruneEvery, the records of proposers silent for
	// dedupPruneAfter indexes are deleted.
	dedupPruneEvery = 1 << 14
	dedupPruneAfter = 1 << 20
)

// dedupRecord is what the state machine remembers of one proposer.
type dedupRecord struct {
	// high is the highest sequence number applied; bit k of seen says
	// whether high-k was (bit 0, high itself, always is).
	high, seen uint64
	// first..last are the indexes whose decisions the record holds: from
	// the proposer's first entry in the last chunk decided to its last
	// entry decided (a chunk replayed after a crash may end before the
	// range it started in); refused are the indexes in it that were
	// refused. The window counts the whole range.
	first, last uint64
	refused     []uint64
}

// window decides a proposal that is not in the record's range, and
// counts it if it is admitted.
func (r *dedupRecord) window(seq uint64) bool {
	switch {
	case r.high == 0 || seq > r.high:
		shift := seq - r.high
		if r.high == 0 || shift >= dedupWindow {
			r.seen = 0
		} else {
			r.seen <<= shift
		}
		r.high, r.seen = seq, r.seen|1
		return true
	case r.high-seq >= dedupWindow:
		return false // too old to tell from a duplicate
	default:
		bit := uint64(1) << (r.high - seq)
		if r.seen&bit != 0 {
			return false // a duplicate
		}
		r.seen |= bit
		return true
	}
}

// dedupTable holds the records of every proposer, by tag.
type dedupTable struct {
	recs map[uint64]*dedupRecord
	// pruneEvery and pruneAfter are dedupPruneEvery and dedupPruneAfter
	// (smaller in tests).
	pruneEvery, pruneAfter uint64
}

func newDedupTable() dedupTable {
	return dedupTable{recs: map[uint64]*dedupRecord{}, pruneEvery: dedupPruneEvery, pruneAfter: dedupPruneAfter}
}

// admit decides the proposals props among the entries from..to (see
// Deduplicator) and returns the tags whose records changed, sorted (a
// tag no longer in the table was pruned). The range must be shorter than
// pruneAfter: a proposer with an entry in it is then never pruned in it.
func (t *dedupTable) admit(from, to uint64, props []Proposal) (admitted []bool, changed []uint64) {
	admitted = make([]bool, len(props))
	// before holds, for each proposer the chunk touched, its record as
	// it was before the chunk (nil if it had none), for the range; the
	// table holds the record the chunk writes.
	var before map[uint64]*dedupRecord
	// The next index at which records are pruned.
	pruneAt := (from + t.pruneEvery - 1) / t.pruneEvery * t.pruneEvery
	for i, p := range props {
		for ; pruneAt <= p.Index; pruneAt += t.pruneEvery {
			changed = t.prune(pruneAt, before, changed)
		}
		old, touched := before[p.Tag]
		if !touched {
			old = t.recs[p.Tag]
			rec := &dedupRecord{first: p.Index, last: p.Index}
			if old != nil {
				rec.high, rec.seen = old.high, old.seen
				if p.Index <= old.last {
					// A replay inside the old range: the rest of it
					// stays decided, whatever this chunk covers.
					rec.last = old.last
					for _, r := range old.refused {
						if r >= p.Index {
							rec.refused = append(rec.refused, r)
						}
					}
				}
			}
			if before == nil {
				before = map[uint64]*dedupRecord{}
			}
			before[p.Tag] = old
			t.recs[p.Tag] = rec
			changed = append(changed, p.Tag)
		}
		rec := t.recs[p.Tag]
		if old != nil && p.Index <= old.last {
			// Decided before a crash (or by the member whose snapshot
			// this is): decide it again the same way.
			admitted[i] = p.Index >= old.first && !slices.Contains(old.refused, p.Index)
		} else {
			admitted[i] = rec.window(p.Seq)
		}
		rec.last = max(rec.last, p.Index)
		if !admitted[i] && !slices.Contains(rec.refused, p.Index) {
			rec.refused = append(rec.refused, p.Index)
		}
	}
	for ; pruneAt <= to; pruneAt += t.pruneEvery {
		changed = t.prune(pruneAt, before, changed)
	}
	slices.Sort(changed)
	return admitted, slices.Compact(changed)
}

// prune deletes, at index at, the records whose proposer had no entry
// in the pruneAfter indexes before it. Those the chunk being decided
// touched (the keys of touched) have one.
func (t *dedupTable) prune(at uint64, touched map[uint64]*dedupRecord, changed []uint64) []uint64 {
	if at <= t.pruneAfter {
		return changed
	}
	for tag, r := range t.recs {
		if _, ok := touched[tag]; !ok && r.last < at-t.pruneAfter {
			delete(t.recs, tag)
			changed = append(changed, tag)
		}
	}
	return changed
}

// auxDedup is the aux key prefix of the records: + 16 hex digits of the
// tag.
const auxDedup = datadir.AuxDedup

// dedupRecordSize is the encoded size of a record without refusals.
const dedupRecordSize = 32

// encode returns the record as stored: high, seen, first, last, then the
// refused indexes, 8 bytes each, big endian.
func (r *dedupRecord) encode() []byte {
	b := make([]byte, 0, dedupRecordSize+8*len(r.refused))
	for _, v := range []uint64{r.high, r.seen, r.first, r.last} {
		b = binary.BigEndian.AppendUint64(b, v)
	}
	for _, v := range r.refused {
		b = binary.BigEndian.AppendUint64(b, v)
	}
	return b
}

func decodeDedupRecord(b []byte) (*dedupRecord, error) {
	if len(b) < dedupRecordSize || len(b)%8 != 0 {
		return nil, fmt.Errorf("%d bytes, want %d plus a multiple of 8", len(b), dedupRecordSize)
	}
	u := func(i int) uint64 { return binary.BigEndian.Uint64(b[8*i:]) }
	r := &dedupRecord{high: u(0), seen: u(1), first: u(2), last: u(3)}
	for i := 4; i < len(b)/8; i++ {
		r.refused = append(r.refused, u(i))
	}
	if r.first > r.last {
		return nil, fmt.Errorf("covers indexes %d to %d, backwards", r.first, r.last)
	}
	return r, nil
}
