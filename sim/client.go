package sim

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/btreekv/mvcc"
	"github.com/cairndb/cairn/node"
	"github.com/cairndb/cairn/raftcore"
)

// kvInput is a client operation on one key.
type kvInput struct {
	op     string // "get", "put", "cas"
	key    string
	value  string // put: the value; cas: the new value
	expect string // cas: the value it requires
}

// kvOutput is what the client saw.
type kvOutput struct {
	value   string // get
	found   bool   // get
	ok      bool   // cas succeeded
	unknown bool   // timed out: may or may not have happened
}

// client issues one operation at a time, with a timeout.
type client struct {
	id      int
	seq     uint64
	pending *pendingOp
}

type pendingOp struct {
	reqID  uint64
	member uint64
	input  kvInput
	call   int64
	opIdx  int // in History.ops
}

// mvccNow reads at the current revision.
var mvccNow = mvcc.RangeOptions{}

// History records the client operations of a run.
type History struct {
	ops       []porcupine.Operation
	probe     uint64
	probeDone bool
}

func newHistory() *History { return &History{} }

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
	key := fmt.Sprintf("k%d", w.rng.IntN(w.cfg.Keys))
	c.seq++
	reqID := uint64(c.id+1)<<32 | c.seq
	in := kvInput{key: key}
	var ev node.Event
	switch w.rng.IntN(3) {
	case 0:
		in.op = "get"
		ev = node.EvRead{ReqID: reqID}
	case 1:
		in.op, in.value = "put", fmt.Sprintf("c%d-%d", c.id, c.seq)
		data, _ := node.EncodeRequest(&api.PutRequest{Key: []byte(key), Value: []byte(in.value)})
		ev = node.EvPropose{ReqID: reqID, Data: data}
	default:
		in.op, in.value = "cas", fmt.Sprintf("c%d-%d", c.id, c.seq)
		in.expect = w.casExpectation(key)
		data, _ := node.EncodeRequest(&api.TxnRequest{
			Compare: []api.Compare{{Key: []byte(key), Target: api.CompareValue, Result: api.CompareEqual, Value: []byte(in.expect)}},
			Success: []api.RequestOp{{Put: &api.PutRequest{Key: []byte(key), Value: []byte(in.value)}}},
		})
		ev = node.EvPropose{ReqID: reqID, Data: data}
	}
	h := w.history
	h.ops = append(h.ops, porcupine.Operation{ClientId: c.id, Input: in, Call: w.now})
	c.pending = &pendingOp{reqID: reqID, member: m.id, input: in, call: w.now, opIdx: len(h.ops) - 1}
	w.schedule(requestTimeout, evTimeout, uint64(c.id), raftcore.Message{Index: reqID})
	w.step(m, ev)
}

// casExpectation picks a value a CAS may expect: often the key's latest
// value as some member knows it, so that some of them succeed.
func (w *World) casExpectation(key string) string {
	for _, m := range w.members {
		if !m.up {
			continue
		}
		res, err := m.kv.Store().Range([]byte(key), nil, mvccNow)
		if err == nil && len(res.KVs) == 1 && w.rng.IntN(4) != 0 {
			return string(res.KVs[0].Value)
		}
	}
	return "none"
}

func (w *World) clientReply(m *member, r node.Reply) {
	if r.ReqID == w.history.probe && r.Err == nil {
		w.history.probeDone = true
		return
	}
	c := w.clientOf(r.ReqID)
	if c == nil || c.pending == nil || c.pending.reqID != r.ReqID {
		return // a reply after the client gave up
	}
	p := c.pending
	c.pending = nil
	op := &w.history.ops[p.opIdx]
	if r.Err != nil {
		// The request was refused before it was proposed (no leader,
		// dropped): it certainly did not happen.
		op.Input = nil
	} else {
		out := kvOutput{}
		switch p.input.op {
		case "get":
			res, err := m.kv.Store().Range([]byte(p.input.key), nil, mvccNow)
			if err != nil {
				op.Input = nil
				break
			}
			if len(res.KVs) == 1 {
				out.value, out.found = string(res.KVs[0].Value), true
			}
		case "put":
			if ar := r.Result.(node.ApplyResult); ar.Err != nil {
				op.Input = nil // rejected deterministically, no effect
			}
		case "cas":
			ar := r.Result.(node.ApplyResult)
			if ar.Err != nil {
				op.Input = nil
			} else {
				out.ok = ar.Resp.(*api.TxnResponse).Succeeded
			}
		}
		op.Output, op.Return = out, w.now
	}
	w.schedule(int64(1+w.rng.IntN(50)), evClient, uint64(c.id), raftcore.Message{})
}

