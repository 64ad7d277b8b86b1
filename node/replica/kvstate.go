package replica

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/btreekv/mvcc"
	"github.com/cairndb/cairn/internal/datadir"
	"github.com/cairndb/cairn/internal/fsx"
	"github.com/cairndb/cairn/raftcore"
)

// ApplyResult is what applying a command returns to its proposer: the
// API response, or the error the request failed with (an error here is
// the request's outcome, the same on every member, not a server fault).
type ApplyResult struct {
	Resp api.Message
	Err  error
}

// KVState is the replicated state machine of a member: the MVCC store
// (keys, leases) and the server's own replicated records kept beside it
// in the store's auxiliary table (membership, alarms), all driven by the
// raft log. Reads may come from any goroutine; Apply, ApplyConfChange,
// Skip and Restore come from the core's.
type KVState struct {
	fs   fsx.FS
	path string
	opts mvcc.Options

	// store is replaced by Restore; readers load it once per request.
	store   atomic.Pointer[mvcc.Store]
	members *Members
	// alarms are the raised alarms, by member and type.
	alarmMu sync.RWMutex
	alarms  map[api.AlarmMember]bool
	// raisedTypes has bit t set while an alarm of type t < 64 is raised
	// (set with alarms, under alarmMu): every request asks HasAlarm, and
	// a load is cheaper than the map's walk under a lock.
	raisedTypes atomic.Uint64

	// OnLease, if set, is told of every lease granted (ttl > 0) or
	// revoked (ttl 0) as it is applied, so the lessor can keep time.
	OnLease func(id, ttl int64)
	// OnRestore, if set, is called after a snapshot replaced the state.
	OnRestore func()
	// OnApply, if set, is told of every command applied: its index and
	// data, its outcome, and how long its apply took.
	OnApply func(index uint64, data []byte, resp api.Message, err error, took time.Duration)
	// OnIndex, if set, is told of every index the state reaches: by a
	// command applied, a membership change, or an entry skipped (a
	// leader's no-op, a duplicate).
	OnIndex func(index uint64)
	// fatal is the first storage failure: the member stops on it (the
	// core has it returned), and the state machine refuses any more.
	fatal error
	// auth is the replicated auth state (auth_apply.go).
	auth kvAuth
	// dedup is the duplicate filter's records, by proposer (dedup.go).
	dedup dedupTable
	// receiving numbers the snapshot receptions and the store copies
	// made to be sent, for their temporary files (see ReceiveSnapshot,
	// OpenSnapshot).
	receiving atomic.Uint64
	// values is the store's access to the values it keeps in the raft
	// log (logvalues.go); nil for a store opened alone (OpenKVState),
	// which keeps none there.
	values *logValues
}

var _ StateMachine = (*KVState)(nil)

// OpenKVState opens the store in the page file at path.
func OpenKVState(fs fsx.FS, path string) (*KVState, error) {
	return openKVState(path, mvcc.Options{FS: fs})
}

// openKVState opens the store at path with opts (and reopens it with
// them when a snapshot is installed).
func openKVState(path string, opts mvcc.Options) (*KVState, error) {
	fs := opts.FS
	s, err := mvcc.Open(path, opts)
	if err != nil {
		return nil, err
	}
	k := &KVState{fs: fs, path: path, opts: opts}
	k.store.Store(s)
	if err := k.loadAux(); err != nil {
		_ = s.Close()
		return nil, err
	}
	k.removePartialSnapshots()
	return k, nil
}

// Store is the MVCC store, for reads. A snapshot install replaces it, so
// load it once per request.
func (k *KVState) Store() *mvcc.Store { return k.store.Load() }

// Members is the membership registry.
func (k *KVState) Members() *Members { return k.members }

// Alarms returns the raised alarms, sorted by member then type.
func (k *KVState) Alarms() []api.AlarmMember {
	k.alarmMu.RLock()
	defer k.alarmMu.RUnlock()
	out := make([]api.AlarmMember, 0, len(k.alarms))
	for a := range k.alarms {
		out = append(out, a)
	}
	slices.SortFunc(out, func(a, b api.AlarmMember) int {
		if a.MemberID != b.MemberID {
			return cmp.Compare(a.MemberID, b.MemberID)
		}
		return cmp.Compare(a.Alarm, b.Alarm)
	})
	return out
}

