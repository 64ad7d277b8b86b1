package auth

import (
	"fmt"

	"github.com/cairndb/cairn/api"
)

// Op is the kind of a Command.
type Op uint8

// The operations. Their numbers are part of the raft log's format: never
// renumber or reuse one.
const (
	OpEnable Op = iota + 1
	OpDisable
	OpUserAdd
	OpUserDelete
	OpUserChangePassword
	OpUserGrantRole
	OpUserRevokeRole
	OpRoleAdd
	OpRoleDelete
	OpRoleGrantPermission
	OpRoleRevokePermission
	// OpIssueToken tells every member of a simple token, issued by the
	// member that checked the user's password.
	OpIssueToken
)

// String is the op's name ("UserAdd").
func (o Op) String() string {
	switch o {
	case OpEnable:
		return "AuthEnable"
	case OpDisable:
		return "AuthDisable"
	case OpUserAdd:
		return "UserAdd"
	case OpUserDelete:
		return "UserDelete"
	case OpUserChangePassword:
		return "UserChangePassword"
	case OpUserGrantRole:
		return "UserGrantRole"
	case OpUserRevokeRole:
		return "UserRevokeRole"
	case OpRoleAdd:
		return "RoleAdd"
	case OpRoleDelete:
		return "RoleDelete"
	case OpRoleGrantPermission:
		return "RoleGrantPermission"
	case OpRoleRevokePermission:
		return "RoleRevokePermission"
	case OpIssueToken:
		return "IssueToken"
	}
	return fmt.Sprintf("Op(%d)", uint8(o))
}

// Command is one change of the auth state, as replicated through raft.
// Only the fields of its Op are used.
type Command struct {
	Op Op
	// Name is the user (user ops, IssueToken) or role (role ops).
	Name string
	// Role is the role granted or revoked (UserGrantRole,
	// UserRevokeRole).
	Role string
	// Password is the new password's hash (UserAdd unless NoPassword,
	// UserChangePassword), computed by the member that proposes.
	Password   PasswordHash
	NoPassword bool
	// Perm is the permission granted (RoleGrantPermission); its Key and
	// RangeEnd name the one revoked (RoleRevokePermission).
	Perm api.Permission
	// SigningKey is a fresh random key for signed tokens (AuthEnable),
	// kept only if the state has none yet.
	SigningKey []byte
	// Token and Revision are a simple token's hash (HashSimpleToken:
	// the log never holds the token itself) and the auth revision the
	// user's password was checked at (IssueToken).
	Token    string
	Revision uint64
}

// Marshal encodes c for the raft log.
func (c *Command) Marshal() []byte {
	var e encoder
	e.uvarint(uint64(c.Op))
	e.str(c.Name)
	e.str(c.Role)
	if !c.Password.IsZero() {
		e.str(c.Password.String())
	} else {
		e.str("")
	}
	e.boolean(c.NoPassword)
	e.uvarint(uint64(c.Perm.PermType))
	e.bytes(c.Perm.Key)
	e.bytes(c.Perm.RangeEnd)
	e.bytes(c.SigningKey)
	e.str(c.Token)
	e.uvarint(c.Revision)
	return e.b
}

// UnmarshalCommand decodes what Marshal wrote; any input gives a command
// or an error, never a panic.
func UnmarshalCommand(b []byte) (*Command, error) {
	d := decoder{b: b}
	c := &Command{}
	op := d.uvarint()
	c.Name = d.str()
	c.Role = d.str()
	hash := d.str()
	c.NoPassword = d.boolean()
	pt := d.uvarint()
	c.Perm.Key = d.bytes()
	c.Perm.RangeEnd = d.bytes()
	c.SigningKey = d.bytes()
	c.Token = d.str()
	c.Revision = d.uvarint()
	if err := d.done(); err != nil {
		return nil, fmt.Errorf("auth: command: %w", err)
	}
	if op == 0 || op > uint64(OpIssueToken) {
		return nil, fmt.Errorf("auth: command has unknown op %d", op)
	}
	c.Op = Op(op)
	if pt > uint64(api.PermReadWrite) {
		return nil, fmt.Errorf("auth: command has unknown permission type %d", pt)
	}
	c.Perm.PermType = api.PermType(pt)
	if hash != "" {
		h, err := ParsePasswordHash(hash)
		if err != nil {
			return nil, fmt.Errorf("auth: command: %w", err)
		}
		c.Password = h
	}
	return c, nil
}
