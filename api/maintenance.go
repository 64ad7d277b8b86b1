package api

import "fmt"

// AlarmType is a condition that, once raised on a member, changes how the
// cluster serves requests until it is cleared.
type AlarmType uint8

const (
	// AlarmNone matches every alarm in a get or deactivate request.
	AlarmNone AlarmType = iota
	// AlarmNoSpace is raised when the backend exceeds its quota: writes
	// are refused (ErrNoSpace) while reads and deletes still work.
	AlarmNoSpace
	// AlarmCorrupt is raised when a member's data is found to differ from
	// the others'.
	AlarmCorrupt
)

// String returns the alarm's name as etcd prints it.
func (a AlarmType) String() string {
	switch a {
	case AlarmNone:
		return "NONE"
	case AlarmNoSpace:
		return "NOSPACE"
	case AlarmCorrupt:
		return "CORRUPT"
	}
	return fmt.Sprintf("AlarmType(%d)", uint8(a))
}

// AlarmAction is what an AlarmRequest does.
type AlarmAction uint8

const (
	// AlarmGet lists the raised alarms.
	AlarmGet AlarmAction = iota
	// AlarmActivate raises an alarm.
	AlarmActivate
	// AlarmDeactivate clears an alarm.
	AlarmDeactivate
)

// AlarmRequest gets, raises or clears alarms.
type AlarmRequest struct {
	Action AlarmAction
	// MemberID is the member the alarm is about; 0 with AlarmGet means
	// every member.
	MemberID uint64
	// Alarm is the alarm to raise or clear; AlarmNone with AlarmGet means
	// every alarm.
	Alarm AlarmType
}

// AlarmMember is one raised alarm: which member, which alarm.
type AlarmMember struct {
	MemberID uint64
	Alarm    AlarmType
}

// AlarmResponse is the answer to an AlarmRequest: the alarms the request
// listed, raised or cleared.
type AlarmResponse struct {
	Header ResponseHeader
	Alarms []AlarmMember
}

// StatusRequest asks a member for its status.
type StatusRequest struct{}

// StatusResponse is the answer to a StatusRequest.
type StatusResponse struct {
	Header ResponseHeader
	// Version is the server's version.
	Version string
	// DbSize is the backend file's size in bytes, DbSizeInUse the part of
	// it holding live data (the rest is free pages defragmentation would
	// return).
	DbSize      int64
	DbSizeInUse int64
	// Leader is the member id of the leader this member knows, 0 if none.
	Leader uint64
	// RaftIndex is the member's last committed raft index, RaftTerm its
	// current term, RaftAppliedIndex the last index applied to the store.
	RaftIndex        uint64
	RaftTerm         uint64
	RaftAppliedIndex uint64
	// Errors are the alarms and other problems the member reports.
	Errors []string
	// IsLearner says the member is a non-voting learner.
	IsLearner bool
	// StorageVersion is the etcd storage version the member's data is
	// kept at, and DbSizeQuota the backend quota in bytes past which it
	// raises the NOSPACE alarm. Both came after the first release: a
	// response from an older member decodes with them empty.
	StorageVersion string
	DbSizeQuota    int64
}

// DefragmentRequest asks a member to rewrite its backend file compactly,
// returning free space to the file system.
type DefragmentRequest struct{}

// DefragmentResponse is the answer to a DefragmentRequest.
type DefragmentResponse struct {
	Header ResponseHeader
}

// HashRequest asks for a hash of the member's whole backend.
type HashRequest struct{}

// HashResponse is the answer to a HashRequest.
type HashResponse struct {
	Header ResponseHeader
	Hash   uint32
}

// HashKVRequest asks for a hash of the key-value history up to Revision,
// which members at the same revision must agree on.
type HashKVRequest struct {
	// Revision is the last revision hashed; 0 means the current one.
	Revision int64
}

// HashKVResponse is the answer to a HashKVRequest.
type HashKVResponse struct {
	Header ResponseHeader
	Hash   uint32
	// CompactRevision is the store's compaction revision when hashed:
	// only members with the same one can compare hashes.
	CompactRevision int64
	// HashRevision is the revision the hash covers up to.
	HashRevision int64
}

// SnapshotRequest asks for a copy of the member's backend. The answer is
// a stream of SnapshotResponse chunks.
type SnapshotRequest struct{}

// SnapshotResponse is one chunk of a snapshot.
type SnapshotResponse struct {
	Header ResponseHeader
	// RemainingBytes counts the bytes still to come after this chunk; 0
	// marks the last one.
	RemainingBytes uint64
	Blob           []byte
	// Version is the server version that wrote the snapshot.
	Version string
}

// MoveLeaderRequest asks the leader to hand leadership to TargetID.
type MoveLeaderRequest struct {
	TargetID uint64
}

// MoveLeaderResponse is the answer to a MoveLeaderRequest.
type MoveLeaderResponse struct {
	Header ResponseHeader
}

func (m *AlarmRequest) fields(c *coder) {
	enum(c, &m.Action, AlarmDeactivate)
	c.uvarint(&m.MemberID)
	enum(c, &m.Alarm, AlarmCorrupt)
}

func (m *AlarmMember) fields(c *coder) {
	c.uvarint(&m.MemberID)
	enum(c, &m.Alarm, AlarmCorrupt)
}

func (m *AlarmResponse) fields(c *coder) {
	m.Header.fields(c)
	list(c, &m.Alarms)
}

func (m *StatusRequest) fields(c *coder) {}

func (m *StatusResponse) fields(c *coder) {
	m.Header.fields(c)
	c.str(&m.Version)
	c.varint(&m.DbSize)
	c.varint(&m.DbSizeInUse)
	c.uvarint(&m.Leader)
	c.uvarint(&m.RaftIndex)
	c.uvarint(&m.RaftTerm)
	c.uvarint(&m.RaftAppliedIndex)
	c.strs(&m.Errors)
	c.boolean(&m.IsLearner)
	if c.more() {
		c.str(&m.StorageVersion)
		c.varint(&m.DbSizeQuota)
	}
}

func (m *DefragmentRequest) fields(c *coder) {}

func (m *DefragmentResponse) fields(c *coder) { m.Header.fields(c) }

func (m *HashRequest) fields(c *coder) {}

func (m *HashResponse) fields(c *coder) {
	m.Header.fields(c)
	c.u32(&m.Hash)
}

func (m *HashKVRequest) fields(c *coder) { c.varint(&m.Revision) }

func (m *HashKVResponse) fields(c *coder) {
	m.Header.fields(c)
	c.u32(&m.Hash)
	c.varint(&m.CompactRevision)
	c.varint(&m.HashRevision)
}

func (m *SnapshotRequest) fields(c *coder) {}

func (m *SnapshotResponse) fields(c *coder) {
	m.Header.fields(c)
	c.uvarint(&m.RemainingBytes)
	c.bytes(&m.Blob)
	c.str(&m.Version)
}

func (m *MoveLeaderRequest) fields(c *coder) { c.uvarint(&m.TargetID) }

func (m *MoveLeaderResponse) fields(c *coder) { m.Header.fields(c) }
