package node

import (
	"context"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/auth"
	"github.com/cairndb/cairn/rpc"
)

// Read-only transactions. A transaction that neither puts nor deletes,
// in any branch or nested transaction, changes nothing: like a Range, it
// is served by the member the client asked, from its own store, instead
// of going through raft. Unless every read in it asks for serializable,
// it waits for a ReadIndex round first, which makes the member's state at
// least as current as the leader's when the transaction arrived: it is
// then linearizable, as a Range is.

// serveReadTxn serves a read-only transaction. Its response is the one
// the transaction would have got through raft: the same branch, the same
// reads, and a header with the store revision they saw.
func (s *Server) serveReadTxn(ctx context.Context, req *api.TxnRequest) (api.Message, error) {
	if err := s.refuseIfCorrupt(req); err != nil {
		return nil, err
	}
	if !txnSerializable(req) {
		if err := s.readBarrier(ctx); err != nil {
			return nil, err
		}
	}
	// Checked after the ReadIndex wait above (if any), as Range is.
	if err := s.authorizeReadTxn(ctx, req); err != nil {
		return nil, err
	}
	resp, err := s.replica.State.Store().ReadTxn(req, int64(rpc.ResponseLimit(ctx)))
	if err != nil {
		return nil, err
	}
	s.countTxn(resp)
	s.completeHeader(resp)
	return resp, nil
}

// authorizeReadTxn checks a read-only transaction on the serving member,
// with the rule every member applies to a proposed one: read on every
// compared key and on every range of both branches.
func (s *Server) authorizeReadTxn(ctx context.Context, req *api.TxnRequest) error {
	what := func() string { return describeRequest(req) }
	return s.authorize(ctx, methodName(req), what, func(a *auth.State, id auth.Identity) error {
		return a.CheckRequest(id, req)
	})
}

// txnSerializable reports whether a read-only transaction may be served
// from the member's state as it is, without a ReadIndex wait: when it
// reads something and every one of its reads, in both branches and in
// nested transactions, asks for serializable. A transaction that only
// compares (no read at all) is linearizable.
func txnSerializable(req *api.TxnRequest) bool {
	reads, serial := countSerializable(req)
	return reads > 0 && reads == serial
}

// countSerializable counts the reads of a transaction and, of them, the
// serializable ones.
func countSerializable(req *api.TxnRequest) (reads, serial int) {
	for _, ops := range [][]api.RequestOp{req.Success, req.Failure} {
		for _, op := range ops {
			switch {
			case op.Range != nil:
				reads++
				if op.Range.Serializable {
					serial++
				}
			case op.Txn != nil:
				r, s := countSerializable(op.Txn)
				reads, serial = reads+r, serial+s
			}
		}
	}
	return reads, serial
}