// HasAlarm reports whether any member has alarm t raised.
func (k *KVState) HasAlarm(t api.AlarmType) bool {
	if t < 64 {
		return k.raisedTypes.Load()&(1<<t) != 0
	}
	k.alarmMu.RLock()
	defer k.alarmMu.RUnlock()
	for a := range k.alarms {
		if a.Alarm == t {
			return true
		}
	}
	return false
}

// noteRaisedTypes sets raisedTypes from alarms (alarmMu held).
func (k *KVState) noteRaisedTypes() {
	var bits uint64
	for a := range k.alarms {
		if a.Alarm < 64 {
			bits |= 1 << a.Alarm
		}
	}
	k.raisedTypes.Store(bits)
}

// Close closes the store.
func (k *KVState) Close() error { return k.Store().Close() }

// fail records err, a failure of the store, as the one that stops the
// state machine (the first, if there were several), and returns it.
func (k *KVState) fail(err error) error {
	if k.fatal == nil {
		k.fatal = err
	}
	return k.fatal
}

// Aux keys of the records kept beside the key space.
const (
	auxMember  = datadir.AuxMember  // + 16 hex digits of the id: an encoded Member
	auxRemoved = datadir.AuxRemoved // + 16 hex digits: a removed member's id
	auxAlarm   = datadir.AuxAlarm   // + 16 hex digits of the member + "/" + alarm number
	// auxDedup (dedup.go): "dedup/" + 16 hex digits of a proposer's tag.
)

func auxIDKey(prefix string, id uint64) []byte { return datadir.AuxIDKey(prefix, id) }

// loadAux rebuilds membership, alarms, the duplicate filter and the auth
// state from the store.
func (k *KVState) loadAux() error {
	s := k.Store()
	dedup, err := loadDedup(s)
	if err != nil {
		return err
	}
	k.dedup = dedup
	ms := NewMembers()
	for _, r := range s.Aux([]byte(auxMember)) {
		m, err := decodeMember(r.Value)
		if err != nil {
			return fmt.Errorf("node: member record %s: %w", r.Key, err)
		}
		ms.members[m.ID] = m
	}
	for _, r := range s.Aux([]byte(auxRemoved)) {
		id, err := strconv.ParseUint(string(r.Key[len(auxRemoved):]), 16, 64)
		if err != nil {
			return fmt.Errorf("node: removed-member record %q: %w", r.Key, err)
		}
		ms.removed[id] = true
	}
	alarms := map[api.AlarmMember]bool{}
	for _, r := range s.Aux([]byte(auxAlarm)) {
		var id uint64
		var t uint8
		if _, err := fmt.Sscanf(string(r.Key[len(auxAlarm):]), "%016x/%d", &id, &t); err != nil {
			return fmt.Errorf("node: alarm record %q: %w", r.Key, err)
		}
		alarms[api.AlarmMember{MemberID: id, Alarm: api.AlarmType(t)}] = true
	}
	if k.members == nil {
		k.members = ms
	} else {
		k.members.replaceWith(ms) // readers on other goroutines hold k.members
	}
	k.alarmMu.Lock()
	k.alarms = alarms
	k.noteRaisedTypes()
	k.alarmMu.Unlock()
	return k.loadAuth(s)
}

// Apply implements StateMachine: the result is an ApplyResult; the error
// a failure of the store.
func (k *KVState) Apply(index, term uint64, data []byte) (any, error) {
	if k.fatal != nil {
		return nil, k.fatal
	}
	start := time.Now()
	resp, err := k.applyAuthorized(index, term, data)
	if k.OnApply != nil {
		k.OnApply(index, data, resp, err, time.Since(start))
	}
	k.reachedIndex(index)
	if err != nil {
		if serr := k.Store().Err(); serr != nil {
			// Not the request's fault: the page file failed. The member
			// must stop rather than answer differently from the others.
			return nil, k.fail(fmt.Errorf("node: apply index %d: %w", index, serr))
		}
	}
	return ApplyResult{Resp: resp, Err: err}, nil
}

