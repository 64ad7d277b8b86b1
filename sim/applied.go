package sim

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"slices"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/linearizability"
	"github.com/cairndb/cairn/node/replica"
	"github.com/cairndb/cairn/raftcore"
)

// appliedLog is the cluster's committed history as its members applied
// it: the entry at every raft index and the change at every store
// revision, recorded by the first member to apply each, and compared with
// what every other member applies there.
type appliedLog struct {
	entries map[uint64]appliedEntry
	changes map[int64]change
	maxRev  int64
}

// appliedEntry is the entry applied at one index.
type appliedEntry struct {
	term   uint64
	typ    raftcore.EntryType
	data   []byte
	whole  bool   // data is the entry's as the log holds it, header included (not as Apply got it)
	chain  uint64 // hash of every entry up to this one
	member uint64 // the first member that applied it
}

// change is what one store revision changed.
type change struct {
	index  uint64
	events []api.Event
	member uint64
}

func (l *appliedLog) init() {
	l.entries = map[uint64]appliedEntry{}
	l.changes = map[int64]change{}
}

// chainAt is the hash chain of the applied stream through index.
func (l *appliedLog) chainAt(index uint64) (uint64, bool) {
	if index == 0 {
		return 0, true
	}
	e, ok := l.entries[index]
	return e.chain, ok
}

// changeLog returns the changes in revision order, for the watch checks.
func (l *appliedLog) changeLog() ([]linearizability.Change, error) {
	log := make([]linearizability.Change, 0, l.maxRev)
	// Revision 1 is the empty store: the first change is revision 2.
	for rev := int64(2); rev <= l.maxRev; rev++ {
		c, ok := l.changes[rev]
		if !ok {
			return nil, fmt.Errorf("no member applied store revision %d (the highest is %d)", rev, l.maxRev)
		}
		log = append(log, linearizability.Change{Revision: rev, Events: c.events})
	}
	return log, nil
}

// appliedState is the state machine a member's core drives: the real
// KVState, watched. It checks that the member applies the entries of the
// committed history in order, with no gap and no difference from the
// other members (comparing hash chains of the applied streams), and
// records what each revision changed in the store.
type appliedState struct {
	w  *World
	m  *member
	kv *replica.KVState
	// next is the index the member must apply next; chain hashes the
	// stream before it.
	next  uint64
	chain uint64
	// keys is the store's content at revision rev.
	keys map[string]api.KeyValue
	rev  int64
	// replaced says a snapshot replaced the store during this step.
	replaced bool
	// leases are the leases in the store.
	leases map[int64]bool
}

var _ replica.StateMachine = (*appliedState)(nil)

func (w *World) newAppliedState(m *member, kv *replica.KVState) *appliedState {
	s := &appliedState{w: w, m: m, kv: kv}
	s.resetTo(kv.AppliedIndex())
	w.noteRot(s, "as it starts")
	return s
}

// resetTo starts the stream after index, where the store now is.
func (s *appliedState) resetTo(index uint64) {
	chain, ok := s.w.applied.chainAt(index)
	if !ok {
		s.w.fail("member %d holds a store at index %d, which no member applied", s.m.id, index)
	}
	s.next, s.chain = index+1, chain
	s.keys, s.rev = s.contents()
	s.leases = map[int64]bool{}
	for _, l := range s.kv.Store().Leases() {
		s.leases[l.ID] = true
	}
}

// contents reads every key of the store.
func (s *appliedState) contents() (map[string]api.KeyValue, int64) {
	res, err := s.kv.Store().Range([]byte{0}, []byte{0}, mvccNow)
	if err != nil {
		s.w.fail("member %d: read store: %v", s.m.id, err)
		return nil, 0
	}
	keys := make(map[string]api.KeyValue, len(res.KVs))
	for _, kv := range res.KVs {
		keys[string(kv.Key)] = kv
	}
	return keys, res.Rev
}

