package replica

import (
	"errors"
	"math/rand/v2"
	"strings"
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

// planCase is one request through Replica.Plan and the step after it.
type planCase struct {
	name string
	// state prepares the member's replicated state (nil: a new store).
	state func(t *testing.T, a *applier)
	// loc is what the shell knows (zero: defaultLocal).
	loc    *Local
	req    api.Message
	caller *auth.Identity
	step   Step
	// err is Plan.Err; then is the error of the step after it
	// (Plan.Propose for a write, Plan.Answer for a read).
	err, then error
}

// defaultLocal bounds the plan tests' requests to two operations a
// branch and 300 bytes, with a quota the store is under.
var defaultLocal = Local{Limits: Limits{MaxTxnOps: 2, MaxRequestBytes: 300}, QuotaBytes: 1 << 30, DBSize: 1 << 20}

// The member's states the plan tests start from: an alarm raised, auth on
// (alice holds readwrite on [app/, app0): enableAuth).
func raised(alarm api.AlarmType) func(*testing.T, *applier) {
	return func(t *testing.T, a *applier) {
		a.must(mustEncode(t, &api.AlarmRequest{Action: api.AlarmActivate, MemberID: 1, Alarm: alarm}))
	}
}

// isErr reports whether got is want: the same error, or one of the same
// API code; both nil passes.
func isErr(got, want error) bool {
	if want == nil || got == nil {
		return got == want
	}
	return errors.Is(got, want) || api.CodeOf(want) != 0 && api.CodeOf(got) == api.CodeOf(want)
}

// The one entry of a client's request: every refusal, in the order
// Replica.Plan and the step after it make them, and what each step hands
// the shell.
func TestPlan(t *testing.T) {
	put := &api.PutRequest{Key: []byte("k"), Value: []byte("v")}
	del := &api.DeleteRangeRequest{Key: []byte("k")}
	get := &api.RangeRequest{Key: []byte("k")}
	putTxn := &api.TxnRequest{Success: []api.RequestOp{{Put: put}}}
	delTxn := &api.TxnRequest{Success: []api.RequestOp{{DeleteRange: del}}}
	readTxn := &api.TxnRequest{Success: []api.RequestOp{{Range: get}}}
	threeOps := []api.RequestOp{{Range: get}, {Range: get}, {Range: get}}
	grant := &api.LeaseGrantRequest{ID: 5, TTL: 60}
	bigPut := &api.PutRequest{Key: []byte("k"), Value: make([]byte, 300)}
	overQuota := &Local{Limits: defaultLocal.Limits, QuotaBytes: 1 << 20, DBSize: 1<<20 + 1}
	lost := errors.New("this member lost data and is not repaired yet")
	unconfirmed := &Local{Limits: defaultLocal.Limits, ReadRefusal: func() error { return lost }}
	authOn := func(t *testing.T, a *applier) { enableAuth(t, a) }
	alice := &auth.Identity{User: "alice"}
	denied := api.ErrPermissionDenied
	cases := []planCase{
		{name: "a put", req: put, step: StepWrite},
		{name: "a put without a key", req: &api.PutRequest{}, step: StepRefuse, err: api.ErrEmptyKey},
		{name: "a delete without a key", req: &api.DeleteRangeRequest{}, step: StepRefuse, err: api.ErrEmptyKey},
		{name: "a range without a key", req: &api.RangeRequest{}, step: StepRefuse, err: api.ErrEmptyKey},
		{name: "a write txn of too many ops", req: &api.TxnRequest{Success: append(threeOps, api.RequestOp{Put: put})}, step: StepRefuse, err: mvcc.ErrTooManyOps},
		{name: "a read txn of too many ops", req: &api.TxnRequest{Failure: threeOps}, step: StepRefuse, err: mvcc.ErrTooManyOps},
		{name: "a grant past the max TTL", req: &api.LeaseGrantRequest{TTL: MaxLeaseTTL + 1}, step: StepRefuse, err: api.ErrLeaseTTLTooLarge},
		{name: "a grant of a negative id", req: &api.LeaseGrantRequest{ID: -1, TTL: 5}, step: StepRefuse, err: api.Errorf(api.CodeInvalidArgument, "")},
		{name: "a request too large", req: bigPut, step: StepWrite, then: api.Errorf(api.CodeRequestTooLarge, "")},
		{name: "a request too large by its user's name", state: authOn, req: &api.PutRequest{Key: []byte("app/k"), Value: make([]byte, 240)},
			caller: &auth.Identity{User: strings.Repeat("u", 60)}, step: StepWrite, then: api.Errorf(api.CodeRequestTooLarge, "")},

		{name: "a put over the quota", loc: overQuota, req: put, step: StepRaiseNoSpace, err: api.ErrNoSpace},
		// etcd's rule: the size and the write's cost reach the quota.
		{name: "a put that would reach the quota", loc: &Local{Limits: defaultLocal.Limits, QuotaBytes: 1 << 20, DBSize: 1<<20 - 258}, req: put, step: StepRaiseNoSpace, err: api.ErrNoSpace},
		{name: "a put that stays under the quota", loc: &Local{Limits: defaultLocal.Limits, QuotaBytes: 1 << 20, DBSize: 1<<20 - 259}, req: put, step: StepWrite},
		{name: "a grant that would reach the quota", loc: &Local{Limits: defaultLocal.Limits, QuotaBytes: 1 << 20, DBSize: 1<<20 - 64}, req: grant, step: StepRaiseNoSpace, err: api.ErrNoSpace},
		{name: "a txn that would reach the quota by its larger branch", loc: &Local{Limits: defaultLocal.Limits, QuotaBytes: 1 << 20, DBSize: 1<<20 - 258},
			req: &api.TxnRequest{Success: []api.RequestOp{{DeleteRange: del}}, Failure: []api.RequestOp{{Put: put}}}, step: StepRaiseNoSpace, err: api.ErrNoSpace},
		{name: "a txn that puts over the quota", loc: overQuota, req: putTxn, step: StepRaiseNoSpace, err: api.ErrNoSpace},
		{name: "a grant over the quota", loc: overQuota, req: grant, step: StepRaiseNoSpace, err: api.ErrNoSpace},
		{name: "a delete over the quota", loc: overQuota, req: del, step: StepWrite},
		{name: "a txn that deletes over the quota", loc: overQuota, req: delTxn, step: StepWrite},
		{name: "a read over the quota", loc: overQuota, req: get, step: StepRead},
		{name: "a bad put over the quota", loc: overQuota, req: &api.PutRequest{}, step: StepRefuse, err: api.ErrEmptyKey},
		{name: "a put under no quota", loc: &Local{Limits: defaultLocal.Limits, DBSize: 1 << 40}, req: put, step: StepWrite},

		{name: "a put, NOSPACE raised", state: raised(api.AlarmNoSpace), req: put, step: StepRefuse, err: api.ErrNoSpace},
		{name: "a txn that puts, NOSPACE raised", state: raised(api.AlarmNoSpace), req: putTxn, step: StepRefuse, err: api.ErrNoSpace},
		{name: "a grant, NOSPACE raised", state: raised(api.AlarmNoSpace), req: grant, step: StepRefuse, err: api.ErrNoSpace},
		{name: "a put over the quota, NOSPACE raised", state: raised(api.AlarmNoSpace), loc: overQuota, req: put, step: StepRefuse, err: api.ErrNoSpace},
		{name: "a delete, NOSPACE raised", state: raised(api.AlarmNoSpace), req: del, step: StepWrite},
		{name: "a txn that deletes, NOSPACE raised", state: raised(api.AlarmNoSpace), req: delTxn, step: StepWrite},
		{name: "a compaction, NOSPACE raised", state: raised(api.AlarmNoSpace), req: &api.CompactionRequest{Revision: 1}, step: StepWrite},

		{name: "a put, CORRUPT raised", state: raised(api.AlarmCorrupt), req: put, step: StepWrite, then: ErrCorruptAlarm},
		{name: "a delete, CORRUPT raised", state: raised(api.AlarmCorrupt), req: del, step: StepWrite, then: ErrCorruptAlarm},
		{name: "a grant, CORRUPT raised", state: raised(api.AlarmCorrupt), req: grant, step: StepWrite, then: ErrCorruptAlarm},
		{name: "a revoke, CORRUPT raised", state: raised(api.AlarmCorrupt), req: &api.LeaseRevokeRequest{ID: 5}, step: StepWrite, then: ErrCorruptAlarm},
		{name: "a compaction, CORRUPT raised", state: raised(api.AlarmCorrupt), req: &api.CompactionRequest{Revision: 1}, step: StepWrite, then: ErrCorruptAlarm},
		{name: "a disarm, CORRUPT raised", state: raised(api.AlarmCorrupt), req: &api.AlarmRequest{Action: api.AlarmDeactivate, MemberID: 1, Alarm: api.AlarmCorrupt}, step: StepWrite},
		{name: "a range, CORRUPT raised", state: raised(api.AlarmCorrupt), req: get, step: StepRefuse, err: ErrCorruptAlarm},
		{name: "a read txn, CORRUPT raised", state: raised(api.AlarmCorrupt), req: readTxn, step: StepRefuse, err: ErrCorruptAlarm},

		{name: "a range, the member unconfirmed", loc: unconfirmed, req: get, step: StepRefuse, err: lost},
		{name: "a read txn, the member unconfirmed", loc: unconfirmed, req: readTxn, step: StepRefuse, err: lost},
		{name: "a bad range before the refusal", loc: unconfirmed, req: &api.RangeRequest{}, step: StepRefuse, err: api.ErrEmptyKey},
		{name: "a put, the member unconfirmed", loc: unconfirmed, req: put, step: StepWrite},

		{name: "alice ranges in her range", state: authOn, req: &api.RangeRequest{Key: []byte("app/x")}, caller: alice, step: StepRead},
		{name: "alice ranges outside it", state: authOn, req: get, caller: alice, step: StepRead, then: denied},
		{name: "alice's read txn outside her range", state: authOn, req: readTxn, caller: alice, step: StepRead, then: denied},
		{name: "a range by no user, auth on", state: authOn, req: get, step: StepRead, then: api.ErrUserEmpty},
		{name: "an old token's range", state: authOn, req: &api.RangeRequest{Key: []byte("app/x")}, caller: &auth.Identity{User: "alice", Revision: 1}, step: StepRead, then: api.ErrAuthOldRevision},
		{name: "alice ranges, auth off", req: get, caller: alice, step: StepRead},
		{name: "alice puts outside her range (checked as it applies)", state: authOn, req: put, caller: alice, step: StepWrite},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := openTestReplica(t)
			if tc.state != nil {
				tc.state(t, &applier{t: t, k: r.State})
			}
			loc := defaultLocal
			if tc.loc != nil {
				loc = *tc.loc
			}
			p := r.Plan(tc.req, loc)
			if p.Step != tc.step || !isErr(p.Err, tc.err) {
				t.Fatalf("Plan = step %d, %v; want step %d, %v", p.Step, p.Err, tc.step, tc.err)
			}
			switch p.Step {
			case StepRaiseNoSpace:
				checkNoSpaceAlarm(t, p.Alarm)
			case StepWrite:
				cmd, err := p.Propose(tc.caller)
				if !isErr(err, tc.then) {
					t.Fatalf("Propose = %v, want %v", err, tc.then)
				}
				if err == nil {
					checkProposed(t, r, cmd, tc.caller)
				}
			case StepRead:
				resp, err := p.Answer(tc.caller, 0)
				if !isErr(err, tc.then) {
					t.Fatalf("Answer = %v, want %v", err, tc.then)
				}
				if err == nil && resp == nil {
					t.Fatal("Answer = nil, nil")
				}
			}
			if p.Step != StepWrite {
				if _, err := p.Propose(tc.caller); err == nil {
					t.Error("a plan that writes nothing proposed a command")
				}
			}
			if p.Step != StepRead {
				if _, err := p.Answer(tc.caller, 0); err == nil {
					t.Error("a plan that reads nothing answered a read")
				}
			}
		})
	}
}