// ApplyConfChange implements StateMachine: the registry follows raft's
// membership, and the change is recorded in the store with its index.
func (k *KVState) ApplyConfChange(index, term uint64, cc raftcore.ConfChange, context []byte) error {
	if k.fatal != nil {
		return k.fatal
	}
	k.members.Apply(cc, context)
	tw := k.Store().Write(index, term)
	var err error
	switch cc.Type {
	case raftcore.AddVoter, raftcore.AddLearner:
		if m, ok := k.members.Get(cc.NodeID); ok {
			err = tw.PutAux(auxIDKey(auxMember, m.ID), encodeMember(m))
		}
	case raftcore.RemoveNode:
		err = tw.PutAux(auxIDKey(auxMember, cc.NodeID), nil)
		if err == nil {
			err = tw.PutAux(auxIDKey(auxRemoved, cc.NodeID), []byte{1})
		}
	}
	if endErr := tw.End(); err == nil {
		err = endErr
	}
	if err != nil {
		return k.fail(fmt.Errorf("node: apply membership change at index %d: %w", index, err))
	}
	k.reachedIndex(index)
	return nil
}

// CheckConfChange refuses a change that conflicts with the membership
// registry (Members.CheckChange): the leader's check when it takes one.
func (k *KVState) CheckConfChange(cc raftcore.ConfChange, context []byte) error {
	var m Member
	if len(context) > 0 {
		var err error
		if m, err = decodeMember(context); err != nil {
			return fmt.Errorf("node: conf change %s %x: member record: %w", cc.Type, cc.NodeID, err)
		}
	}
	return k.members.CheckChange(cc, m)
}

// apply applies a command of kind with body, its maker allowed to.
func (k *KVState) apply(index, term uint64, kind Kind, body []byte) (api.Message, error) {
	s := k.Store()
	decode := func(m api.Message) error {
		if err := api.Unmarshal(body, m); err != nil {
			return fmt.Errorf("node: command at index %d: %w", index, err)
		}
		return nil
	}
	switch kind {
	case KindPut:
		var req api.PutRequest
		if err := decode(&req); err != nil {
			return nil, err
		}
		return s.Put(index, term, &req)
	case KindDeleteRange:
		var req api.DeleteRangeRequest
		if err := decode(&req); err != nil {
			return nil, err
		}
		return s.DeleteRange(index, term, &req)
	case KindTxn:
		var req api.TxnRequest
		if err := decode(&req); err != nil {
			return nil, err
		}
		return s.Txn(index, term, &req)
	case KindCompaction:
		var req api.CompactionRequest
		if err := decode(&req); err != nil {
			return nil, err
		}
		// Record the applied index even though compaction changes no
		// key; then compact. The records it drops leave the page file
		// with the store's next commits (mvcc.Store.StartCompact): the
		// apply loop does not wait for gigabytes of history to be read
		// and deleted, and writes go on meanwhile.
		if err := s.Write(index, term).End(); err != nil {
			return nil, err
		}
		if err := s.StartCompact(req.Revision); err != nil {
			return nil, err
		}
		return &api.CompactionResponse{Header: api.ResponseHeader{Revision: s.Rev()}}, nil
	case KindLeaseGrant:
		var req api.LeaseGrantRequest
		if err := decode(&req); err != nil {
			return nil, err
		}
		if err := s.LeaseGrant(index, term, req.ID, req.TTL); err != nil {
			return nil, err
		}
		if k.OnLease != nil {
			k.OnLease(req.ID, req.TTL)
		}
		return &api.LeaseGrantResponse{Header: api.ResponseHeader{Revision: s.Rev()}, ID: req.ID, TTL: req.TTL}, nil
	case KindLeaseRevoke:
		var req api.LeaseRevokeRequest
		if err := decode(&req); err != nil {
			return nil, err
		}
		if _, err := s.LeaseRevoke(index, term, req.ID); err != nil {
			return nil, err
		}
		if k.OnLease != nil {
			k.OnLease(req.ID, 0)
		}
		return &api.LeaseRevokeResponse{Header: api.ResponseHeader{Revision: s.Rev()}}, nil
	case KindMemberAttrs:
		var req api.Member
		if err := decode(&req); err != nil {
			return nil, err
		}
		return nil, k.updateMember(index, term, req.ID, func(m *Member) error {
			m.Name, m.ClientURLs = req.Name, slices.Clone(req.ClientURLs)
			return nil
		})
	case KindMemberUpdate:
		var req api.MemberUpdateRequest
		if err := decode(&req); err != nil {
			return nil, err
		}
		return nil, k.updateMember(index, term, req.ID, func(m *Member) error {
			// Checked here, in log order, as well as before it was
			// proposed: two updates that raced cannot both take a URL.
			if err := k.members.CheckUpdate(req.ID, req.PeerURLs); err != nil {
				return err
			}
			m.PeerURLs = slices.Clone(req.PeerURLs)
			return nil
		})
	case KindAlarm:
		var req api.AlarmRequest
		if err := decode(&req); err != nil {
			return nil, err
		}
		return k.applyAlarm(index, term, &req)
	}
	// Record the index of a command we do not understand, so that a
	// restart does not apply it again, and fail it.
	_ = s.Write(index, term).End()
	return nil, fmt.Errorf("node: command at index %d has unknown kind %d", index, kind)
}

