package linearizability

import (
	"bytes"
	"errors"
	"fmt"
	"slices"

	"github.com/anishathalye/porcupine"

	"github.com/cairndb/cairn/api"
)

// Model is a porcupine model together with a check of the operations it
// can judge. In a history checked against one of this package's models,
// every operation's Input is an api.RequestOp and its Output an Outcome.
type Model struct {
	porcupine.Model
	// Validate reports why op cannot be checked against the model; Check
	// runs it on every operation first. Nil accepts everything.
	Validate func(op porcupine.Operation) error
}

// KVModel returns the model of single-key operations, checked one key at
// a time (porcupine partitions the history by key). Every operation names
// exactly one key: Range of one key (a get), Put, DeleteRange of one key,
// and Txn whose compares and operations all name that key (compare-and-swap:
// if value(k) == v, or mod_revision(k) == r, then put(k, v2); else
// optionally get(k)). Every key starts absent.
//
// Revisions are checked as far as one key can tell: writes to the key get
// increasing revisions, a read's header revision is at least the revision
// of every write before it, and returned mod and create revisions are those
// of the writes that set them (a write with an unknown outcome leaves them
// unknown until the compare or read that shows them).
func KVModel() Model {
	return storeModel(partitionByKey, perKeyState, func(op porcupine.Operation) error {
		return validateOperation(op, true)
	})
}

// storeModel is a model whose state is a store stepped key by key
// (stepPerKey), over histories split by partition; KVModel and
// GroupedKVModel differ only in how they split, describe and validate.
func storeModel(partition func([]porcupine.Operation) [][]porcupine.Operation, describe func(store) string, validate func(porcupine.Operation) error) Model {
	nm := porcupine.NondeterministicModel{
		Partition: partition,
		Init:      func() []any { return []any{store{}} },
		Step: func(state, input, output any) []any {
			req, ok1 := input.(api.RequestOp)
			out, ok2 := output.(Outcome)
			if !ok1 || !ok2 {
				return nil
			}
			return stepPerKey(state.(store), req, out)
		},
		Equal:             func(a, b any) bool { return a.(store).equal(b.(store)) },
		Hash:              func(s any) uint64 { return s.(store).hash() },
		DescribeOperation: describeOperation,
		DescribeState:     func(s any) string { return describe(s.(store)) },
	}
	return Model{Model: nm.ToModel(), Validate: validate}
}

// stepPerKey returns every state the key can be in after req produced out,
// none if out is impossible.
func stepPerKey(s store, req api.RequestOp, out Outcome) []any {
	// A compare-and-swap on a revision the model does not know can go
	// either way: follow the branch the response reports, or both when
	// there is no response.
	branches := []*bool{nil}
	if req.Txn != nil {
		holds, known := evalCompares(s, req.Txn.Compare)
		switch {
		case known:
			branches = []*bool{&holds}
		case !out.Unknown && out.Response.Txn != nil:
			branches = []*bool{&out.Response.Txn.Succeeded}
		default:
			yes, no := true, false
			branches = []*bool{&yes, &no}
		}
	}
	var header int64
	if !out.Unknown {
		h, ok := headerOf(out.Response)
		if !ok {
			return nil
		}
		header = h.Revision
	}
	var next []any
	for _, branch := range branches {
		e := execution{s: s, writeRev: header}
		want := e.do(req, branch)
		after := e.s
		if out.Unknown {
			after.rev = s.rev
			next = append(next, after)
			continue
		}
		m := matcher{lenient: true, maxRev: header}
		if !m.response(req, want, out.Response) {
			continue
		}
		if e.changed && header <= s.rev || !e.changed && header < s.rev {
			continue
		}
		after.rev = header
		next = append(next, after)
	}
	return next
}

// partitionByKey splits a single-key history into one history per key, in
// key order.
func partitionByKey(history []porcupine.Operation) [][]porcupine.Operation {
	return partitionBy(history, func(req api.RequestOp) string { return string(requestKey(req)) })
}