// checkNoSpaceAlarm requires alarm to be member 1's own command raising
// NOSPACE for itself.
func checkNoSpaceAlarm(t *testing.T, alarm Envelope) {
	t.Helper()
	req, err := alarm.Request()
	a, ok := req.(*api.AlarmRequest)
	if err != nil || !ok || alarm.Who != WhoMember || *a != (api.AlarmRequest{Action: api.AlarmActivate, MemberID: 1, Alarm: api.AlarmNoSpace}) {
		t.Fatalf("the alarm to raise: %+v (%+v, %v)", alarm, req, err)
	}
}

// checkProposed requires cmd to carry the request the plan admitted, made
// by the caller while auth is on and by no user while it is off.
func checkProposed(t *testing.T, r *Replica, cmd Envelope, caller *auth.Identity) {
	t.Helper()
	if _, err := cmd.Request(); err != nil {
		t.Fatalf("the command proposed does not open: %v", err)
	}
	switch {
	case r.AuthOn() && caller != nil:
		if cmd.Who != WhoUser || cmd.User != *caller {
			t.Fatalf("proposed by %v %+v, want user %+v", cmd.Who, cmd.User, *caller)
		}
	case cmd.Who != WhoAnyone:
		t.Fatalf("proposed by %v %+v, want no user (auth on: %v)", cmd.Who, cmd.User, r.AuthOn())
	}
}