// updateMember changes one member's record (if it is still a member, and
// change allows it).
func (k *KVState) updateMember(index, term uint64, id uint64, change func(*Member) error) error {
	tw := k.Store().Write(index, term)
	var err error
	if m, ok := k.members.Get(id); ok {
		if err = change(&m); err == nil {
			k.members.put(m)
			err = tw.PutAux(auxIDKey(auxMember, id), encodeMember(m))
		}
	} else {
		err = ErrMemberNotFound
	}
	if endErr := tw.End(); endErr != nil {
		return endErr
	}
	return err
}

func (k *KVState) applyAlarm(index, term uint64, req *api.AlarmRequest) (api.Message, error) {
	tw := k.Store().Write(index, term)
	a := api.AlarmMember{MemberID: req.MemberID, Alarm: req.Alarm}
	key := []byte(fmt.Sprintf("%s%016x/%d", auxAlarm, a.MemberID, a.Alarm))
	var err error
	resp := &api.AlarmResponse{}
	k.alarmMu.Lock()
	switch req.Action {
	case api.AlarmActivate:
		if a.Alarm != api.AlarmNone {
			err = tw.PutAux(key, []byte{1})
			k.alarms[a] = true
			resp.Alarms = []api.AlarmMember{a}
		}
	case api.AlarmDeactivate:
		for x := range k.alarms {
			if (a.MemberID == 0 || x.MemberID == a.MemberID) && (a.Alarm == api.AlarmNone || x.Alarm == a.Alarm) {
				xkey := []byte(fmt.Sprintf("%s%016x/%d", auxAlarm, x.MemberID, x.Alarm))
				if e := tw.PutAux(xkey, nil); e != nil && err == nil {
					err = e
				}
				delete(k.alarms, x)
				resp.Alarms = append(resp.Alarms, x)
			}
		}
	}
	k.noteRaisedTypes()
	k.alarmMu.Unlock()
	if endErr := tw.End(); err == nil {
		err = endErr
	}
	resp.Header.Revision = k.Store().Rev()
	return resp, err
}

// Skip implements StateMachine.
func (k *KVState) Skip(index, term uint64) error {
	if k.fatal != nil {
		return k.fatal
	}
	if err := k.Store().Write(index, term).End(); err != nil {
		return k.fail(fmt.Errorf("node: record applied index %d: %w", index, err))
	}
	k.reachedIndex(index)
	return nil
}

// reachedIndex tells OnIndex of index.
func (k *KVState) reachedIndex(index uint64) {
	if k.OnIndex != nil {
		k.OnIndex(index)
	}
}

// AppliedIndex implements StateMachine: the index durable in the store.
func (k *KVState) AppliedIndex() uint64 { return k.Store().ConsistentIndex() }
