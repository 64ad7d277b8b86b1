package etcd

import (
	"fmt"
)

// The etcd v3 API messages used by the benchmark, by their field
// numbers in etcd's public rpc.proto and kv.proto (package etcdserverpb
// and mvccpb). Only the fields the benchmark sends or reads appear.

// Field numbers of the requests.
const (
	rangeKey, rangeEnd, rangeSerializable, rangeKeysOnly = 1, 2, 7, 8 // RangeRequest
	putKey, putValue                                     = 1, 2       // PutRequest

	// Compare: result (EQUAL = 0), target (MOD = 2), key, and the
	// mod_revision member of the target_union oneof.
	cmpResult, cmpTarget, cmpKey, cmpModRevision = 1, 2, 3, 6
	targetMod                                    = 2

	requestOpRange, requestOpPut       = 1, 2    // RequestOp oneof
	txnCompare, txnSuccess, txnFailure = 1, 2, 3 // TxnRequest

	leaseGrantTTL = 1 // LeaseGrantRequest
	keepAliveID   = 1 // LeaseKeepAliveRequest

	watchCreate                      = 1    // WatchRequest oneof: create_request
	watchCreateKey, watchCreateRange = 1, 2 // WatchCreateRequest
)

// Field numbers of the responses.
const (
	respHeader = 1 // every response's ResponseHeader

	headerMemberID, headerRevision = 2, 3 // ResponseHeader

	rangeKvs = 2 // RangeResponse

	kvKey, kvModRevision, kvValue = 1, 3, 5 // mvccpb.KeyValue

	txnSucceeded, txnResponses = 2, 3 // TxnResponse
	responseOpRange            = 1    // ResponseOp oneof

	leaseGrantID, leaseGrantError = 2, 4 // LeaseGrantResponse
	keepAliveTTL                  = 3    // LeaseKeepAliveResponse

	// WatchResponse
	watchCreated, watchCanceled, watchCompactRevision, watchCancelReason, watchEvents = 3, 4, 5, 6, 11

	eventType, eventKv = 1, 2 // mvccpb.Event (type PUT = 0)

	statusLeader = 4 // StatusResponse
)

// Request encoders.

func putRequest(key, val []byte) []byte {
	return appendBytes(appendBytes(nil, putKey, key), putValue, val)
}

func rangeRequest(key, end []byte, serializable, keysOnly bool) []byte {
	b := appendBytes(nil, rangeKey, key)
	b = appendBytes(b, rangeEnd, end)
	b = appendBool(b, rangeSerializable, serializable)
	return appendBool(b, rangeKeysOnly, keysOnly)
}

// casRequest is the transaction: if mod_revision(key) = modRev then put
// key = val else range key.
func casRequest(key, val []byte, modRev int64) []byte {
	cmp := appendInt(nil, cmpResult, 0)
	cmp = appendInt(cmp, cmpTarget, targetMod)
	cmp = appendBytes(cmp, cmpKey, key)
	cmp = appendIntAlways(cmp, cmpModRevision, modRev)
	b := appendMessage(nil, txnCompare, cmp)
	b = appendMessage(b, txnSuccess, appendMessage(nil, requestOpPut, putRequest(key, val)))
	return appendMessage(b, txnFailure, appendMessage(nil, requestOpRange, rangeRequest(key, nil, false, false)))
}

func leaseGrantRequest(ttl int64) []byte { return appendInt(nil, leaseGrantTTL, ttl) }

func keepAliveRequest(id int64) []byte { return appendInt(nil, keepAliveID, id) }

func watchCreateRequest(key, end []byte) []byte {
	create := appendBytes(appendBytes(nil, watchCreateKey, key), watchCreateRange, end)
	return appendMessage(nil, watchCreate, create)
}

// Response decoders.

// header is the part of a ResponseHeader the benchmark reads.
type header struct {
	memberID uint64
	revision int64
}

func decodeHeader(b []byte) (header, error) {
	var h header
	err := eachField(b, func(f field) error {
		switch f.num {
		case headerMemberID:
			h.memberID = f.n
		case headerRevision:
			h.revision = int64(f.n)
		}
		return nil
	})
	return h, err
}

// responseHeader decodes the header of any response.
func responseHeader(msg []byte) (header, error) {
	var h header
	err := eachField(msg, func(f field) error {
		if f.num == respHeader && f.wire == wireBytes {
			var err error
			h, err = decodeHeader(f.data)
			return err
		}
		return nil
	})
	return h, err
}

