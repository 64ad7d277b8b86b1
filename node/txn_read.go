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
	resp, err := s.serveRead(ctx, req, func() error { return s.authorizeReadTxn(ctx, req) })
	if err != nil {
		return nil, err
	}
	s.countTxn(resp.(*api.TxnResponse))
	return resp, nil
}

// serveRead serves a Range or a read-only Txn as every member does
// (replica.AdmitRead, then ServeRead), after a ReadIndex wait if the read
// is linearizable. The caller's permission (authorize) is checked after
// the wait, so that a permission revoked a moment ago through another
// member is seen.
func (s *Server) serveRead(ctx context.Context, req api.Message, authorize func() error) (api.Message, error) {
	rd, err := s.replica.AdmitRead(req, s.limits(), s.readRefusal())
	if err != nil {
		return nil, err
	}
	if rd.Linearizable {
		if err := s.readBarrier(ctx); err != nil {
			return nil, err
		}
	}
	if err := authorize(); err != nil {
		return nil, err
	}
	resp, err := s.replica.ServeRead(rd, int64(rpc.ResponseLimit(ctx)))
	if err != nil {
		return nil, err
	}
	s.completeHeader(resp)
	return resp, nil
}

// authorizeReadTxn checks a read-only transaction on the serving member,
// with the rule every member applies to a proposed one: read on every
// compared key and on every range of both branches.
func (s *Server) authorizeReadTxn(ctx context.Context, req *api.TxnRequest) error {
	what := func() string { return describeRequest(req) }
	return s.authorize(ctx, methodName(req), what, func(_ *auth.State, id auth.Identity) error {
		return s.replica.AuthorizeRead(req, &id)
	})
}
