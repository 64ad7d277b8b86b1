package replica

import (
	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/btreekv/mvcc"
)

// The reads of a member's client services, the steps of a Plan of
// StepRead (requests.go): what every member checks of a client's read
// before serving it (admitRead), whether the read waits for a ReadIndex
// round first (Read.Linearizable, Read.Barrier), and the response it
// builds from its store once it may (serveRead, through Plan.Answer).

// Read is a client's read a member admitted: a Range, or a transaction
// that neither puts nor deletes.
type Read struct {
	// Req is the *api.RangeRequest or the read-only *api.TxnRequest.
	Req api.Message
	// Linearizable says the read waits for a ReadIndex round before it
	// is served (Barrier): then the member's state is at least as
	// current as the leader's when the read arrived. A serializable read
	// is served from the member's state as it is.
	Linearizable bool
}

// Barrier is the event that asks the core for the read's ReadIndex round:
// the core answers with a Reply of reqID once the member applied up to
// the leader's commit index as of the request (or with why it cannot).
func (Read) Barrier(reqID uint64) Event { return EvRead{ReqID: reqID} }

// admitRead checks a client's read before anything else, and says how it
// is served:
//
//   - a Range names a key; a transaction is well formed, with at most
//     MaxTxnOps operations a branch (mvcc.CheckTxn), and reads only;
//   - refusal, if not nil, says why the member serves no read now, as
//     its shell knows it (a member that lost data and is not yet
//     repaired, a member no peer confirmed yet): it refuses the read;
//   - while the CORRUPT alarm is raised, no key is read.
func (r *Replica) admitRead(req api.Message, lim Limits, refusal func() error) (Read, error) {
	var linearizable bool
	switch req := req.(type) {
	case *api.RangeRequest:
		if len(req.Key) == 0 {
			return Read{}, api.ErrEmptyKey
		}
		linearizable = !req.Serializable
	case *api.TxnRequest:
		if err := mvcc.CheckTxn(req, lim.MaxTxnOps); err != nil {
			return Read{}, err
		}
		if !mvcc.TxnReadOnly(req) {
			return Read{}, api.Errorf(api.CodeInvalidArgument, "a transaction that writes is not a read")
		}
		linearizable = !TxnSerializable(req)
	default:
		return Read{}, api.Errorf(api.CodeInvalidArgument, "%T is not a read", req)
	}
	if refusal != nil {
		if err := refusal(); err != nil {
			return Read{}, err
		}
	}
	if r.State.HasAlarm(api.AlarmCorrupt) {
		return Read{}, ErrCorruptAlarm
	}
	return Read{Req: req, Linearizable: linearizable}, nil
}

// serveRead serves an admitted read from the member's store, its answer
// at most maxBytes (0: no bound), once its barrier passed if it is
// linearizable.
func (r *Replica) serveRead(rd Read, maxBytes int64) (api.Message, error) {
	store := r.State.Store()
	switch req := rd.Req.(type) {
	case *api.RangeRequest:
		return store.RangeRequest(req, maxBytes)
	case *api.TxnRequest:
		return store.ReadTxn(req, maxBytes)
	}
	return nil, api.Errorf(api.CodeInvalidArgument, "%T is not a read", rd.Req)
}

// TxnSerializable reports whether a read-only transaction may be served
// from the member's state as it is, without a ReadIndex wait: when it
// reads something and every one of its reads, in both branches and in
// nested transactions, asks for serializable. A transaction that only
// compares (no read at all) is linearizable.
func TxnSerializable(req *api.TxnRequest) bool {
	reads := 0
	for op := range req.Ops() {
		if r, ok := op.(*api.RangeRequest); ok {
			if !r.Serializable {
				return false
			}
			reads++
		}
	}
	return reads > 0
}
