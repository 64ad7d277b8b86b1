package api

import "iter"

// Request returns the request op holds — a *RangeRequest, *PutRequest,
// *DeleteRangeRequest or *TxnRequest — or nil if it holds none. It is the
// one place that reads RequestOp's one-of: code that walks operations
// type-switches on what it returns, or ranges over TxnRequest.Ops.
func (op RequestOp) Request() Message {
	switch {
	case op.Range != nil:
		return op.Range
	case op.Put != nil:
		return op.Put
	case op.DeleteRange != nil:
		return op.DeleteRange
	case op.Txn != nil:
		return op.Txn
	}
	return nil
}

// Ops yields every operation of the transaction's two branches (Success,
// then Failure), nested transactions' operations included, depth first:
// a nested *TxnRequest is yielded before its own operations. Empty
// operations are skipped. It does not evaluate the compares: it is for
// what the transaction could touch (the keys it may read or write, the
// permissions it needs, whether it writes at all), not what it will do.
func (t *TxnRequest) Ops() iter.Seq[Message] {
	return func(yield func(Message) bool) { t.walkOps(yield) }
}

func (t *TxnRequest) walkOps(yield func(Message) bool) bool {
	for _, ops := range [2][]RequestOp{t.Success, t.Failure} {
		for _, op := range ops {
			m := op.Request()
			if m == nil {
				continue
			}
			if !yield(m) {
				return false
			}
			if op.Txn != nil && !op.Txn.walkOps(yield) {
				return false
			}
		}
	}
	return true
}

// Response returns the response op holds — a *RangeResponse,
// *PutResponse, *DeleteRangeResponse or *TxnResponse — or nil.
func (op ResponseOp) Response() Message {
	switch {
	case op.Range != nil:
		return op.Range
	case op.Put != nil:
		return op.Put
	case op.DeleteRange != nil:
		return op.DeleteRange
	case op.Txn != nil:
		return op.Txn
	}
	return nil
}

// Ops yields the response of every operation the transaction ran (the
// branch it took), nested transactions' included, depth first: a nested
// *TxnResponse before its own responses.
func (t *TxnResponse) Ops() iter.Seq[Message] {
	return func(yield func(Message) bool) { t.walkOps(yield) }
}

func (t *TxnResponse) walkOps(yield func(Message) bool) bool {
	for _, op := range t.Responses {
		m := op.Response()
		if m == nil {
			continue
		}
		if !yield(m) {
			return false
		}
		if op.Txn != nil && !op.Txn.walkOps(yield) {
			return false
		}
	}
	return true
}

// KeyRanges yields every key range op may read or write, as (key, range
// end) with the API's conventions for the end (nil: the single key): a
// range's, a put's (end nil), a delete's, and for a transaction each
// compare's and each operation's, nested transactions included, in the
// order Ops walks them.
func (op RequestOp) KeyRanges() iter.Seq2[[]byte, []byte] {
	return func(yield func(key, end []byte) bool) {
		var visit func(m Message) bool
		visit = func(m Message) bool {
			switch r := m.(type) {
			case *RangeRequest:
				return yield(r.Key, r.RangeEnd)
			case *PutRequest:
				return yield(r.Key, nil)
			case *DeleteRangeRequest:
				return yield(r.Key, r.RangeEnd)
			case *TxnRequest:
				for _, c := range r.Compare {
					if !yield(c.Key, c.RangeEnd) {
						return false
					}
				}
			}
			return true
		}
		m := op.Request()
		if m == nil || !visit(m) || op.Txn == nil {
			return
		}
		for sub := range op.Txn.Ops() {
			if !visit(sub) {
				return
			}
		}
	}
}
