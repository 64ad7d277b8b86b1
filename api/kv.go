// Package api holds the data types of cairn's client-facing services — the
// key-values and events of the store, and the requests and responses of the
// KV, Watch, Lease, Cluster, Maintenance and Auth services — shared by the
// storage engine (btreekv), the wire protocol (rpc), the server (node) and
// the client library. It is plain data: no I/O, no behaviour beyond small
// helpers, so every layer can speak it without depending on another.
package api

// KeyValue is one version of a key as the store keeps it.
type KeyValue struct {
	Key []byte
	// CreateRevision is the revision of the put that created this
	// generation of the key (reset when the key is deleted).
	CreateRevision int64
	// ModRevision is the revision of the last change to the key.
	ModRevision int64
	// Version counts the puts to the key since it was created (1 for a new
	// key); deleting the key resets it to 0.
	Version int64
	Value   []byte
	// Lease is the id of the lease attached to the key, 0 if none.
	Lease int64
}

// EventType is the kind of change a watch event reports.
type EventType uint8

const (
	// EventPut is a key created or updated.
	EventPut EventType = iota
	// EventDelete is a key deleted (Kv holds the key and ModRevision).
	EventDelete
)

// Event is one change to one key, as watchers receive it.
type Event struct {
	Type EventType
	Kv   KeyValue
	// PrevKv is the key's previous version, when the watcher asked for it
	// and the key existed before.
	PrevKv *KeyValue
}

// ResponseHeader is carried by every response: which cluster and member
// answered, at which store revision and raft term.
type ResponseHeader struct {
	ClusterID uint64
	MemberID  uint64
	Revision  int64
	RaftTerm  uint64
}

// SortOrder is the order of a Range's results.
type SortOrder uint8

const (
	SortNone SortOrder = iota
	SortAscend
	SortDescend
)

// SortTarget is the field a Range's results are sorted by.
type SortTarget uint8

const (
	SortByKey SortTarget = iota
	SortByVersion
	SortByCreate
	SortByMod
	SortByValue
)

// RangeRequest reads the keys in [Key, RangeEnd). An empty RangeEnd means
// the single key Key; RangeEnd "\x00" means every key >= Key; Key "\x00"
// with RangeEnd "\x00" means all keys.
type RangeRequest struct {
	Key      []byte
	RangeEnd []byte
	// Limit caps the number of keys returned; 0 is no limit.
	Limit int64
	// Revision is the store revision to read at; 0 or less is the newest.
	Revision   int64
	SortOrder  SortOrder
	SortTarget SortTarget
	// Serializable serves the read from the local member without a
	// linearizability round (may be stale).
	Serializable bool
	KeysOnly     bool
	CountOnly    bool
	// The Min/Max filters drop keys whose revisions fall outside them; 0
	// means no filter.
	MinModRevision    int64
	MaxModRevision    int64
	MinCreateRevision int64
	MaxCreateRevision int64
}

// RangeResponse is the answer to a RangeRequest.
type RangeResponse struct {
	Header ResponseHeader
	Kvs    []KeyValue
	// More says there are more keys in the range than were returned.
	More bool
	// Count is the number of keys in the range (ignoring Limit).
	Count int64
}

// PutRequest writes Value under Key.
type PutRequest struct {
	Key   []byte
	Value []byte
	Lease int64
	// PrevKv asks for the key's previous version in the response.
	PrevKv bool
	// IgnoreValue keeps the current value (the key must exist).
	IgnoreValue bool
	// IgnoreLease keeps the current lease (the key must exist).
	IgnoreLease bool
}

// PutResponse is the answer to a PutRequest.
type PutResponse struct {
	Header ResponseHeader
	PrevKv *KeyValue
}

// DeleteRangeRequest deletes the keys in [Key, RangeEnd) (same range rules
// as RangeRequest).
type DeleteRangeRequest struct {
	Key      []byte
	RangeEnd []byte
	PrevKv   bool
}

// DeleteRangeResponse is the answer to a DeleteRangeRequest.
type DeleteRangeResponse struct {
	Header  ResponseHeader
	Deleted int64
	PrevKvs []KeyValue
}

// CompareResult is the relation a Compare checks.
type CompareResult uint8

const (
	CompareEqual CompareResult = iota
	CompareGreater
	CompareLess
	CompareNotEqual
)

// CompareTarget is the field of a key a Compare looks at.
type CompareTarget uint8

const (
	CompareVersion CompareTarget = iota
	CompareCreate
	CompareMod
	CompareValue
	CompareLease
)

// Compare is one guard of a transaction: the Target field of every key in
// [Key, RangeEnd) (or of Key alone) must stand in relation Result to the
// operand of that target. A missing key has version, create and mod
// revision 0, lease 0 and an empty value... except that a value compare on
// a missing key is false.
type Compare struct {
	Result   CompareResult
	Target   CompareTarget
	Key      []byte
	RangeEnd []byte
	// The operand; only the one matching Target is used.
	Version        int64
	CreateRevision int64
	ModRevision    int64
	Value          []byte
	Lease          int64
}

// RequestOp is one operation of a transaction branch: exactly one field is
// set.
type RequestOp struct {
	Range       *RangeRequest
	Put         *PutRequest
	DeleteRange *DeleteRangeRequest
	Txn         *TxnRequest
}

// ResponseOp is the result of one RequestOp: the field matching the
// request is set.
type ResponseOp struct {
	Range       *RangeResponse
	Put         *PutResponse
	DeleteRange *DeleteRangeResponse
	Txn         *TxnResponse
}

// TxnRequest runs Success if every Compare holds, Failure otherwise, as one
// atomic step at one revision.
type TxnRequest struct {
	Compare []Compare
	Success []RequestOp
	Failure []RequestOp
}

// TxnResponse is the answer to a TxnRequest.
type TxnResponse struct {
	Header    ResponseHeader
	Succeeded bool
	Responses []ResponseOp
}

// CompactionRequest discards the history before Revision.
type CompactionRequest struct {
	Revision int64
	// Physical waits until the compaction is applied to the backend.
	Physical bool
}

// CompactionResponse is the answer to a CompactionRequest.
type CompactionResponse struct {
	Header ResponseHeader
}

// PrefixEnd is the end of the range of keys starting with prefix: the
// prefix with its last byte below 0xff incremented ("\x00" — every key —
// if there is none), as a RangeEnd takes it.
func PrefixEnd(prefix []byte) []byte {
	end := append([]byte(nil), prefix...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return []byte{0}
}