func (w *World) clientTimeout(c *client, reqID uint64) {
	if c.pending == nil || c.pending.reqID != reqID {
		return
	}
	p := c.pending
	c.pending = nil
	op := &w.history.ops[p.opIdx]
	if p.input.op == "get" {
		op.Input = nil // a read that never returned changed nothing
	} else {
		// It may still happen, at any time from now on.
		op.Output, op.Return = kvOutput{unknown: true}, math.MaxInt64/2
	}
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

// kvModel is a register per key; an unknown outcome may or may not have
// happened, so the model is nondeterministic.
var kvModel = porcupine.NondeterministicModel{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[string][]porcupine.Operation{}
		var keys []string
		for _, op := range history {
			k := op.Input.(kvInput).key
			if _, ok := byKey[k]; !ok {
				keys = append(keys, k)
			}
			byKey[k] = append(byKey[k], op)
		}
		out := make([][]porcupine.Operation, 0, len(keys))
		for _, k := range keys {
			out = append(out, byKey[k])
		}
		return out
	},
	Init: func() []any { return []any{registerState{}} },
	Step: func(state, input, output any) []any {
		s, in, out := state.(registerState), input.(kvInput), output.(kvOutput)
		switch in.op {
		case "get":
			if out.found == s.set && (!out.found || out.value == s.value) {
				return []any{s}
			}
			return nil
		case "put":
			next := registerState{set: true, value: in.value}
			if out.unknown {
				return []any{s, next}
			}
			return []any{next}
		case "cas":
			holds := s.set && s.value == in.expect
			next := registerState{set: true, value: in.value}
			switch {
			case out.unknown && holds:
				return []any{s, next}
			case out.unknown:
				return []any{s}
			case out.ok && holds:
				return []any{next}
			case !out.ok && !holds:
				return []any{s}
			}
			return nil
		}
		return nil
	},
	DescribeOperation: func(input, output any) string {
		in, out := input.(kvInput), output.(kvOutput)
		switch {
		case out.unknown:
			return fmt.Sprintf("%s(%s, %s) -> ?", in.op, in.key, in.value)
		case in.op == "get":
			return fmt.Sprintf("get(%s) -> %q found=%v", in.key, out.value, out.found)
		case in.op == "cas":
			return fmt.Sprintf("cas(%s, %q -> %q) -> %v", in.key, in.expect, in.value, out.ok)
		}
		return fmt.Sprintf("put(%s, %q)", in.key, in.value)
	},
}

type registerState struct {
	set   bool
	value string
}

// checkLinearizable runs porcupine over the client history; on failure it
// writes the visualization to a file named in the error.
func (w *World) checkLinearizable() error {
	var ops []porcupine.Operation
	for _, op := range w.history.ops {
		if op.Input == nil || op.Output == nil {
			continue
		}
		ops = append(ops, op)
	}
	model := kvModel.ToModel()
	res, info := porcupine.CheckOperationsVerbose(model, ops, 30*time.Second)
	switch res {
	case porcupine.Ok:
		return nil
	case porcupine.Unknown:
		return fmt.Errorf("linearizability check timed out on %d operations", len(ops))
	}
	path := filepath.Join(os.TempDir(), fmt.Sprintf("cairn-sim-seed-%d.html", w.cfg.Seed))
	if err := porcupine.VisualizePath(model, info, path); err != nil {
		return fmt.Errorf("history of %d operations is not linearizable (visualization failed: %v)", len(ops), err)
	}
	return fmt.Errorf("history of %d operations is not linearizable; see %s", len(ops), path)
}

// Operations returns how many client operations the run completed.
func (w *World) Operations() int {
	n := 0
	for _, op := range w.history.ops {
		if op.Input != nil && op.Output != nil {
			n++
		}
	}
	return n
}
