package replica

import (
	"fmt"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/auth"
	"github.com/cairndb/cairn/btreekv/mvcc"
)

// The deterministic half of a member's client services: what a member does
// with a client's KV or lease request, in which order, and what it answers.
// Replica.Plan is the one entry: the server's services (package node) and
// the simulator's clients, lease holders and compactions all start there,
// and carry the Plan out each on its own time — the server with its
// goroutines, deadlines, metrics and logs, the simulator on virtual time.
// What needs the world stays with them: finding the caller from its token
// or certificate, measuring the store's file, waiting for the driver.
//
// The order a request takes:
//
//  1. admission, without the caller: a put or a delete names a key, a
//     transaction is well formed, a grant's TTL and id are in bounds, and
//     nothing that grows the store is taken while NOSPACE is raised
//     (admitWrite); a read names a key, is refused while the member may
//     serve none, and while CORRUPT is raised (admitRead);
//  2. the quota: a write that grows the store past its quota raises the
//     NOSPACE alarm instead (StepRaiseNoSpace);
//  3. a write is made a command as its caller makes it — refused while
//     CORRUPT is raised, or past MaxRequestBytes — and proposed
//     (Plan.Propose); its answer is the applied result (Response);
//  4. a read waits for a ReadIndex round if it is linearizable
//     (Read.Barrier), then is checked against its caller's permissions
//     and served from the store (Plan.Answer): the check comes after the
//     wait, so that a permission revoked a moment ago is seen.

// Limits bound a client's request: the server's --max-txn-ops and
// --max-request-bytes.
type Limits struct {
	MaxTxnOps       int
	MaxRequestBytes int
}

// The default limits, etcd's.
const (
	DefaultMaxTxnOps       = 128
	DefaultMaxRequestBytes = 1536 << 10 // 1.5 MiB
)

// Local is what a member's shell knows of its member beside the replicated
// state, for Replica.Plan.
type Local struct {
	Limits
	// QuotaBytes is --quota-backend-bytes: a write that grows the store
	// raises the NOSPACE alarm when DBSize and its cost (QuotaCost) would
	// reach it (0: no quota).
	QuotaBytes int64
	// DBSize is the store's file size as last measured.
	DBSize int64
	// ReadRefusal, if not nil, says why the member serves no read now,
	// as its shell knows it: it lost data and is not repaired yet, or no
	// peer confirmed its identity yet (nil: it may serve reads). Only a
	// read asks it.
	ReadRefusal func() error
}

// Step is what a Plan has the member do.
type Step uint8

const (
	// StepRefuse answers Plan.Err at once: nothing was proposed or read.
	StepRefuse Step = iota
	// StepRaiseNoSpace proposes Plan.Alarm, the member's own command
	// raising NOSPACE, then answers Plan.Err (api.ErrNoSpace) whatever
	// became of it.
	StepRaiseNoSpace
	// StepRead passes Plan.Read's barrier if it is linearizable, then
	// answers with Plan.Answer.
	StepRead
	// StepWrite proposes Plan.Propose's command and answers with the
	// Response to its result.
	StepWrite
)

// Plan is what a member does for a client's request (Replica.Plan).
type Plan struct {
	Step Step
	// Err is the answer of StepRefuse and StepRaiseNoSpace.
	Err error
	// Alarm is StepRaiseNoSpace's command, sealed.
	Alarm Envelope
	// Read is StepRead's read.
	Read Read
	// Write is StepWrite's request, admitted (a lease grant with its TTL
	// raised to the member's minimum, Config.MinLeaseTTL).
	Write api.Message

	r   *Replica
	lim Limits
}