// Apply implements replica.StateMachine.
func (s *appliedState) Apply(index, term uint64, data []byte) (any, error) {
	applied, rotted := s.w.rotting(s, index, data)
	if s.w.cfg.Mutation == NoWriteAuth {
		applied = asRoot(applied)
	}
	res, err := s.kv.Apply(index, term, applied)
	if err != nil {
		return nil, err // a storage failure: the member stops here
	}
	s.applied(index, term, raftcore.EntryNormal, data, false)
	before, revBefore := s.keys, s.rev
	events := s.observeChange(index)
	if rotted && s.rev == revBefore {
		delete(s.w.corrupt.rotten, s.m.id) // the put was refused: nothing rotted
	}
	if s.w.auth.on {
		s.w.judgeApplied(s, index, data, res, revBefore)
	}
	s.leasesApplied(index, before, events)
	return res, nil
}

// AdmitProposals implements replica.Deduplicator: the store's duplicate
// filter decides, unless the NoDedup mutation admits every proposal.
func (s *appliedState) AdmitProposals(from, to uint64, props []replica.Proposal) ([]bool, error) {
	if s.w.cfg.Mutation == NoDedup {
		admitted := make([]bool, len(props))
		for i := range admitted {
			admitted[i] = true
		}
		return admitted, nil
	}
	return s.kv.AdmitProposals(from, to, props)
}

// ApplyConfChange implements replica.StateMachine.
func (s *appliedState) ApplyConfChange(index, term uint64, cc raftcore.ConfChange, context []byte) error {
	if err := s.kv.ApplyConfChange(index, term, cc, context); err != nil {
		return err
	}
	s.appliedFromLog(index, term)
	return nil
}

// CheckConfChange implements replica.StateMachine.
func (s *appliedState) CheckConfChange(cc raftcore.ConfChange, context []byte) error {
	return s.kv.CheckConfChange(cc, context)
}

// Skip implements replica.StateMachine.
func (s *appliedState) Skip(index, term uint64) error {
	if err := s.kv.Skip(index, term); err != nil {
		return err
	}
	s.appliedFromLog(index, term)
	return nil
}

// appliedFromLog records an entry applied without its data (a leader's
// no-op or a membership change), reading it back from the log, to chain
// it and to learn the membership changes that commit.
func (s *appliedState) appliedFromLog(index, term uint64) {
	ents, err := s.m.log.Entries(index, index+1, 1<<30)
	if err != nil || len(ents) != 1 {
		s.w.fail("member %d: read skipped entry %d back: %v", s.m.id, index, err)
		return
	}
	s.applied(index, term, ents[0].Type, ents[0].Data, true)
}

// AppliedIndex implements replica.StateMachine.
func (s *appliedState) AppliedIndex() uint64 { return s.kv.AppliedIndex() }

// Persist implements replica.StateMachine.
func (s *appliedState) Persist() error { return s.kv.Persist() }

// OpenSnapshot implements replica.StateMachine.
func (s *appliedState) OpenSnapshot() (replica.SnapshotSource, error) { return s.kv.OpenSnapshot() }

// DropReceivedSnapshots implements replica.StateMachine.
func (s *appliedState) DropReceivedSnapshots() error { return s.kv.DropReceivedSnapshots() }

// Restore implements replica.StateMachine.
func (s *appliedState) Restore(index uint64) error {
	if err := s.kv.Restore(index); err != nil {
		return err
	}
	s.resetTo(index)
	s.replaced = true
	s.w.noteRot(s, "a snapshot replaced it")
	if s.w.auth.on {
		s.w.checkAuthState(s, index)
	}
	return nil
}