// rangeResult is what the benchmark reads of a RangeResponse: how many
// keys came back and the first one's mod revision.
type rangeResult struct {
	n           int
	modRevision int64
}

func decodeRange(msg []byte) (rangeResult, error) {
	var r rangeResult
	err := eachField(msg, func(f field) error {
		if f.num != rangeKvs || f.wire != wireBytes {
			return nil
		}
		r.n++
		if r.n > 1 {
			return nil
		}
		return eachField(f.data, func(kv field) error {
			if kv.num == kvModRevision {
				r.modRevision = int64(kv.n)
			}
			return nil
		})
	})
	return r, err
}

// txnResult is what the benchmark reads of a TxnResponse.
type txnResult struct {
	revision  int64
	succeeded bool
	rng       rangeResult // of the first response, when it is a range
}

// decodeModRevisions returns the mod revision of every key of a
// RangeResponse.
func decodeModRevisions(msg []byte) (map[string]int64, error) {
	out := map[string]int64{}
	err := eachField(msg, func(f field) error {
		if f.num != rangeKvs || f.wire != wireBytes {
			return nil
		}
		var key []byte
		var mod int64
		err := eachField(f.data, func(kv field) error {
			switch kv.num {
			case kvKey:
				key = kv.data
			case kvModRevision:
				mod = int64(kv.n)
			}
			return nil
		})
		out[string(key)] = mod
		return err
	})
	return out, err
}

func decodeTxn(msg []byte) (txnResult, error) {
	var t txnResult
	first := true
	err := eachField(msg, func(f field) error {
		switch {
		case f.num == respHeader && f.wire == wireBytes:
			h, err := decodeHeader(f.data)
			t.revision = h.revision
			return err
		case f.num == txnSucceeded:
			t.succeeded = f.n != 0
		case f.num == txnResponses && f.wire == wireBytes && first:
			first = false
			return eachField(f.data, func(op field) error {
				if op.num == responseOpRange && op.wire == wireBytes {
					var err error
					t.rng, err = decodeRange(op.data)
					return err
				}
				return nil
			})
		}
		return nil
	})
	return t, err
}

func decodeLeaseGrant(msg []byte) (int64, error) {
	var id int64
	var msgErr string
	err := eachField(msg, func(f field) error {
		switch f.num {
		case leaseGrantID:
			id = int64(f.n)
		case leaseGrantError:
			msgErr = string(f.data)
		}
		return nil
	})
	if err == nil && msgErr != "" {
		err = fmt.Errorf("etcd: lease grant: %s", msgErr)
	}
	return id, err
}

func decodeKeepAlive(msg []byte) (ttl int64, err error) {
	err = eachField(msg, func(f field) error {
		if f.num == keepAliveTTL {
			ttl = int64(f.n)
		}
		return nil
	})
	return ttl, err
}

// watchResult is what the benchmark reads of a WatchResponse.
type watchResult struct {
	created, canceled bool
	compactRevision   int64
	cancelReason      string
	putValues         [][]byte // values of the put events, aliasing msg
}

func decodeWatch(msg []byte) (watchResult, error) {
	var w watchResult
	err := eachField(msg, func(f field) error {
		switch f.num {
		case watchCreated:
			w.created = f.n != 0
		case watchCanceled:
			w.canceled = f.n != 0
		case watchCompactRevision:
			w.compactRevision = int64(f.n)
		case watchCancelReason:
			w.cancelReason = string(f.data)
		case watchEvents:
			return decodeEvent(f.data, &w)
		}
		return nil
	})
	return w, err
}

func decodeEvent(b []byte, w *watchResult) error {
	var typ uint64
	var val []byte
	err := eachField(b, func(f field) error {
		switch f.num {
		case eventType:
			typ = f.n
		case eventKv:
			return eachField(f.data, func(kv field) error {
				if kv.num == kvValue {
					val = kv.data
				}
				return nil
			})
		}
		return nil
	})
	if err == nil && typ == 0 {
		w.putValues = append(w.putValues, val)
	}
	return err
}

func decodeStatusLeader(msg []byte) (member, leader uint64, err error) {
	err = eachField(msg, func(f field) error {
		switch {
		case f.num == respHeader && f.wire == wireBytes:
			h, err := decodeHeader(f.data)
			member = h.memberID
			return err
		case f.num == statusLeader:
			leader = f.n
		}
		return nil
	})
	return member, leader, err
}
