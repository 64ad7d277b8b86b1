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

func mustEncode(t *testing.T, req api.Message) []byte {
	t.Helper()
	b, err := EncodeRequest(req)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Membership and alarms are part of the replicated state: applied with
// their index, kept across a restart, lost with it in a crash before the
// store committed them.
func TestKVStateMembershipAndAlarmsPersist(t *testing.T) {
	disk := fsx.NewMem()
	k, err := OpenKVState(disk, "/db")
	if err != nil {
		t.Fatal(err)
	}
	a := Member{ID: 10, Name: "a", PeerURLs: []string{"http://a:2380"}}
	k.ApplyConfChange(1, 1, raftcore.ConfChange{Type: raftcore.AddVoter, NodeID: 10}, encodeMember(a))
	k.ApplyConfChange(2, 1, raftcore.ConfChange{Type: raftcore.AddLearner, NodeID: 11}, encodeMember(Member{ID: 11, PeerURLs: []string{"http://b:2380"}}))
	res := k.Apply(3, 1, mustEncode(t, &api.Member{ID: 10, Name: "a", ClientURLs: []string{"http://a:2379"}})).(ApplyResult)
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	res = k.Apply(4, 1, mustEncode(t, &api.AlarmRequest{Action: api.AlarmActivate, MemberID: 10, Alarm: api.AlarmNoSpace})).(ApplyResult)
	if res.Err != nil || !k.HasAlarm(api.AlarmNoSpace) {
		t.Fatalf("alarm not raised: %+v", res)
	}
	if err := k.Store().Commit(); err != nil {
		t.Fatal(err)
	}
	k.ApplyConfChange(5, 1, raftcore.ConfChange{Type: raftcore.RemoveNode, NodeID: 11}, nil)
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
	k.Apply(6, 1, mustEncode(t, &api.AlarmRequest{Action: api.AlarmDeactivate, MemberID: 10, Alarm: api.AlarmNoSpace}))
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
	for i := uint64(1); i <= 3 && k.Err() == nil; i++ {
		k.Apply(i, 1, mustEncode(t, &api.PutRequest{Key: []byte("k"), Value: []byte("v")}))
		_ = k.Store().Commit()
		k.Apply(i, 1, mustEncode(t, &api.PutRequest{Key: []byte("k"), Value: []byte("v")}))
	}
	if k.Err() == nil {
		t.Fatal("storage failure not reported")
	}
}
