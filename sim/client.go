package sim

import (
	"errors"
	"fmt"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/linearizability"
	"github.com/cairndb/cairn/node/replica"
	"github.com/cairndb/cairn/raftcore"
)

// client issues one operation at a time, with a timeout, and records each
// in the world's linearizability.Recorder.
type client struct {
	id      int
	seq     uint64
	pending *pendingOp
	// final clients only read, once per key, after the faults healed.
	final bool
	// returned says the client's last operation returned a response.
	returned bool
	// tokenRev is the auth revision of a token client's token (auth.go);
	// reauth says a request was refused for it being old.
	tokenRev uint64
	reauth   bool
}

// pendingOp is the operation a client is waiting for.
type pendingOp struct {
	reqID  uint64
	member uint64
	req    api.RequestOp
	op     linearizability.OpID
	// plan is the member's plan of the request, if it is a read (serve):
	// once its barrier passed, the member answers it (Plan.Answer).
	plan   *replica.Plan
	isRead bool
	// resp and how are the answer, once the member gave it; the client
	// sees it when it arrives (evReply).
	resp     api.ResponseOp
	how      outcome
	answered bool
}

// outcome is how an operation ended for its client.
type outcome uint8

const (
	returned  outcome = iota // with a response
	unknown                  // the client cannot tell whether it happened
	discarded                // certainly did not happen
)

// clientLatency is the one-way latency between a client and a member.
func (w *World) clientLatency() int64 { return 1 + int64(w.rng.IntN(3)) }

// requestOf builds a random request: on one of the single keys, or (one
// time in three) on the group of accounts.
func (w *World) requestOf(c *client) api.RequestOp {
	value := fmt.Sprintf("c%d-%d", c.id, c.seq)
	if w.rng.IntN(3) == 0 {
		return w.groupRequest(value)
	}
	return w.singleKeyRequest([]byte(fmt.Sprintf("k%d", w.rng.IntN(w.cfg.Keys))), []byte(value))
}

// messageOf is the request inside req.
func messageOf(req api.RequestOp) api.Message {
	switch {
	case req.Range != nil:
		return req.Range
	case req.Put != nil:
		return req.Put
	case req.DeleteRange != nil:
		return req.DeleteRange
	}
	return req.Txn
}

// limits are the bounds on a client's request, the server's defaults.
var limits = replica.Limits{MaxTxnOps: replica.DefaultMaxTxnOps, MaxRequestBytes: replica.DefaultMaxRequestBytes}

// errRefused marks a request a member refused as it planned it
// (Replica.Plan, Plan.Propose): it certainly did not happen.
var errRefused = errors.New("sim: refused before it was proposed")

// local is what member m's shell knows of it for Replica.Plan: the
// server's default limits, the store quota and the size of m's store
// (space.go), and why its core serves no read now (a member repairing
// lost data).
func (w *World) local(m *member) replica.Local {
	return replica.Local{Limits: limits, QuotaBytes: w.space.quota, DBSize: m.storeSize(), ReadRefusal: m.readRefusal}
}

// readRefusal says why member m serves no read now (nil: it may), as the
// server's does: its core's (a member repairing lost data), or no peer
// confirmed it since it restarted (confirm.go).
func (m *member) readRefusal() error {
	if err := m.core.Repair().ReadRefusal; err != nil {
		return err
	}
	return m.peerRefusal()
}

