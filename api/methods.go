package api

// Method numbers the calls of cairn's services on the wire (the rpc
// layer routes on them). They are part of the wire contract: never
// renumber or reuse one. Unary calls carry one request and one response;
// the streaming calls are marked.
const (
	// KV service.
	MethodRange       uint16 = 1
	MethodPut         uint16 = 2
	MethodDeleteRange uint16 = 3
	MethodTxn         uint16 = 4
	MethodCompact     uint16 = 5

	// Watch service: a bidirectional stream of WatchRequest in,
	// WatchResponse out.
	MethodWatch uint16 = 10

	// Lease service. LeaseKeepAlive is a bidirectional stream of
	// LeaseKeepAliveRequest in, LeaseKeepAliveResponse out.
	MethodLeaseGrant      uint16 = 20
	MethodLeaseRevoke     uint16 = 21
	MethodLeaseKeepAlive  uint16 = 22
	MethodLeaseTimeToLive uint16 = 23
	MethodLeaseLeases     uint16 = 24

	// Cluster service.
	MethodMemberAdd     uint16 = 30
	MethodMemberRemove  uint16 = 31
	MethodMemberUpdate  uint16 = 32
	MethodMemberList    uint16 = 33
	MethodMemberPromote uint16 = 34

	// Maintenance service. Snapshot is a server stream of
	// SnapshotResponse chunks after one SnapshotRequest.
	MethodAlarm      uint16 = 40
	MethodStatus     uint16 = 41
	MethodDefragment uint16 = 42
	MethodHash       uint16 = 43
	MethodHashKV     uint16 = 44
	MethodSnapshot   uint16 = 45
	MethodMoveLeader uint16 = 46

	// Auth service.
	MethodAuthEnable           uint16 = 50
	MethodAuthDisable          uint16 = 51
	MethodAuthStatus           uint16 = 52
	MethodAuthenticate         uint16 = 53
	MethodUserAdd              uint16 = 54
	MethodUserGet              uint16 = 55
	MethodUserList             uint16 = 56
	MethodUserDelete           uint16 = 57
	MethodUserChangePassword   uint16 = 58
	MethodUserGrantRole        uint16 = 59
	MethodUserRevokeRole       uint16 = 60
	MethodRoleAdd              uint16 = 61
	MethodRoleGet              uint16 = 62
	MethodRoleList             uint16 = 63
	MethodRoleDelete           uint16 = 64
	MethodRoleGrantPermission  uint16 = 65
	MethodRoleRevokePermission uint16 = 66
)

// Peer methods (member to member) start at 1000; the server package
// defines them.
