package client

import (
	"github.com/cairndb/cairn/api"
)

// Op is one KV operation: a get, put, delete or nested transaction. Build
// it with OpGet, OpPut, OpDelete or OpTxn; use it in Txn branches or with
// Do.
type Op struct {
	kind    opKind
	key     []byte
	end     []byte
	val     []byte
	rev     int64
	limit   int64
	sort    api.SortOrder
	target  api.SortTarget
	serial  bool
	keys    bool
	count   bool
	prevKV  bool
	lease   int64
	ignoreV bool
	ignoreL bool
	fromKey bool
	prefix  bool
	// watch options
	progress bool
	filters  []api.WatchFilterType
	// nested transaction
	cmps          []Cmp
	thenOps, elss []Op
	// range filters
	minMod, maxMod, minCreate, maxCreate int64
}

type opKind uint8

const (
	opGet opKind = iota + 1
	opPut
	opDelete
	opTxn
)

// OpOption changes an operation.
type OpOption func(*Op)

// WithPrefix makes the operation cover every key starting with its key.
func WithPrefix() OpOption { return func(op *Op) { op.prefix = true } }

// WithFromKey makes the operation cover every key at or after its key.
func WithFromKey() OpOption { return func(op *Op) { op.fromKey = true } }

// WithRange makes the operation cover [key, end).
func WithRange(end string) OpOption { return func(op *Op) { op.end = []byte(end) } }

// WithRev reads at revision rev (or, for a watch, starts there).
func WithRev(rev int64) OpOption { return func(op *Op) { op.rev = rev } }

// WithLimit returns at most n keys.
func WithLimit(n int64) OpOption { return func(op *Op) { op.limit = n } }

// WithSort orders the results.
func WithSort(target api.SortTarget, order api.SortOrder) OpOption {
	return func(op *Op) { op.target, op.sort = target, order }
}

// WithSerializable serves a read from the member it reaches, without a
// linearizability round: faster, possibly stale.
func WithSerializable() OpOption { return func(op *Op) { op.serial = true } }

// WithKeysOnly returns keys without values.
func WithKeysOnly() OpOption { return func(op *Op) { op.keys = true } }

// WithCountOnly returns only the number of keys.
func WithCountOnly() OpOption { return func(op *Op) { op.count = true } }

// WithPrevKV returns the previous version of the keys a put or delete
// changes (and, for a watch, with every event).
func WithPrevKV() OpOption { return func(op *Op) { op.prevKV = true } }

// WithLease attaches a put's key to a lease.
func WithLease(id int64) OpOption { return func(op *Op) { op.lease = id } }

// WithIgnoreValue keeps the key's current value (the key must exist).
func WithIgnoreValue() OpOption { return func(op *Op) { op.ignoreV = true } }

// WithIgnoreLease keeps the key's current lease (the key must exist).
func WithIgnoreLease() OpOption { return func(op *Op) { op.ignoreL = true } }

// WithProgressNotify asks a watch for periodic progress notifications.
func WithProgressNotify() OpOption { return func(op *Op) { op.progress = true } }

// WithFilterPut drops put events from a watch.
func WithFilterPut() OpOption {
	return func(op *Op) { op.filters = append(op.filters, api.FilterNoPut) }
}

// WithFilterDelete drops delete events from a watch.
func WithFilterDelete() OpOption {
	return func(op *Op) { op.filters = append(op.filters, api.FilterNoDelete) }
}

// WithMinModRev, WithMaxModRev, WithMinCreateRev and WithMaxCreateRev
// filter a get's keys by revision.
func WithMinModRev(rev int64) OpOption    { return func(op *Op) { op.minMod = rev } }
func WithMaxModRev(rev int64) OpOption    { return func(op *Op) { op.maxMod = rev } }
func WithMinCreateRev(rev int64) OpOption { return func(op *Op) { op.minCreate = rev } }
func WithMaxCreateRev(rev int64) OpOption { return func(op *Op) { op.maxCreate = rev } }

// PrefixEnd is the end of the range of keys starting with prefix: the
// prefix with its last byte below 0xff incremented ("\x00" — every key —
// if there is none).
func PrefixEnd(prefix []byte) []byte { return api.PrefixEnd(prefix) }

func newOp(kind opKind, key string, opts []OpOption) Op {
	op := Op{kind: kind, key: []byte(key)}
	for _, o := range opts {
		o(&op)
	}
	switch {
	case op.prefix && len(op.key) == 0:
		op.key, op.end = []byte{0}, []byte{0}
	case op.prefix:
		op.end = PrefixEnd(op.key)
	case op.fromKey:
		if len(op.key) == 0 {
			op.key = []byte{0}
		}
		op.end = []byte{0}
	}
	return op
}

// OpGet is a get of key.
func OpGet(key string, opts ...OpOption) Op { return newOp(opGet, key, opts) }

// OpPut is a put of key = val.
func OpPut(key, val string, opts ...OpOption) Op {
	op := newOp(opPut, key, opts)
	op.val = []byte(val)
	return op
}

// OpDelete is a delete of key (or a range, with WithPrefix/WithRange).
func OpDelete(key string, opts ...OpOption) Op { return newOp(opDelete, key, opts) }

// OpTxn is a nested transaction.
func OpTxn(cmps []Cmp, thenOps, elseOps []Op) Op {
	return Op{kind: opTxn, cmps: cmps, thenOps: thenOps, elss: elseOps}
}

func (op Op) rangeRequest() *api.RangeRequest {
	return &api.RangeRequest{Key: op.key, RangeEnd: op.end, Revision: op.rev, Limit: op.limit,
		SortOrder: op.sort, SortTarget: op.target, Serializable: op.serial, KeysOnly: op.keys, CountOnly: op.count,
		MinModRevision: op.minMod, MaxModRevision: op.maxMod, MinCreateRevision: op.minCreate, MaxCreateRevision: op.maxCreate}
}

func (op Op) putRequest() *api.PutRequest {
	return &api.PutRequest{Key: op.key, Value: op.val, Lease: op.lease, PrevKv: op.prevKV, IgnoreValue: op.ignoreV, IgnoreLease: op.ignoreL}
}

func (op Op) deleteRequest() *api.DeleteRangeRequest {
	return &api.DeleteRangeRequest{Key: op.key, RangeEnd: op.end, PrevKv: op.prevKV}
}

func (op Op) txnRequest() *api.TxnRequest {
	req := &api.TxnRequest{}
	for _, c := range op.cmps {
		req.Compare = append(req.Compare, api.Compare(c))
	}
	req.Success = requestOps(op.thenOps)
	req.Failure = requestOps(op.elss)
	return req
}

func requestOps(ops []Op) []api.RequestOp {
	out := make([]api.RequestOp, len(ops))
	for i, op := range ops {
		switch op.kind {
		case opGet:
			out[i].Range = op.rangeRequest()
		case opPut:
			out[i].Put = op.putRequest()
		case opDelete:
			out[i].DeleteRange = op.deleteRequest()
		case opTxn:
			out[i].Txn = op.txnRequest()
		}
	}
	return out
}