// Plan decides what the member does for req, a client's KV or lease
// request (Range, Put, DeleteRange, Txn, Compaction, LeaseGrant,
// LeaseRevoke, or an alarm change), given what its shell knows (loc): the
// first two steps of the order above, and the plan for the rest.
func (r *Replica) Plan(req api.Message, loc Local) Plan {
	p := Plan{r: r, lim: loc.Limits}
	if IsRead(req) {
		rd, err := r.admitRead(req, loc.Limits, loc.ReadRefusal)
		if err != nil {
			return p.refuse(err)
		}
		p.Step, p.Read = StepRead, rd
		return p
	}
	grows, err := r.admitWrite(req, loc.Limits)
	if err != nil {
		return p.refuse(err)
	}
	if grows && loc.QuotaBytes > 0 && loc.DBSize+QuotaCost(req) >= loc.QuotaBytes {
		return r.raiseNoSpace(p)
	}
	if g, ok := req.(*api.LeaseGrantRequest); ok && g.TTL < r.minTTL() {
		grant := *g
		grant.TTL = r.minTTL()
		req = &grant
	}
	p.Step, p.Write = StepWrite, req
	return p
}

func (p Plan) refuse(err error) Plan {
	p.Step, p.Err = StepRefuse, err
	return p
}

// raiseNoSpace is the plan of a write that would grow a store past its
// quota: raise the NOSPACE alarm (the member's own command), and refuse
// the write (and every write that grows the store, while the alarm is
// raised: admitWrite).
func (r *Replica) raiseNoSpace(p Plan) Plan {
	alarm, err := Internal(&api.AlarmRequest{Action: api.AlarmActivate, MemberID: r.ID, Alarm: api.AlarmNoSpace})
	if err == nil {
		alarm, err = Seal(alarm, nil, p.lim)
	}
	if err != nil {
		return p.refuse(fmt.Errorf("raise the NOSPACE alarm: %w", err))
	}
	p.Step, p.Err, p.Alarm = StepRaiseNoSpace, api.ErrNoSpace, alarm
	return p
}

// Propose is the command StepWrite proposes, as caller makes it (nil: no
// user): refused while the CORRUPT alarm is raised, if it is a KV or lease
// write, and past MaxRequestBytes (Seal). While this member sees auth
// off, the command names no user whoever the caller is; if auth is on by
// the time it applies, it is refused then.
func (p Plan) Propose(caller *auth.Identity) (Envelope, error) {
	if p.Step != StepWrite {
		return Envelope{}, fmt.Errorf("replica: a plan of step %d proposes nothing", p.Step)
	}
	switch p.Write.(type) {
	case *api.PutRequest, *api.DeleteRangeRequest, *api.TxnRequest,
		*api.CompactionRequest, *api.LeaseGrantRequest, *api.LeaseRevokeRequest:
		if p.r.State.HasAlarm(api.AlarmCorrupt) {
			return Envelope{}, ErrCorruptAlarm
		}
	}
	cmd, err := NewCommand(p.Write)
	if err != nil {
		return Envelope{}, err
	}
	if !p.r.State.Auth().Enabled() {
		caller = nil
	}
	return Seal(cmd, caller, p.lim)
}

// Answer is StepRead's answer once its barrier passed (if it has one):
// the caller's permission (nil: no user) checked against the auth state
// now (AuthorizeRead), then the read served from the member's store, its
// answer at most maxBytes (0: no bound). The response's header holds the
// store revision the read saw; the server fills in its ids and term.
func (p Plan) Answer(caller *auth.Identity, maxBytes int64) (api.Message, error) {
	if p.Step != StepRead {
		return nil, fmt.Errorf("replica: a plan of step %d reads nothing", p.Step)
	}
	if err := p.r.AuthorizeRead(p.Read.Req, caller); err != nil {
		return nil, err
	}
	return p.r.serveRead(p.Read, maxBytes)
}