// requestKey returns the first key a request names.
func requestKey(req api.RequestOp) []byte {
	for key := range req.KeyRanges() {
		return key
	}
	return nil
}

// Start is the store before a history began.
type Start struct {
	// Revision is the store's revision.
	Revision int64
	// KVs are the live keys, with their revisions and versions as the
	// store holds them.
	KVs []api.KeyValue
}

// MultiKeyModel returns the model of the whole key space, for ranges and
// multi-key transactions (and single-key operations too). It does not
// partition, so keep its histories small (a few hundred operations with
// moderate concurrency). It checks every response's header revision
// exactly: a write that changes keys advances the revision by one, a read
// or a write that changes nothing returns the current one. The history
// must therefore contain every write made to the store after start.
func MultiKeyModel(start Start) (Model, error) {
	initial := store{rev: start.Revision, kvs: slices.Clone(start.KVs)}
	slices.SortFunc(initial.kvs, func(a, b api.KeyValue) int { return bytes.Compare(a.Key, b.Key) })
	for i, kv := range initial.kvs {
		switch {
		case i > 0 && bytes.Equal(kv.Key, initial.kvs[i-1].Key):
			return Model{}, fmt.Errorf("linearizability: start: key %q given twice", kv.Key)
		case kv.ModRevision < 1 || kv.CreateRevision < 1 || kv.ModRevision > start.Revision || kv.CreateRevision > kv.ModRevision:
			return Model{}, fmt.Errorf("linearizability: start: key %q: create revision %d and mod revision %d must satisfy 1 <= create <= mod <= %d",
				kv.Key, kv.CreateRevision, kv.ModRevision, start.Revision)
		case kv.Version < 1:
			return Model{}, fmt.Errorf("linearizability: start: key %q: version %d, want >= 1", kv.Key, kv.Version)
		}
	}
	return Model{
		Model: porcupine.Model{
			Init: func() any { return initial },
			Step: func(state, input, output any) (bool, any) {
				req, ok1 := input.(api.RequestOp)
				out, ok2 := output.(Outcome)
				if !ok1 || !ok2 {
					return false, state
				}
				next, ok := stepMultiKey(state.(store), req, out, false)
				return ok, next.s
			},
			Equal:             func(a, b any) bool { return a.(store).equal(b.(store)) },
			Hash:              func(s any) uint64 { return s.(store).hash() },
			DescribeOperation: describeOperation,
			DescribeState:     func(s any) string { return s.(store).String() },
		},
		Validate: func(op porcupine.Operation) error {
			return validateOperation(op, false)
		},
	}, nil
}

// stepMultiKey applies req to s and reports whether out is what a correct
// server could have answered. The returned execution holds the next state
// (with its revision set) and, when recordEvents is set, the changes.
func stepMultiKey(s store, req api.RequestOp, out Outcome, recordEvents bool) (execution, bool) {
	e := execution{s: s, writeRev: s.rev + 1, recordEvents: recordEvents}
	want := e.do(req, nil)
	rev := s.rev
	if e.changed {
		rev++
	}
	e.s.rev = rev
	if out.Unknown {
		return e, true
	}
	h, ok := headerOf(out.Response)
	if !ok || h.Revision != rev {
		return e, false
	}
	m := matcher{maxRev: rev}
	return e, m.response(req, want, out.Response)
}

// validateOperation checks that op is a request and outcome the KV models
// understand; singleKey demands that it name one key only.
func validateOperation(op porcupine.Operation, singleKey bool) error {
	req, ok := op.Input.(api.RequestOp)
	if !ok {
		return fmt.Errorf("input is a %T, want api.RequestOp", op.Input)
	}
	out, ok := op.Output.(Outcome)
	if !ok {
		return fmt.Errorf("output is a %T, want linearizability.Outcome", op.Output)
	}
	if err := validateRequest(req, !singleKey); err != nil {
		return err
	}
	if singleKey {
		if err := sameSingleKey(req, requestKey(req)); err != nil {
			return err
		}
	}
	if out.Unknown {
		return nil
	}
	return validateResponse(req, out.Response)
}

