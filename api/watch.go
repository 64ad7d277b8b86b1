package api

// WatchFilterType is a kind of event a watcher asks not to receive.
type WatchFilterType uint8

const (
	// FilterNoPut drops put events.
	FilterNoPut WatchFilterType = iota
	// FilterNoDelete drops delete events.
	FilterNoDelete
)

// WatchCreateRequest starts a watcher on the keys in [Key, RangeEnd)
// (same range rules as RangeRequest).
type WatchCreateRequest struct {
	Key      []byte
	RangeEnd []byte
	// StartRevision is the first revision to report; 0 or less means the
	// revision after the current one.
	StartRevision int64
	// ProgressNotify asks the server to send empty responses carrying the
	// current revision when the watcher has been idle for a while.
	ProgressNotify bool
	// Filters lists the kinds of event not to send.
	Filters []WatchFilterType
	// PrevKv asks for each changed key's previous version in its event.
	PrevKv bool
	// WatchID is the id the client wants for the watcher; 0 lets the
	// server choose.
	WatchID int64
	// Fragment allows the server to split a large batch of events over
	// several responses.
	Fragment bool
}

// WatchCancelRequest stops the watcher with the given id.
type WatchCancelRequest struct {
	WatchID int64
}

// WatchProgressRequest asks for a progress notification (an empty
// response carrying the current revision) on every watcher of the stream.
type WatchProgressRequest struct{}

// WatchRequest is one message a client sends on a watch stream: exactly
// one field is set.
type WatchRequest struct {
	Create   *WatchCreateRequest
	Cancel   *WatchCancelRequest
	Progress *WatchProgressRequest
}

// WatchResponse is one message the server sends on a watch stream: the
// confirmation of a create or cancel, a batch of events, or a progress
// notification.
type WatchResponse struct {
	Header ResponseHeader
	// WatchID is the watcher the response is about.
	WatchID int64
	// Created confirms a WatchCreateRequest; the response carries the new
	// watcher's id.
	Created bool
	// Canceled says the watcher is gone: cancelled by the client, or by
	// the server (then CancelReason or CompactRevision says why).
	Canceled bool
	// CompactRevision, when set, is the revision the store is compacted
	// to: the watcher asked to start before it and was cancelled, since
	// the events it wanted are gone.
	CompactRevision int64
	// CancelReason explains a cancellation by the server.
	CancelReason string
	// CancelCode is the error code of a cancellation by the server
	// (ErrorFromCode(CancelCode, CancelReason) rebuilds the typed error);
	// 0 when the reason is not one of this package's errors.
	CancelCode Code
	// Fragment says more responses follow with the rest of this batch of
	// events.
	Fragment bool
	Events   []Event
}

func (m *WatchCreateRequest) fields(c *coder) {
	c.bytes(&m.Key)
	c.bytes(&m.RangeEnd)
	c.varint(&m.StartRevision)
	c.boolean(&m.ProgressNotify)
	enumList(c, &m.Filters, FilterNoDelete)
	c.boolean(&m.PrevKv)
	c.varint(&m.WatchID)
	c.boolean(&m.Fragment)
}

func (m *WatchCancelRequest) fields(c *coder) { c.varint(&m.WatchID) }

func (m *WatchProgressRequest) fields(c *coder) {}

// The tag byte that says which field of a WatchRequest is set.
const (
	watchCreate uint8 = iota + 1
	watchCancel
	watchProgress
)

func (m *WatchRequest) fields(c *coder) {
	if c.dec {
		*m = WatchRequest{} // only the decoded field may be set
	}
	var tag uint8
	switch {
	case m.Create != nil:
		tag = watchCreate
	case m.Cancel != nil:
		tag = watchCancel
	case m.Progress != nil:
		tag = watchProgress
	}
	c.byte1(&tag)
	switch tag {
	case watchCreate:
		codeOne(c, &m.Create)
	case watchCancel:
		codeOne(c, &m.Cancel)
	case watchProgress:
		codeOne(c, &m.Progress)
	default:
		c.fail("watch request of unknown kind %d", tag)
	}
}

func (m *WatchResponse) fields(c *coder) {
	m.Header.fields(c)
	c.varint(&m.WatchID)
	c.boolean(&m.Created)
	c.boolean(&m.Canceled)
	c.varint(&m.CompactRevision)
	c.str(&m.CancelReason)
	c.code(&m.CancelCode)
	c.boolean(&m.Fragment)
	list(c, &m.Events)
}
