package client

import (
	"context"
	"fmt"

	"github.com/cairndb/cairn/api"
)

// Put sets key to val.
func (c *Client) Put(ctx context.Context, key, val string, opts ...OpOption) (*api.PutResponse, error) {
	resp := &api.PutResponse{}
	return resp, c.call(ctx, api.MethodPut, OpPut(key, val, opts...).putRequest(), resp)
}

// Get reads key (or a range of keys, with WithPrefix, WithRange or
// WithFromKey). Reads are linearizable unless WithSerializable is given.
func (c *Client) Get(ctx context.Context, key string, opts ...OpOption) (*api.RangeResponse, error) {
	resp := &api.RangeResponse{}
	return resp, c.callRead(ctx, api.MethodRange, OpGet(key, opts...).rangeRequest(), resp)
}

// Delete deletes key (or a range of keys).
func (c *Client) Delete(ctx context.Context, key string, opts ...OpOption) (*api.DeleteRangeResponse, error) {
	resp := &api.DeleteRangeResponse{}
	return resp, c.call(ctx, api.MethodDeleteRange, OpDelete(key, opts...).deleteRequest(), resp)
}

// Compact discards the history before rev. Reads below rev fail at once;
// the member removes the records afterwards, a part at each of its
// store's commits, unless WithPhysical asks it to answer only once it
// has.
func (c *Client) Compact(ctx context.Context, rev int64, opts ...CompactOption) (*api.CompactionResponse, error) {
	req := &api.CompactionRequest{Revision: rev}
	for _, o := range opts {
		o(req)
	}
	resp := &api.CompactionResponse{}
	return resp, c.call(ctx, api.MethodCompact, req, resp)
}

// CompactOption is an option of Compact.
type CompactOption func(*api.CompactionRequest)

// WithPhysical makes Compact return only once the member that answers has
// removed the compacted records from its store (etcd's --physical).
func WithPhysical() CompactOption { return func(r *api.CompactionRequest) { r.Physical = true } }

// Do runs one operation and returns its response as a transaction branch
// would.
func (c *Client) Do(ctx context.Context, op Op) (api.ResponseOp, error) {
	var out api.ResponseOp
	var err error
	switch op.kind {
	case opGet:
		resp := &api.RangeResponse{}
		err = c.callRead(ctx, api.MethodRange, op.rangeRequest(), resp)
		out.Range = resp
	case opPut:
		resp := &api.PutResponse{}
		err = c.call(ctx, api.MethodPut, op.putRequest(), resp)
		out.Put = resp
	case opDelete:
		resp := &api.DeleteRangeResponse{}
		err = c.call(ctx, api.MethodDeleteRange, op.deleteRequest(), resp)
		out.DeleteRange = resp
	case opTxn:
		resp := &api.TxnResponse{}
		err = c.call(ctx, api.MethodTxn, op.txnRequest(), resp)
		out.Txn = resp
	default:
		err = fmt.Errorf("client: empty operation")
	}
	return out, err
}

// Cmp is one condition of a transaction. Build it with Compare and one of
// Value, Version, CreateRevision, ModRevision or LeaseValue.
type Cmp api.Compare

// Value, Version, CreateRevision, ModRevision and LeaseValue name the
// field of key a Compare looks at.
func Value(key string) Cmp { return Cmp{Target: api.CompareValue, Key: []byte(key)} }
func Version(key string) Cmp {
	return Cmp{Target: api.CompareVersion, Key: []byte(key)}
}
func CreateRevision(key string) Cmp { return Cmp{Target: api.CompareCreate, Key: []byte(key)} }
func ModRevision(key string) Cmp    { return Cmp{Target: api.CompareMod, Key: []byte(key)} }
func LeaseValue(key string) Cmp     { return Cmp{Target: api.CompareLease, Key: []byte(key)} }

// Compare finishes a condition: cmp's field of its key must stand in
// relation result ("=", "!=", "<" or ">") to v (a string for Value, an
// int64 or int for the others).
func Compare(cmp Cmp, result string, v any) Cmp {
	switch result {
	case "=":
		cmp.Result = api.CompareEqual
	case "!=":
		cmp.Result = api.CompareNotEqual
	case "<":
		cmp.Result = api.CompareLess
	case ">":
		cmp.Result = api.CompareGreater
	default:
		panic(fmt.Sprintf("client: unknown comparison %q", result))
	}
	var n int64
	switch x := v.(type) {
	case string:
		cmp.Value = []byte(x)
	case []byte:
		cmp.Value = x
	case int64:
		n = x
	case int:
		n = int64(x)
	default:
		panic(fmt.Sprintf("client: compare operand %T", v))
	}
	switch cmp.Target {
	case api.CompareVersion:
		cmp.Version = n
	case api.CompareCreate:
		cmp.CreateRevision = n
	case api.CompareMod:
		cmp.ModRevision = n
	case api.CompareLease:
		cmp.Lease = n
	}
	return cmp
}

// WithPrefix makes a condition cover every key starting with its key.
func (cmp Cmp) WithPrefix() Cmp {
	cmp.RangeEnd = PrefixEnd(cmp.Key)
	return cmp
}

// Txn is a transaction being built: If(conditions).Then(ops).Else(ops),
// then Commit.
type Txn struct {
	c              *Client
	ctx            context.Context
	cmps           []Cmp
	thenOps, elses []Op
}

// Txn starts a transaction.
func (c *Client) Txn(ctx context.Context) *Txn { return &Txn{c: c, ctx: ctx} }

// If adds conditions (all must hold).
func (t *Txn) If(cmps ...Cmp) *Txn { t.cmps = append(t.cmps, cmps...); return t }

// Then adds the operations run when the conditions hold.
func (t *Txn) Then(ops ...Op) *Txn { t.thenOps = append(t.thenOps, ops...); return t }

// Else adds the operations run when they do not.
func (t *Txn) Else(ops ...Op) *Txn { t.elses = append(t.elses, ops...); return t }

// Commit runs the transaction.
func (t *Txn) Commit() (*api.TxnResponse, error) {
	resp := &api.TxnResponse{}
	return resp, t.c.call(t.ctx, api.MethodTxn, OpTxn(t.cmps, t.thenOps, t.elses).txnRequest(), resp)
}