// serve serves a request (reqID) of a client or a lease holder at member m
// as the server's services do (node.Server.servePlan): the member plans it
// (Replica.Plan); a write is proposed as its caller makes it
// (Plan.Propose), its reply coming back through the core; a read, if
// linearizable, waits for the core's ReadIndex round (Read.Barrier), and
// is answered when the core replies (readResponse). A refusal is answered
// at once.
func (w *World) serve(m *member, reqID uint64, req api.Message) {
	if m.state != stateUp {
		return // lost: the client times out
	}
	p := m.replica.Plan(req, w.local(m))
	var cmd replica.Envelope
	err := p.Err // StepRefuse, StepRaiseNoSpace
	switch p.Step {
	case replica.StepRaiseNoSpace:
		w.raiseNoSpace(m, p.Alarm)
	case replica.StepRead:
		w.serveRead(m, reqID, p)
		return
	case replica.StepWrite:
		cmd, err = p.Propose(w.callerOf(reqID))
	}
	if err != nil {
		if errors.Is(err, api.ErrNoSpace) {
			w.obs.cov.NoSpaceRefused++
		}
		m.cost = 0 // answered by the service, before the core
		w.clientReply(m, replica.Reply{ReqID: reqID, Err: fmt.Errorf("%w: %w", errRefused, err)})
		return
	}
	w.step(m, replica.EvPropose{ReqID: reqID, Cmd: cmd})
}

// serveRead starts a client's read at member m, as planned (p): the
// member answers it once the core's ReadIndex round passed, or at once if
// it needs none.
func (w *World) serveRead(m *member, reqID uint64, p replica.Plan) {
	if c := w.clientOf(reqID); c != nil && c.pending != nil && c.pending.reqID == reqID {
		c.pending.plan = &p
	}
	if w.cfg.Mutation == StaleReads {
		p.Read.Linearizable = false // the bug on purpose: no read barrier
	}
	if !p.Read.Linearizable {
		m.cost = 0
		w.clientReply(m, replica.Reply{ReqID: reqID})
		return
	}
	w.step(m, p.Read.Barrier(reqID))
}

// submit has member m take req, a request the simulator makes itself as
// root — a compaction, the rot fault's put, the operator's disarm, the
// liveness probe — through the same entry as a client's (Replica.Plan,
// Plan.Propose), proposed as reqID. It returns why m refused it, if it
// did (a compaction while CORRUPT is raised).
func (w *World) submit(m *member, reqID uint64, req api.Message) error {
	p := m.replica.Plan(req, w.local(m))
	if p.Step != replica.StepWrite {
		return fmt.Errorf("%T planned as step %d: %w", req, p.Step, p.Err)
	}
	cmd, err := p.Propose(&root)
	if err != nil {
		return err
	}
	w.step(m, replica.EvPropose{ReqID: reqID, Cmd: cmd})
	return nil
}

// singleKeyRequest builds a random request on key.
func (w *World) singleKeyRequest(key, value []byte) api.RequestOp {
	var req api.RequestOp
	switch w.rng.IntN(7) {
	case 0, 1:
		req.Range = &api.RangeRequest{Key: key}
		return req
	case 2, 3:
		req.Put = &api.PutRequest{Key: key, Value: value}
		return req
	case 4:
		req.DeleteRange = &api.DeleteRangeRequest{Key: key}
		return req
	}
	txn := &api.TxnRequest{
		Compare: []api.Compare{{Key: key, Target: api.CompareValue, Result: api.CompareEqual, Value: w.casExpectation(key)}},
		Success: []api.RequestOp{{Put: &api.PutRequest{Key: key, Value: value}}},
	}
	if w.rng.IntN(2) == 0 {
		txn.Failure = []api.RequestOp{{Range: &api.RangeRequest{Key: key}}}
	}
	req.Txn = txn
	return req
}

func (w *World) clientIssue(c *client) {
	if w.healed {
		return
	}
	m := w.pickUp(false)
	if m == nil {
		w.schedule(50, event{kind: evClient, who: uint64(c.id)})
		return
	}
	c.seq++
	reqID := uint64(c.id+1)<<32 | c.seq
	w.authenticate(c, m)
	req := w.requestOf(c)
	w.call(c, m, reqID, req)
}

// call sends a request to member m's services (serve) and starts its
// timeout.
func (w *World) call(c *client, m *member, reqID uint64, req api.RequestOp) {
	msg := messageOf(req)
	c.pending = &pendingOp{reqID: reqID, member: m.id, req: req, op: w.rec.Call(c.id, req), isRead: replica.IsRead(msg)}
	w.observeCall(c, m, reqID)
	w.schedule(requestTimeout, event{kind: evTimeout, who: uint64(c.id), arg: reqID})
	w.schedule(w.clientLatency(), event{kind: evRequest, who: m.id, arg: reqID, req: msg})
}

