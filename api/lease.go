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