// admitWrite checks a client's write request before anything else, and
// reports whether it grows the store:
//
//   - a put or a delete names a key;
//   - a transaction is well formed, with at most MaxTxnOps operations a
//     branch (mvcc.CheckTxn);
//   - a lease grant's TTL is at most MaxLeaseTTL, its id not negative;
//   - while the NOSPACE alarm is raised, nothing that grows the store is
//     taken: a put, a transaction that puts, a lease grant.
func (r *Replica) admitWrite(req api.Message, lim Limits) (grows bool, err error) {
	switch req := req.(type) {
	case *api.PutRequest:
		if len(req.Key) == 0 {
			return false, api.ErrEmptyKey
		}
		grows = true
	case *api.DeleteRangeRequest:
		if len(req.Key) == 0 {
			return false, api.ErrEmptyKey
		}
	case *api.TxnRequest:
		if err := mvcc.CheckTxn(req, lim.MaxTxnOps); err != nil {
			return false, err
		}
		grows = TxnPuts(req)
	case *api.LeaseGrantRequest:
		if req.TTL > MaxLeaseTTL {
			return false, api.ErrLeaseTTLTooLarge
		}
		if req.ID < 0 {
			return false, api.Errorf(api.CodeInvalidArgument, "lease id %d is negative", req.ID)
		}
		grows = true
	}
	if grows && r.State.HasAlarm(api.AlarmNoSpace) {
		return false, api.ErrNoSpace
	}
	return grows, nil
}

// IsRead reports whether req is served as a read: a Range, or a
// transaction that neither puts nor deletes in any branch.
func IsRead(req api.Message) bool {
	switch req := req.(type) {
	case *api.RangeRequest:
		return true
	case *api.TxnRequest:
		return mvcc.TxnReadOnly(req)
	}
	return false
}

// The quota costs of etcd 3.6 (its BackendQuota): what a put or a lease
// grant is taken to add to the store.
const (
	quotaKVOverhead    = 256
	quotaLeaseOverhead = 64
)

// QuotaCost is what req is taken to add to the store, as etcd 3.6
// reckons it: a put its key and value and 256 bytes; a transaction the
// larger of its branches' (a nested transaction counts as the larger of
// its own branches, where etcd counts nothing of it); a lease grant 64
// bytes. A write is refused with NOSPACE when the store's size and its
// cost would reach the quota, so the write that would cross the quota is
// refused, not taken.
func QuotaCost(req api.Message) int64 {
	switch req := req.(type) {
	case *api.PutRequest:
		return quotaKVOverhead + int64(len(req.Key)+len(req.Value))
	case *api.TxnRequest:
		return max(branchCost(req.Success), branchCost(req.Failure))
	case *api.LeaseGrantRequest:
		return quotaLeaseOverhead
	}
	return 0
}

func branchCost(ops []api.RequestOp) int64 {
	var cost int64
	for _, op := range ops {
		switch {
		case op.Put != nil:
			cost += QuotaCost(op.Put)
		case op.Txn != nil:
			cost += QuotaCost(op.Txn)
		}
	}
	return cost
}

// TxnPuts reports whether any branch of a transaction puts a key (the
// writes refused while NOSPACE is raised; deletes stay allowed).
func TxnPuts(req *api.TxnRequest) bool {
	for m := range req.Ops() {
		if _, ok := m.(*api.PutRequest); ok {
			return true
		}
	}
	return false
}

// Seal is cmd as caller makes it (nil: no user, or the member's own
// command), refused past MaxRequestBytes: every command a client makes
// passes here.
func Seal(cmd Envelope, caller *auth.Identity, lim Limits) (Envelope, error) {
	if caller != nil {
		cmd = cmd.By(*caller)
	}
	if size := cmd.Size(); size > lim.MaxRequestBytes {
		return Envelope{}, api.Errorf(api.CodeRequestTooLarge, "request of %d bytes is larger than --max-request-bytes %d", size, lim.MaxRequestBytes)
	}
	return cmd, nil
}

// ErrCorruptAlarm refuses the KV and lease requests while the CORRUPT
// alarm is raised.
var ErrCorruptAlarm = api.Errorf(api.CodeCorrupt, "%v: the CORRUPT alarm is raised (a member's data differ from the others'); see ctl alarm list, replace that member, then ctl alarm disarm", api.ErrCorrupt)

// Response is the response to a write from the result its command's Reply
// carried (an ApplyResult): the store's response, or the error the
// request failed with, the same on every member.
func Response(result any) (api.Message, error) {
	r, ok := result.(ApplyResult)
	if !ok {
		return nil, fmt.Errorf("node: unexpected apply result %T", result)
	}
	if r.Err != nil {
		return nil, r.Err
	}
	return r.Resp, nil
}
