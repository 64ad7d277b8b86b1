package auth

import (
	"slices"

	"github.com/cairndb/cairn/api"
)

// MinSigningKeySize is the shortest signing key AuthEnable accepts.
const MinSigningKeySize = 32

// Apply applies one command: it checks the command against the state
// (etcd's rules: AuthEnable needs the root user holding the root role;
// while auth is on, the root user cannot be deleted nor lose the root
// role, and the root role cannot be deleted), writes the changed records
// to w and makes the change visible. Every change but enabling advances
// the revision by one, as etcd's does (etcdctl auth status shows it); a
// command that changes nothing (enabling twice, granting a role already
// held) leaves it, but a grant of a permission the role holds counts as a
// change, as in etcd. The error is the request's outcome (an
// *api.Error), or a failure of w.
//
// Apply does no hashing and reads no clock or randomness: applying the
// same commands to the same state gives the same state on every member.
func (s *State) Apply(c *Command, w Records) error {
	v := s.v.Load().clone()
	changed, err := v.change(c)
	if err != nil || len(changed) == 0 {
		return err
	}
	if c.Op != OpEnable {
		v.revision++
		changed = append(changed, recRevision)
	}
	for _, k := range changed {
		if err := w.Put(k, v.record(k)); err != nil {
			return err
		}
	}
	s.v.Store(derive(v))
	return nil
}

// change applies c to v, a copy nobody else sees, and returns the keys
// of the records it changed: none when c changes nothing.
func (v *view) change(c *Command) (changed []string, err error) {
	switch c.Op {
	case OpEnable:
		return v.enable(c.SigningKey)
	case OpDisable:
		if !v.enabled {
			return nil, nil
		}
		v.enabled = false
		return []string{recEnabled}, nil
	case OpUserAdd:
		return v.userAdd(c.Name, c.Password, c.NoPassword)
	case OpUserDelete:
		return v.userDelete(c.Name)
	case OpUserChangePassword:
		return v.userChangePassword(c.Name, c.Password)
	case OpUserGrantRole:
		return v.userGrantRole(c.Name, c.Role)
	case OpUserRevokeRole:
		return v.userRevokeRole(c.Name, c.Role)
	case OpRoleAdd:
		return v.roleAdd(c.Name)
	case OpRoleDelete:
		return v.roleDelete(c.Name)
	case OpRoleGrantPermission:
		return v.roleGrantPermission(c.Name, c.Perm)
	case OpRoleRevokePermission:
		return v.roleRevokePermission(c.Name, c.Perm)
	case OpIssueToken:
		// No change: the token lives in members' memory. It is refused if
		// the state moved since the password was checked.
		switch {
		case !v.enabled:
			return nil, api.ErrAuthNotEnabled
		case c.Revision != v.revision:
			return nil, api.ErrAuthOldRevision
		case v.users[c.Name] == nil:
			return nil, api.ErrAuthFailed
		}
		return nil, nil
	}
	return nil, api.Errorf(api.CodeInvalidArgument, "auth: unknown command %v", c.Op)
}

// enable turns auth on, keeping signingKey if the state has no key yet.
func (v *view) enable(signingKey []byte) ([]string, error) {
	if v.enabled {
		return nil, nil
	}
	root := v.users[RootUser]
	if root == nil {
		return nil, api.ErrRootUserNotExist
	}
	if !slices.Contains(root.Roles, RootRole) {
		return nil, api.ErrRootRoleNotExist
	}
	var changed []string
	if len(v.signingKey) == 0 {
		if len(signingKey) < MinSigningKeySize {
			return nil, api.Errorf(api.CodeInvalidArgument, "auth: enable carries a signing key of %d bytes, want at least %d", len(signingKey), MinSigningKeySize)
		}
		v.signingKey = slices.Clone(signingKey)
		changed = append(changed, recSigningKey)
	}
	v.enabled = true
	return append(changed, recEnabled), nil
}

// record is the encoded value of the record with key k in v (nil when
// it no longer exists).
func (v *view) record(k string) []byte {
	switch {
	case k == recEnabled:
		if v.enabled {
			return []byte{1}
		}
		return []byte{0}
	case k == recRevision:
		var e encoder
		e.uvarint(v.revision)
		return e.b
	case k == recSigningKey:
		return v.signingKey
	case len(k) > len(recUser) && k[:len(recUser)] == recUser:
		if u := v.users[k[len(recUser):]]; u != nil {
			return encodeUser(u)
		}
	case len(k) > len(recRole) && k[:len(recRole)] == recRole:
		if r := v.roles[k[len(recRole):]]; r != nil {
			return encodeRole(r)
		}
	}
	return nil
}
