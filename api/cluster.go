package api

// Member is one member of the cluster as the membership configuration
// records it.
type Member struct {
	ID uint64
	// Name is the member's human-readable name; empty until the member
	// has started and published it.
	Name string
	// PeerURLs are where other members reach this one for raft traffic.
	PeerURLs []string
	// ClientURLs are where clients reach this member; empty until it has
	// started and published them.
	ClientURLs []string
	// IsLearner says the member receives the log but does not vote.
	IsLearner bool
}

// MemberAddRequest adds a member to the cluster.
type MemberAddRequest struct {
	PeerURLs []string
	// IsLearner adds the member as a non-voting learner.
	IsLearner bool
}

// MemberAddResponse is the answer to a MemberAddRequest.
type MemberAddResponse struct {
	Header ResponseHeader
	// Member is the member just added, with the ID the cluster gave it.
	Member Member
	// Members is the membership after the change.
	Members []Member
}

// MemberRemoveRequest removes the member with the given ID.
type MemberRemoveRequest struct {
	ID uint64
}

// MemberRemoveResponse is the answer to a MemberRemoveRequest.
type MemberRemoveResponse struct {
	Header ResponseHeader
	// Members is the membership after the change.
	Members []Member
}

// MemberUpdateRequest replaces the peer URLs of the member with the given
// ID.
type MemberUpdateRequest struct {
	ID       uint64
	PeerURLs []string
}

// MemberUpdateResponse is the answer to a MemberUpdateRequest.
type MemberUpdateResponse struct {
	Header ResponseHeader
	// Members is the membership after the change.
	Members []Member
}

// MemberListRequest lists the members of the cluster.
type MemberListRequest struct {
	// Linearizable makes the answer reflect every membership change
	// committed before the request; otherwise the member answers from its
	// local view.
	Linearizable bool
}

// MemberListResponse is the answer to a MemberListRequest.
type MemberListResponse struct {
	Header  ResponseHeader
	Members []Member
}

// MemberPromoteRequest turns the learner with the given ID into a voting
// member.
type MemberPromoteRequest struct {
	ID uint64
}

// MemberPromoteResponse is the answer to a MemberPromoteRequest.
type MemberPromoteResponse struct {
	Header ResponseHeader
	// Members is the membership after the change.
	Members []Member
}

func (m *Member) fields(c *coder) {
	c.uvarint(&m.ID)
	c.str(&m.Name)
	c.strs(&m.PeerURLs)
	c.strs(&m.ClientURLs)
	c.boolean(&m.IsLearner)
}

func (m *MemberAddRequest) fields(c *coder) {
	c.strs(&m.PeerURLs)
	c.boolean(&m.IsLearner)
}

func (m *MemberAddResponse) fields(c *coder) {
	m.Header.fields(c)
	m.Member.fields(c)
	list(c, &m.Members)
}

func (m *MemberRemoveRequest) fields(c *coder) { c.uvarint(&m.ID) }

func (m *MemberRemoveResponse) fields(c *coder) {
	m.Header.fields(c)
	list(c, &m.Members)
}

func (m *MemberUpdateRequest) fields(c *coder) {
	c.uvarint(&m.ID)
	c.strs(&m.PeerURLs)
}

func (m *MemberUpdateResponse) fields(c *coder) {
	m.Header.fields(c)
	list(c, &m.Members)
}

func (m *MemberListRequest) fields(c *coder) { c.boolean(&m.Linearizable) }

func (m *MemberListResponse) fields(c *coder) {
	m.Header.fields(c)
	list(c, &m.Members)
}

func (m *MemberPromoteRequest) fields(c *coder) { c.uvarint(&m.ID) }

func (m *MemberPromoteResponse) fields(c *coder) {
	m.Header.fields(c)
	list(c, &m.Members)
}
