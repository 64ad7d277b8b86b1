package replica

import (
	"errors"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/internal/fsx"
	"github.com/cairndb/cairn/raftcore"
)

// mustCommand is req as a client's command.
func mustCommand(t testing.TB, req api.Message) Envelope {
	t.Helper()
	e, err := NewCommand(req)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// mustEncode is req as a client's command, as the state machine's Apply
// gets it.
func mustEncode(t testing.TB, req api.Message) []byte { return body(mustCommand(t, req)) }

// body is e as the state machine's Apply gets it: marshaled, without the
// header.
func body(e Envelope) []byte { return e.Marshal()[headerSize:] }

// Membership and alarms are part of the replicated state: applied with
// their index, kept across a restart, lost with it in a crash before the
// store committed them.
// mustApply applies cmd at index (term 1), which must not fail the store.
func mustApply(t *testing.T, k *KVState, index uint64, cmd []byte) ApplyResult {
	t.Helper()
	res, err := k.Apply(index, 1, cmd)
	if err != nil {
		t.Fatalf("apply at %d: %v", index, err)
	}
	return res.(ApplyResult)
}

// mustConfChange applies cc at index (term 1).
func mustConfChange(t *testing.T, k *KVState, index uint64, cc raftcore.ConfChange, context []byte) {
	t.Helper()
	if err := k.ApplyConfChange(index, 1, cc, context); err != nil {
		t.Fatalf("apply conf change at %d: %v", index, err)
	}
}

func TestKVStateMembershipAndAlarmsPersist(t *testing.T) {
	disk := fsx.NewMem()
	k, err := OpenKVState(disk, "/db")
	if err != nil {
		t.Fatal(err)
	}
	a := Member{ID: 10, Name: "a", PeerURLs: []string{"http://a:2380"}}
	mustConfChange(t, k, 1, raftcore.ConfChange{Type: raftcore.AddVoter, NodeID: 10}, encodeMember(a))
	mustConfChange(t, k, 2, raftcore.ConfChange{Type: raftcore.AddLearner, NodeID: 11}, encodeMember(Member{ID: 11, PeerURLs: []string{"http://b:2380"}}))
	res := mustApply(t, k, 3, mustEncode(t, &api.Member{ID: 10, Name: "a", ClientURLs: []string{"http://a:2379"}}))
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	res = mustApply(t, k, 4, mustEncode(t, &api.AlarmRequest{Action: api.AlarmActivate, MemberID: 10, Alarm: api.AlarmNoSpace}))
	if res.Err != nil || !k.HasAlarm(api.AlarmNoSpace) {
		t.Fatalf("alarm not raised: %+v", res)
	}
	if err := k.Store().Commit(); err != nil {
		t.Fatal(err)
	}
	mustConfChange(t, k, 5, raftcore.ConfChange{Type: raftcore.RemoveNode, NodeID: 11}, nil)
	want := []Member{{ID: 10, Name: "a", PeerURLs: []string{"http://a:2380"}, ClientURLs: []string{"http://a:2379"}}}
	if got := k.Members().List(); !reflect.DeepEqual(got, want) || !k.Members().IsRemoved(11) {
		t.Fatalf("members %+v (11 removed: %v)", got, k.Members().IsRemoved(11))
	}
	// Restart after a clean commit: everything is back.
	if err := k.Store().Commit(); err != nil {
		t.Fatal(err)
	}
	_ = k.Close()
	k, err = OpenKVState(disk, "/db")
	if err != nil {
		t.Fatal(err)
	}
	if got := k.Members().List(); !reflect.DeepEqual(got, want) || !k.Members().IsRemoved(11) || !k.HasAlarm(api.AlarmNoSpace) || k.AppliedIndex() != 5 {
		t.Fatalf("after restart: members %+v, alarms %v, applied %d", got, k.Alarms(), k.AppliedIndex())
	}
	// Clear the alarm, crash before committing: the alarm is back, with
	// the index before the clear, so raft will apply the clear again.
	mustApply(t, k, 6, mustEncode(t, &api.AlarmRequest{Action: api.AlarmDeactivate, MemberID: 10, Alarm: api.AlarmNoSpace}))
	if k.HasAlarm(api.AlarmNoSpace) {
		t.Fatal("alarm not cleared")
	}
	k, err = OpenKVState(disk.Crash(fsx.LoseUnsynced, rand.New(rand.NewPCG(1, 1))), "/db")
	if err != nil {
		t.Fatal(err)
	}
	if !k.HasAlarm(api.AlarmNoSpace) || k.AppliedIndex() != 5 {
		t.Fatalf("after crash: alarms %v at index %d", k.Alarms(), k.AppliedIndex())
	}
}

// A page-file failure during apply stops the state machine: Err reports
// it, so the core stops the member instead of answering.
func TestKVStateStorageFailureIsFatal(t *testing.T) {
	disk := fsx.NewMem()
	k, err := OpenKVState(disk, "/db")
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("disk on fire")
	disk.FailNext("write", boom)
	var fatal error
	for i := uint64(1); i <= 3 && fatal == nil; i++ {
		_, fatal = k.Apply(i, 1, mustEncode(t, &api.PutRequest{Key: []byte("k"), Value: []byte("v")}))
		_ = k.Store().Commit()
		if fatal == nil {
			_, fatal = k.Apply(i, 1, mustEncode(t, &api.PutRequest{Key: []byte("k"), Value: []byte("v")}))
		}
	}
	if !errors.Is(fatal, boom) {
		t.Fatalf("storage failure not reported: %v", fatal)
	}
	// The state machine refuses anything more.
	if err := k.Skip(10, 1); !errors.Is(err, boom) {
		t.Fatalf("skip after the failure: %v", err)
	}
}

// HasAlarm answers for a type while any member's alarm of it is raised:
// clearing one member's leaves another's, clearing all (member 0) ends it,
// and the types are apart.
func TestKVStateHasAlarmByType(t *testing.T) {
	k, err := OpenKVState(fsx.NewMem(), "/db")
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	steps := []struct {
		req              api.AlarmRequest
		noSpace, corrupt bool
	}{
		{api.AlarmRequest{Action: api.AlarmActivate, MemberID: 10, Alarm: api.AlarmNoSpace}, true, false},
		{api.AlarmRequest{Action: api.AlarmActivate, MemberID: 11, Alarm: api.AlarmNoSpace}, true, false},
		{api.AlarmRequest{Action: api.AlarmActivate, MemberID: 11, Alarm: api.AlarmCorrupt}, true, true},
		{api.AlarmRequest{Action: api.AlarmDeactivate, MemberID: 10, Alarm: api.AlarmNoSpace}, true, true},
		{api.AlarmRequest{Action: api.AlarmDeactivate, MemberID: 0, Alarm: api.AlarmNoSpace}, false, true},
		{api.AlarmRequest{Action: api.AlarmDeactivate, MemberID: 11, Alarm: api.AlarmNone}, false, false},
	}
	for i, st := range steps {
		if res := mustApply(t, k, uint64(i+1), mustEncode(t, &st.req)); res.Err != nil {
			t.Fatal(res.Err)
		}
		if k.HasAlarm(api.AlarmNoSpace) != st.noSpace || k.HasAlarm(api.AlarmCorrupt) != st.corrupt {
			t.Fatalf("after %+v: NOSPACE %v, CORRUPT %v; want %v, %v (alarms %v)", st.req, k.HasAlarm(api.AlarmNoSpace), k.HasAlarm(api.AlarmCorrupt), st.noSpace, st.corrupt, k.Alarms())
		}
	}
}