// validateRequest checks that req uses only what the models implement.
func validateRequest(req api.RequestOp, allowNested bool) error {
	set := 0
	for _, present := range []bool{req.Range != nil, req.Put != nil, req.DeleteRange != nil, req.Txn != nil} {
		if present {
			set++
		}
	}
	if set != 1 {
		return fmt.Errorf("request has %d operations set, want exactly 1", set)
	}
	switch {
	case req.Range != nil:
		r := req.Range
		switch {
		case len(r.Key) == 0:
			return errors.New("range: empty key")
		case r.Revision > 0:
			return errors.New("range: reads at a past revision are not modelled")
		case r.Serializable:
			return errors.New("range: serializable reads are not linearizable; leave them out of the history")
		case r.MinModRevision != 0 || r.MaxModRevision != 0 || r.MinCreateRevision != 0 || r.MaxCreateRevision != 0:
			return errors.New("range: revision filters are not modelled")
		case r.SortOrder != api.SortNone && r.SortTarget != api.SortByKey:
			return fmt.Errorf("range: sorting by target %d is not modelled (only by key)", r.SortTarget)
		case r.SortOrder > api.SortDescend:
			return fmt.Errorf("range: unknown sort order %d", r.SortOrder)
		case r.Limit < 0:
			return fmt.Errorf("range: negative limit %d", r.Limit)
		}
	case req.Put != nil:
		p := req.Put
		switch {
		case len(p.Key) == 0:
			return errors.New("put: empty key")
		case p.Lease != 0 || p.IgnoreLease:
			return errors.New("put: leases are not modelled")
		case p.IgnoreValue:
			return errors.New("put: ignore_value is not modelled")
		}
	case req.DeleteRange != nil:
		if len(req.DeleteRange.Key) == 0 {
			return errors.New("delete: empty key")
		}
	case req.Txn != nil:
		for i, c := range req.Txn.Compare {
			if len(c.Key) == 0 {
				return fmt.Errorf("txn: compare %d: empty key", i)
			}
			if c.Target > api.CompareLease || c.Result > api.CompareNotEqual {
				return fmt.Errorf("txn: compare %d: unknown target %d or result %d", i, c.Target, c.Result)
			}
		}
		for _, op := range append(slices.Clip(req.Txn.Success), req.Txn.Failure...) {
			if op.Txn != nil && !allowNested {
				return errors.New("txn: nested transactions are not modelled by the per-key model")
			}
			if err := validateRequest(op, allowNested); err != nil {
				return fmt.Errorf("txn: %w", err)
			}
		}
	}
	return nil
}

// sameSingleKey checks that req names key and nothing else.
func sameSingleKey(req api.RequestOp, key []byte) error {
	for k, end := range req.KeyRanges() {
		if len(end) != 0 {
			return fmt.Errorf("a key range [%q, %q) is not a single key (use MultiKeyModel)", k, end)
		}
		if !bytes.Equal(k, key) {
			return fmt.Errorf("keys %q and %q in one operation (use MultiKeyModel)", key, k)
		}
	}
	return nil
}

// validateResponse checks that resp has the shape of an answer to req.
func validateResponse(req api.RequestOp, resp api.ResponseOp) error {
	switch {
	case req.Range != nil && resp.Range == nil,
		req.Put != nil && resp.Put == nil,
		req.DeleteRange != nil && resp.DeleteRange == nil,
		req.Txn != nil && resp.Txn == nil:
		return fmt.Errorf("response %s does not answer request %s", describeResponse(req, resp), describeRequest(req))
	}
	return nil
}
