package replica

import (
	"fmt"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/auth"
	"github.com/cairndb/cairn/btreekv/mvcc"
)

// The deterministic half of a member's write services: what every member
// checks of a client's write request before proposing it (AdmitWrite), the
// command it proposes for it (Command), and the response it builds from
// the reply (Response). The server's services (package node) and the
// simulator's clients both go through them; the server adds what needs
// its goroutines and the world — finding the caller from its token,
// raising the NOSPACE alarm when the store's file passes its quota,
// waiting for the reply, the response header's ids and term.

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

// AdmitWrite checks a client's write request before anything else:
//
//   - a put or a delete names a key;
//   - a transaction is well formed, with at most MaxTxnOps operations a
//     branch (mvcc.CheckTxn);
//   - a lease grant's TTL is at most MaxLeaseTTL, its id not negative;
//   - while the NOSPACE alarm is raised, nothing that grows the store is
//     taken: a put, a transaction that puts, a lease grant.
func (r *Replica) AdmitWrite(req api.Message, lim Limits) error {
	grows := false
	switch req := req.(type) {
	case *api.PutRequest:
		if len(req.Key) == 0 {
			return api.ErrEmptyKey
		}
		grows = true
	case *api.DeleteRangeRequest:
		if len(req.Key) == 0 {
			return api.ErrEmptyKey
		}
	case *api.TxnRequest:
		if err := mvcc.CheckTxn(req, lim.MaxTxnOps); err != nil {
			return err
		}
		grows = TxnPuts(req)
	case *api.LeaseGrantRequest:
		if req.TTL > MaxLeaseTTL {
			return api.ErrLeaseTTLTooLarge
		}
		if req.ID < 0 {
			return api.Errorf(api.CodeInvalidArgument, "lease id %d is negative", req.ID)
		}
		grows = true
	}
	if grows && r.State.HasAlarm(api.AlarmNoSpace) {
		return api.ErrNoSpace
	}
	return nil
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

// Command is the command to propose for req, an admitted write, as caller
// makes it (nil: no user, auth being off). The KV and lease writes are
// refused while the CORRUPT alarm is raised.
func (r *Replica) Command(req api.Message, caller *auth.Identity, lim Limits) (Envelope, error) {
	switch req.(type) {
	case *api.PutRequest, *api.DeleteRangeRequest, *api.TxnRequest,
		*api.CompactionRequest, *api.LeaseGrantRequest, *api.LeaseRevokeRequest:
		if r.State.HasAlarm(api.AlarmCorrupt) {
			return Envelope{}, ErrCorruptAlarm
		}
	}
	cmd, err := NewCommand(req)
	if err != nil {
		return Envelope{}, err
	}
	return Seal(cmd, caller, lim)
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
