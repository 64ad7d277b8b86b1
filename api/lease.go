package api

// LeaseGrantRequest creates a lease that expires TTL seconds after its
// last keep-alive. ID 0 lets the server choose the id.
type LeaseGrantRequest struct {
	TTL int64
	ID  int64
}

// LeaseGrantResponse is the answer to a LeaseGrantRequest.
type LeaseGrantResponse struct {
	Header ResponseHeader
	ID     int64
	TTL    int64
}

// LeaseRevokeRequest revokes a lease, deleting every key attached to it.
type LeaseRevokeRequest struct {
	ID int64
}

// LeaseRevokeResponse is the answer to a LeaseRevokeRequest.
type LeaseRevokeResponse struct {
	Header ResponseHeader
}

// LeaseKeepAliveRequest renews a lease, restarting its TTL. On the wire it
// travels on a stream: the client sends one per renewal.
type LeaseKeepAliveRequest struct {
	ID int64
}

// LeaseKeepAliveResponse is the answer to one LeaseKeepAliveRequest.
type LeaseKeepAliveResponse struct {
	Header ResponseHeader
	ID     int64
	// TTL is the lease's new time to live in seconds; 0 or less means the
	// lease was not found (it expired or was revoked).
	TTL int64
}

// LeaseTimeToLiveRequest asks how long a lease has left.
type LeaseTimeToLiveRequest struct {
	ID int64
	// Keys asks for the keys attached to the lease.
	Keys bool
}

// LeaseTimeToLiveResponse is the answer to a LeaseTimeToLiveRequest.
type LeaseTimeToLiveResponse struct {
	Header ResponseHeader
	ID     int64
	// TTL is the seconds left before the lease expires; -1 when the lease
	// has expired or does not exist.
	TTL int64
	// GrantedTTL is the TTL the lease was granted (or last renewed) with.
	GrantedTTL int64
	// Keys are the keys attached to the lease, if the request asked.
	Keys [][]byte
}

// LeaseLeasesRequest lists every live lease.
type LeaseLeasesRequest struct{}

// LeaseStatus names one lease in a LeaseLeasesResponse.
type LeaseStatus struct {
	ID int64
}

// LeaseLeasesResponse is the answer to a LeaseLeasesRequest.
type LeaseLeasesResponse struct {
	Header ResponseHeader
	Leases []LeaseStatus
}

func (m *LeaseGrantRequest) fields(c *coder) {
	c.varint(&m.TTL)
	c.varint(&m.ID)
}

func (m *LeaseGrantResponse) fields(c *coder) {
	m.Header.fields(c)
	c.varint(&m.ID)
	c.varint(&m.TTL)
}

func (m *LeaseRevokeRequest) fields(c *coder) { c.varint(&m.ID) }

func (m *LeaseRevokeResponse) fields(c *coder) { m.Header.fields(c) }

func (m *LeaseKeepAliveRequest) fields(c *coder) { c.varint(&m.ID) }

func (m *LeaseKeepAliveResponse) fields(c *coder) {
	m.Header.fields(c)
	c.varint(&m.ID)
	c.varint(&m.TTL)
}

func (m *LeaseTimeToLiveRequest) fields(c *coder) {
	c.varint(&m.ID)
	c.boolean(&m.Keys)
}

func (m *LeaseTimeToLiveResponse) fields(c *coder) {
	m.Header.fields(c)
	c.varint(&m.ID)
	c.varint(&m.TTL)
	c.varint(&m.GrantedTTL)
	c.bytesList(&m.Keys)
}

func (m *LeaseLeasesRequest) fields(c *coder) {}

func (m *LeaseStatus) fields(c *coder) { c.varint(&m.ID) }

func (m *LeaseLeasesResponse) fields(c *coder) {
	m.Header.fields(c)
	list(c, &m.Leases)
}