// A lease grant takes at least MinLeaseTTL; a read-only transaction is
// served as a read, a linearizable one unless all its reads are
// serializable.
func TestPlanShapes(t *testing.T) {
	r := openTestReplica(t)
	p := r.Plan(&api.LeaseGrantRequest{ID: 5, TTL: 1}, defaultLocal)
	if g, ok := p.Write.(*api.LeaseGrantRequest); p.Step != StepWrite || !ok || g.TTL != MinLeaseTTL || g.ID != 5 {
		t.Errorf("a grant of TTL 1: step %d, %+v", p.Step, p.Write)
	}
	serial := &api.RangeRequest{Key: []byte("k"), Serializable: true}
	for _, tc := range []struct {
		req          api.Message
		linearizable bool
	}{
		{&api.RangeRequest{Key: []byte("k")}, true},
		{serial, false},
		{&api.TxnRequest{Success: []api.RequestOp{{Range: serial}}}, false},
		{&api.TxnRequest{Compare: []api.Compare{{Key: []byte("k")}}}, true},
	} {
		p := r.Plan(tc.req, defaultLocal)
		if p.Step != StepRead || p.Read.Req != tc.req || p.Read.Linearizable != tc.linearizable {
			t.Errorf("%+v: step %d, read %+v; want a read, linearizable %v", tc.req, p.Step, p.Read, tc.linearizable)
		}
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

// QuotaCost is etcd 3.6's cost of a write (its BackendQuota): 256 bytes
// and the key and value of each put, in a transaction's larger branch,
// and 64 bytes a lease grant.
func TestQuotaCost(t *testing.T) {
	put := func(k, v string) api.RequestOp {
		return api.RequestOp{Put: &api.PutRequest{Key: []byte(k), Value: []byte(v)}}
	}
	del := api.RequestOp{DeleteRange: &api.DeleteRangeRequest{Key: []byte("k")}}
	for _, tt := range []struct {
		name string
		req  api.Message
		want int64
	}{
		{"put", put("key", "value").Put, 256 + 3 + 5},
		{"delete", del.DeleteRange, 0},
		{"grant", &api.LeaseGrantRequest{TTL: 5}, 64},
		{"range", &api.RangeRequest{Key: []byte("k")}, 0},
		{"txn, larger success", &api.TxnRequest{Success: []api.RequestOp{put("a", "1"), put("b", "22")}, Failure: []api.RequestOp{put("c", "333")}}, 256*2 + 2 + 3},
		{"txn, larger failure", &api.TxnRequest{Success: []api.RequestOp{del}, Failure: []api.RequestOp{put("c", "333")}}, 256 + 4},
		{"nested txn", &api.TxnRequest{Success: []api.RequestOp{put("a", "1"), {Txn: &api.TxnRequest{Failure: []api.RequestOp{put("b", "22")}}}}}, 256*2 + 2 + 3},
	} {
		if got := QuotaCost(tt.req); got != tt.want {
			t.Errorf("%s: %d, want %d", tt.name, got, tt.want)
		}
	}
}