// casExpectation picks a value a compare-and-swap may expect: often the
// key's latest value as some member knows it, so that some succeed.
func (w *World) casExpectation(key []byte) []byte {
	for _, m := range w.members {
		if m.state != stateUp {
			continue
		}
		res, err := m.sm.kv.Store().Range(key, nil, mvccNow)
		if err == nil && len(res.KVs) == 1 && w.rng.IntN(4) != 0 {
			return res.KVs[0].Value
		}
	}
	return []byte("none")
}

// clientReply handles a member's answer to a request: the member serves
// it now, the client hears of it after the member's fsyncs and the
// network.
func (w *World) clientReply(m *member, r replica.Reply) {
	switch {
	case r.ReqID == probeReqID:
		w.probeDone = w.probeDone || r.Err == nil
		return
	case r.ReqID&(confReqBase|compactReqBase|expiryReqBase) != 0:
		return // the nemesis learns of its changes as they commit
	case r.ReqID&leaseReqBase != 0:
		w.holderReply(m, r)
		return
	case r.ReqID&authReqBase != 0:
		w.adminReply(r)
		return
	case r.ReqID&corruptReqBase != 0:
		return // the corruption check's alarms, the rot's put, the operator's disarms
	case r.ReqID&spaceReqBase != 0:
		return // NOSPACE alarms, the space operator's compactions and disarms
	}
	c := w.clientOf(r.ReqID)
	if c == nil || c.pending == nil || c.pending.reqID != r.ReqID || c.pending.answered {
		return // a reply after the client gave up
	}
	p := c.pending
	p.resp, p.how = w.response(m, p, r)
	p.answered = true
	w.schedule(m.cost+w.clientLatency(), event{kind: evReply, who: uint64(c.id), arg: r.ReqID})
}

// clientHears delivers an answer to its client.
func (w *World) clientHears(c *client, reqID uint64) {
	p := c.pending
	if p == nil || p.reqID != reqID {
		return // the client gave up first
	}
	c.pending = nil
	c.returned = p.how == returned
	w.finish(p, p.resp, p.how)
	w.next(c)
}

// next schedules a client's next operation.
func (w *World) next(c *client) {
	if !c.final {
		w.schedule(int64(1+w.rng.IntN(50)), event{kind: evClient, who: uint64(c.id)})
	}
}

// response turns a member's reply into the client's view of it.
func (w *World) response(m *member, p *pendingOp, r replica.Reply) (api.ResponseOp, outcome) {
	var resp api.ResponseOp
	if r.Err != nil {
		// Refused before it was proposed: it did not happen. Any other
		// error (the member stopped with the request in flight) leaves
		// the outcome open.
		if errors.Is(r.Err, errRefused) || errors.Is(r.Err, replica.ErrNoLeader) || errors.Is(r.Err, raftcore.ErrProposalDropped) || p.isRead {
			return resp, discarded
		}
		return resp, unknown
	}
	if p.isRead {
		return w.readResponse(m, p)
	}
	if _, ok := r.Result.(replica.ApplyResult); !ok {
		w.fail("reply to request %x holds %T, want replica.ApplyResult", r.ReqID, r.Result)
		return resp, unknown
	}
	applied, err := replica.Response(r.Result)
	if err != nil {
		w.noteRefusal(r.ReqID, err)
		return resp, discarded // rejected deterministically: no effect
	}
	switch msg := applied.(type) {
	case *api.PutResponse:
		resp.Put = msg
	case *api.DeleteRangeResponse:
		resp.DeleteRange = msg
	case *api.TxnResponse:
		resp.Txn = msg
	default:
		w.fail("request %x answered with %T", r.ReqID, applied)
		return resp, unknown
	}
	return resp, returned
}

