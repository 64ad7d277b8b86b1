package replica

// CommandName names the request a log command carries, for the "op"
// label and the log: the inner request of an authenticated or internal
// command.
func CommandName(data []byte) string {
	if len(data) == 0 {
		return "Empty"
	}
	switch requestKind(data[0]) {
	case kindAuthed:
		if _, inner, err := decodeAuthed(data[1:]); err == nil {
			return CommandName(inner)
		}
		return "Authed"
	case kindInternal:
		return CommandName(data[1:])
	}
	return requestKind(data[0]).String()
}

// String names a kind of command after the request it carries.
func (k requestKind) String() string {
	switch k {
	case kindPut:
		return "Put"
	case kindDeleteRange:
		return "DeleteRange"
	case kindTxn:
		return "Txn"
	case kindCompaction:
		return "Compaction"
	case kindLeaseGrant:
		return "LeaseGrant"
	case kindLeaseRevoke:
		return "LeaseRevoke"
	case kindMemberAttrs:
		return "MemberAttributes"
	case kindMemberUpdate:
		return "MemberUpdate"
	case kindAlarm:
		return "Alarm"
	case kindAuth:
		return "Auth"
	}
	return "Unknown"
}