// applied checks and records the entry the member applied at index;
// whole says data is the entry's as the log holds it, header included.
func (s *appliedState) applied(index, term uint64, typ raftcore.EntryType, data []byte, whole bool) {
	w := s.w
	w.checkNotForged(s.m, index, data)
	if index != s.next {
		w.fail("member %d applied index %d, expected %d (a gap or a repeat)", s.m.id, index, s.next)
	}
	h := fnv.New64a()
	var b [25]byte
	binary.LittleEndian.PutUint64(b[0:], s.chain)
	binary.LittleEndian.PutUint64(b[8:], index)
	binary.LittleEndian.PutUint64(b[16:], term)
	b[24] = byte(typ)
	h.Write(b[:])
	h.Write(data)
	s.chain, s.next = h.Sum64(), index+1

	first, seen := w.applied.entries[index]
	if !seen {
		w.applied.entries[index] = appliedEntry{term: term, typ: typ, data: data, whole: whole, chain: s.chain, member: s.m.id}
		if typ == raftcore.EntryConfChange {
			var cc raftcore.ConfChange
			if err := cc.UnmarshalBinary(data); err == nil {
				w.conf.committed(w, index, cc)
			}
		}
		return
	}
	if first.chain != s.chain {
		w.fail("applied streams diverge at index %d: member %d applied %s, member %d applied %s",
			index, first.member, describeEntry(first.term, first.typ, first.data), s.m.id, describeEntry(term, typ, data))
	}
}

// observeChange records what the entry at index changed in the store,
// and returns it.
func (s *appliedState) observeChange(index uint64) []api.Event {
	keys, rev := s.contents()
	switch {
	case rev == s.rev:
		return nil
	case rev != s.rev+1:
		s.w.fail("member %d: entry %d moved the store from revision %d to %d", s.m.id, index, s.rev, rev)
	}
	var events []api.Event
	for k, kv := range keys {
		prev, existed := s.keys[k]
		if existed && prev.ModRevision == kv.ModRevision {
			continue
		}
		ev := api.Event{Type: api.EventPut, Kv: kv}
		if existed {
			ev.PrevKv = &prev
		}
		events = append(events, ev)
	}
	for k, prev := range s.keys {
		if _, ok := keys[k]; !ok {
			events = append(events, api.Event{Type: api.EventDelete, Kv: api.KeyValue{Key: prev.Key, ModRevision: rev}, PrevKv: &prev})
		}
	}
	slices.SortFunc(events, func(a, b api.Event) int { return bytes.Compare(a.Kv.Key, b.Kv.Key) })
	s.keys, s.rev = keys, rev
	if s.w.corrupt.isRotten(s.m.id) {
		return events // differs from the others' on purpose: not compared
	}

	l := &s.w.applied
	first, seen := l.changes[rev]
	if !seen {
		l.changes[rev] = change{index: index, events: events, member: s.m.id}
		l.maxRev = max(l.maxRev, rev)
		return events
	}
	if first.index != index || !sameEvents(first.events, events) {
		s.w.fail("members disagree on store revision %d: member %d (entry %d) changed %s; member %d (entry %d) changed %s",
			rev, first.member, first.index, describeEvents(first.events), s.m.id, index, describeEvents(events))
	}
	return events
}

func sameEvents(a, b []api.Event) bool {
	return slices.EqualFunc(a, b, func(x, y api.Event) bool {
		if x.Type != y.Type || !sameKV(x.Kv, y.Kv) || (x.PrevKv == nil) != (y.PrevKv == nil) {
			return false
		}
		return x.PrevKv == nil || sameKV(*x.PrevKv, *y.PrevKv)
	})
}

func sameKV(a, b api.KeyValue) bool {
	return bytes.Equal(a.Key, b.Key) && bytes.Equal(a.Value, b.Value) && a.CreateRevision == b.CreateRevision &&
		a.ModRevision == b.ModRevision && a.Version == b.Version && a.Lease == b.Lease
}

func describeEvents(evs []api.Event) string {
	var b bytes.Buffer
	for i, ev := range evs {
		if i > 0 {
			b.WriteString(", ")
		}
		if ev.Type == api.EventDelete {
			fmt.Fprintf(&b, "delete %q", ev.Kv.Key)
			continue
		}
		fmt.Fprintf(&b, "put %q=%q v%d", ev.Kv.Key, ev.Kv.Value, ev.Kv.Version)
	}
	if len(evs) == 0 {
		return "nothing"
	}
	return b.String()
}

func describeEntry(term uint64, typ raftcore.EntryType, data []byte) string {
	if len(data) > 40 {
		data = data[:40]
	}
	return fmt.Sprintf("%s term %d %q", typ, term, data)
}
