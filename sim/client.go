package sim

import (
	"errors"
	"fmt"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/linearizability"
	"github.com/cairndb/cairn/node"
	"github.com/cairndb/cairn/raftcore"
)

// client issues one operation at a time, with a timeout, and records each
// in the world's linearizability.Recorder.
type client struct {
	id      int
	seq     uint64
	pending *pendingOp
}

// pendingOp is the operation a client is waiting for.
type pendingOp struct {
	reqID  uint64
	member uint64
	req    api.RequestOp
	op     linearizability.OpID
}

// probeReqID is the request id of the liveness probe (no client has it).
const probeReqID = 1 << 62

func (w *World) clientIssue(c *client) {
	if w.healed {
		return
	}
	var up []*member
	for _, m := range w.members {
		if m.up {
			up = append(up, m)
		}
	}
	if len(up) == 0 {
		w.schedule(50, evClient, uint64(c.id), raftcore.Message{})
		return
	}
	m := up[w.rng.IntN(len(up))]
	key := []byte(fmt.Sprintf("k%d", w.rng.IntN(w.cfg.Keys)))
	c.seq++
	reqID := uint64(c.id+1)<<32 | c.seq
	value := []byte(fmt.Sprintf("c%d-%d", c.id, c.seq))
	var req api.RequestOp
	var ev node.Event
	propose := func(msg api.Message) {
		data, err := node.EncodeRequest(msg)
		if err != nil {
			panic(fmt.Sprintf("sim: encode %T: %v", msg, err))
		}
		ev = node.EvPropose{ReqID: reqID, Data: data}
	}
	switch w.rng.IntN(7) {
	case 0, 1:
		req.Range = &api.RangeRequest{Key: key}
		ev = node.EvRead{ReqID: reqID}
	case 2, 3:
		req.Put = &api.PutRequest{Key: key, Value: value}
		propose(req.Put)
	case 4:
		req.DeleteRange = &api.DeleteRangeRequest{Key: key}
		propose(req.DeleteRange)
	default:
		txn := &api.TxnRequest{
			Compare: []api.Compare{{Key: key, Target: api.CompareValue, Result: api.CompareEqual, Value: w.casExpectation(key)}},
			Success: []api.RequestOp{{Put: &api.PutRequest{Key: key, Value: value}}},
		}
		if w.rng.IntN(2) == 0 {
			txn.Failure = []api.RequestOp{{Range: &api.RangeRequest{Key: key}}}
		}
		req.Txn = txn
		propose(txn)
	}
	c.pending = &pendingOp{reqID: reqID, member: m.id, req: req, op: w.rec.Call(c.id, req)}
	if req.Range != nil && w.cfg.Mutation == StaleReads {
		// The bug on purpose: no read barrier, the local store answers.
		w.clientReply(m, node.Reply{ReqID: reqID})
		return
	}
	w.schedule(requestTimeout, evTimeout, uint64(c.id), raftcore.Message{Index: reqID})
	w.step(m, ev)
}

// casExpectation picks a value a compare-and-swap may expect: often the
// key's latest value as some member knows it, so that some succeed.
func (w *World) casExpectation(key []byte) []byte {
	for _, m := range w.members {
		if !m.up {
			continue
		}
		res, err := m.kv.Store().Range(key, nil, mvccNow)
		if err == nil && len(res.KVs) == 1 && w.rng.IntN(4) != 0 {
			return res.KVs[0].Value
		}
	}
	return []byte("none")
}

// clientReply handles a member's answer to a request.
func (w *World) clientReply(m *member, r node.Reply) {
	if r.ReqID == probeReqID {
		w.probeDone = w.probeDone || r.Err == nil
		return
	}
	c := w.clientOf(r.ReqID)
	if c == nil || c.pending == nil || c.pending.reqID != r.ReqID {
		return // a reply after the client gave up
	}
	p := c.pending
	c.pending = nil
	resp, how := w.response(m, p, r)
	w.finish(p, resp, how)
	w.schedule(int64(1+w.rng.IntN(50)), evClient, uint64(c.id), raftcore.Message{})
}

// outcome is how an operation ended for its client.
type outcome uint8

const (
	returned  outcome = iota // with a response
	unknown                  // the client cannot tell whether it happened
	discarded                // certainly did not happen
)

// response turns a member's reply into the client's view of it.
func (w *World) response(m *member, p *pendingOp, r node.Reply) (api.ResponseOp, outcome) {
	var resp api.ResponseOp
	if r.Err != nil {
		// Refused before it was proposed: it did not happen. Any other
		// error (the member stopped with the request in flight) leaves
		// the outcome open.
		if errors.Is(r.Err, node.ErrNoLeader) || errors.Is(r.Err, raftcore.ErrProposalDropped) || p.req.Range != nil {
			return resp, discarded
		}
		return resp, unknown
	}
	if p.req.Range != nil {
		// The read barrier passed: serve the read from the local store.
		rr, err := m.kv.Store().RangeRequest(p.req.Range)
		if err != nil {
			return resp, discarded
		}
		resp.Range = rr
		return resp, returned
	}
	ar, ok := r.Result.(node.ApplyResult)
	if !ok {
		panic(fmt.Sprintf("sim: reply to request %d holds %T, want node.ApplyResult", r.ReqID, r.Result))
	}
	if ar.Err != nil {
		return resp, discarded // rejected deterministically: no effect
	}
	switch msg := ar.Resp.(type) {
	case *api.PutResponse:
		resp.Put = msg
	case *api.DeleteRangeResponse:
		resp.DeleteRange = msg
	case *api.TxnResponse:
		resp.Txn = msg
	default:
		panic(fmt.Sprintf("sim: request %d answered with %T", r.ReqID, ar.Resp))
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
		panic(fmt.Sprintf("sim: %v", err))
	}
	if how == returned {
		w.completed++
	}
}

func (w *World) clientTimeout(c *client, reqID uint64) {
	if c.pending == nil || c.pending.reqID != reqID {
		return
	}
	p := c.pending
	c.pending = nil
	how := unknown // a write may still happen, at any time from now on
	if p.req.Range != nil {
		how = discarded // a read that never returned changed nothing
	}
	w.finish(p, api.ResponseOp{}, how)
	if m := w.member(p.member); m.up {
		w.step(m, node.EvCancel{ReqID: reqID})
	}
	w.schedule(int64(1+w.rng.IntN(50)), evClient, uint64(c.id), raftcore.Message{})
}

func (w *World) clientOf(reqID uint64) *client {
	i := int(reqID>>32) - 1
	if i < 0 || i >= len(w.clients) {
		return nil
	}
	return w.clients[i]
}

// checkLinearizable runs porcupine over the client history; on failure
// the error names the file holding the visualization.
func (w *World) checkLinearizable() error {
	return linearizability.Check(w.rec.Operations(), linearizability.KVModel(), checkTimeout, w.cfg.VizDir)
}

// Operations returns how many client operations completed with a response.
func (w *World) Operations() int { return w.completed }