// readResponse answers a read whose barrier passed (or that needs none)
// as planned (Plan.Answer: the caller's permission checked, then the
// member's store read); the answer's auth check is judged by the model
// (judgeRead).
func (w *World) readResponse(m *member, p *pendingOp) (api.ResponseOp, outcome) {
	var resp api.ResponseOp
	if p.plan == nil {
		w.fail("read %x answered before it was planned", p.reqID)
		return resp, discarded
	}
	caller := w.callerOf(p.reqID)
	if w.cfg.Mutation == NoReadAuth && caller != nil {
		caller = &root // the bug on purpose: no permission check
	}
	served, err := p.plan.Answer(caller, 0)
	w.judgeRead(m, p, err)
	if err != nil {
		return resp, discarded // refused, or failed: a read changes nothing
	}
	switch msg := served.(type) {
	case *api.RangeResponse:
		resp.Range = msg
	case *api.TxnResponse:
		resp.Txn = msg
	default:
		w.fail("read %x answered with %T", p.reqID, served)
		return resp, unknown
	}
	return resp, returned
}

// finish records the end of a client's operation.
func (w *World) finish(p *pendingOp, resp api.ResponseOp, how outcome) {
	var err error
	switch how {
	case returned:
		err = w.rec.Return(p.op, resp)
	case unknown:
		err = w.rec.Unknown(p.op)
	case discarded:
		err = w.rec.Discard(p.op)
	}
	if err != nil {
		w.fail("record: %v", err)
	}
	w.observeFinish(p, how)
	if how == returned {
		w.completed++
	}
}

func (w *World) clientTimeout(c *client, reqID uint64) {
	if c.pending == nil || c.pending.reqID != reqID {
		return
	}
	p := c.pending
	c.pending, c.returned = nil, false
	how := unknown // a write may still happen, at any time from now on
	if p.isRead {
		how = discarded // a read that never returned changed nothing
	}
	w.finish(p, api.ResponseOp{}, how)
	if m := w.member(p.member); m.state == stateUp {
		w.step(m, replica.EvCancel{ReqID: reqID})
	}
	w.next(c)
}

func (w *World) clientOf(reqID uint64) *client {
	i := int(reqID>>32) - 1
	if i < 0 || i >= len(w.clients) {
		return nil
	}
	return w.clients[i]
}

// finalReads reads every key once more after the cluster healed and
// settled, through the same linearizable path, so that the checker sees
// the final value of every key: a lost write shows as a final read that
// misses it.
func (w *World) finalReads() error {
	c := &client{id: len(w.clients), final: true}
	w.clients = append(w.clients, c)
	var reads []*api.RangeRequest
	for g := range groups {
		reads = append(reads, groupRange(g))
	}
	for k := 0; k < w.cfg.Keys; k++ {
		reads = append(reads, &api.RangeRequest{Key: []byte(fmt.Sprintf("k%d", k))})
	}
	for _, read := range reads {
		done := false
		for attempt := 0; attempt < 20 && !done && w.fatal == nil; attempt++ {
			m := w.pickUp(false)
			if m == nil || !w.conf.isVoter(m.id) && !w.conf.isLearner(m.id) {
				w.runUntil(w.now + 100)
				continue
			}
			c.seq++
			reqID := uint64(c.id+1)<<32 | c.seq
			req := api.RequestOp{Range: read}
			w.call(c, m, reqID, req)
			for c.pending != nil && w.fatal == nil {
				w.runUntil(w.now + 10)
			}
			done = c.returned
		}
		if !done && w.fatal == nil {
			return fmt.Errorf("final read of [%q, %q): no member answered in 20 attempts; members: %s", read.Key, read.RangeEnd, w.describeMembers())
		}
	}
	return nil
}

// checkLinearizable runs porcupine over the client history, one single
// key or group of keys at a time; on failure the error names the file
// holding the visualization.
func (w *World) checkLinearizable() error {
	return linearizability.Check(w.rec.Operations(), linearizability.GroupedKVModel(groupSep), checkTimeout, w.cfg.VizDir)
}

// Operations returns how many client operations completed with a response.
func (w *World) Operations() int { return w.completed }
