package replica

import (
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/auth"
	"github.com/cairndb/cairn/btreekv/mvcc"
	"github.com/cairndb/cairn/internal/fsx"
	"github.com/cairndb/cairn/logstore"
	"github.com/cairndb/cairn/raftcore"
)

// openTestReplica opens a one-member replica on an in-memory disk.
func openTestReplica(t *testing.T) *Replica {
	t.Helper()
	disk := fsx.NewMem()
	r, err := Open(Config{
		Log:       logstore.Options{FS: disk, Dir: "/wal", Create: true},
		StorePath: "/db", Store: mvcc.Options{FS: disk},
		Core: CoreConfig{ID: 1, ElectionTick: 10, HeartbeatTick: 1, Peers: []raftcore.Peer{{ID: 1}},
			Rand: rand.New(rand.NewPCG(1, 1))},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r
}

// What a member admits of a client's writes, and what it refuses while an
// alarm is raised.
func TestAdmitWriteAndCommand(t *testing.T) {
	r := openTestReplica(t)
	lim := Limits{MaxTxnOps: 1, MaxRequestBytes: 200}
	put := &api.PutRequest{Key: []byte("k"), Value: []byte("v")}
	del := &api.DeleteRangeRequest{Key: []byte("k")}
	putTxn := &api.TxnRequest{Success: []api.RequestOp{{Put: put}}}
	delTxn := &api.TxnRequest{Success: []api.RequestOp{{DeleteRange: del}}}
	grant := &api.LeaseGrantRequest{ID: 5, TTL: 60}
	check := func(when string, cases map[string]struct {
		req  api.Message
		want error
	}) {
		t.Helper()
		for name, tc := range cases {
			if err := r.AdmitWrite(tc.req, lim); !errors.Is(err, tc.want) && (tc.want != nil || err != nil) {
				t.Errorf("%s, %s: AdmitWrite = %v, want %v", when, name, err, tc.want)
			}
		}
	}
	type tc = struct {
		req  api.Message
		want error
	}
	check("no alarm", map[string]tc{
		"a put":                  {put, nil},
		"a put without a key":    {&api.PutRequest{}, api.ErrEmptyKey},
		"a delete without a key": {&api.DeleteRangeRequest{}, api.ErrEmptyKey},
		"a txn of too many ops":  {&api.TxnRequest{Success: []api.RequestOp{{Put: put}, {Put: put}}}, mvcc.ErrTooManyOps},
		"a grant past the max":   {&api.LeaseGrantRequest{TTL: MaxLeaseTTL + 1}, api.ErrLeaseTTLTooLarge},
	})
	if err := r.AdmitWrite(&api.LeaseGrantRequest{ID: -1, TTL: 5}, lim); api.CodeOf(err) != api.CodeInvalidArgument {
		t.Errorf("a grant of a negative id: %v", err)
	}
	alarm := func(index uint64, a api.AlarmType) {
		t.Helper()
		res := mustApply(t, r.State, index, mustEncode(t, &api.AlarmRequest{Action: api.AlarmActivate, MemberID: 1, Alarm: a}))
		if res.Err != nil {
			t.Fatal(res.Err)
		}
	}
	alarm(1, api.AlarmNoSpace)
	check("NOSPACE", map[string]tc{
		"a put":                   {put, api.ErrNoSpace},
		"a txn that puts":         {putTxn, api.ErrNoSpace},
		"a grant":                 {grant, api.ErrNoSpace},
		"a delete":                {del, nil},
		"a txn that only deletes": {delTxn, nil},
		"a compaction":            {&api.CompactionRequest{Revision: 1}, nil},
	})
	if _, err := r.Command(put, nil, lim); err != nil {
		t.Fatalf("command while only NOSPACE is raised: %v", err)
	}
	alarm(2, api.AlarmCorrupt)
	for _, req := range []api.Message{put, del, putTxn, grant, &api.LeaseRevokeRequest{ID: 5}, &api.CompactionRequest{Revision: 1}} {
		if _, err := r.Command(req, nil, lim); !errors.Is(err, ErrCorruptAlarm) {
			t.Errorf("%T while CORRUPT is raised: %v", req, err)
		}
	}
	if _, err := r.Command(&api.Member{ID: 1, Name: "a"}, nil, lim); err != nil {
		t.Errorf("a member's attributes while CORRUPT is raised: %v", err)
	}
	if _, err := r.Command(&api.RangeRequest{Key: []byte("k")}, nil, lim); err == nil {
		t.Error("a range made a command")
	}
}

// Seal names the caller, unless the member made the command, and bounds
// its size.
func TestSeal(t *testing.T) {
	lim := Limits{MaxRequestBytes: 100}
	alice := &auth.Identity{User: "alice", Revision: 3}
	cmd, err := Seal(mustCommand(t, &api.PutRequest{Key: []byte("k")}), alice, lim)
	if err != nil || cmd.Who != WhoUser || cmd.User != *alice {
		t.Fatalf("a client's command: %+v, %v", cmd, err)
	}
	own := ExpiryCommand(7)
	if cmd, err := Seal(own, alice, lim); err != nil || cmd.Who != WhoMember {
		t.Fatalf("the member's own command: %+v, %v", cmd, err)
	}
	big := mustCommand(t, &api.PutRequest{Key: []byte("k"), Value: make([]byte, 100)})
	if _, err := Seal(big, nil, lim); api.CodeOf(err) != api.CodeRequestTooLarge {
		t.Fatalf("a command past the limit: %v", err)
	}
}

// Response unwraps what the core replied for a command.
func TestResponse(t *testing.T) {
	want := &api.PutResponse{}
	if got, err := Response(ApplyResult{Resp: want}); err != nil || got != want {
		t.Fatalf("applied: %v, %v", got, err)
	}
	if _, err := Response(ApplyResult{Err: api.ErrLeaseNotFound}); !errors.Is(err, api.ErrLeaseNotFound) {
		t.Fatalf("refused: %v", err)
	}
	if _, err := Response("something else"); err == nil {
		t.Fatal("a result that is no ApplyResult was taken")
	}
}
