package auth

import (
	"bytes"
	"maps"
	"slices"

	"github.com/cairndb/cairn/api"
)

// MinSigningKeySize is the shortest signing key AuthEnable accepts.
const MinSigningKeySize = 32

// Apply applies one command: it checks the command against the state
// (etcd's rules: AuthEnable needs the root user holding the root role;
// while auth is on, the root user cannot be deleted nor lose the root
// role, and the root role cannot be deleted), writes the changed records
// to w and makes the change visible. Every change advances the revision
// by one; a command that changes nothing (enabling twice, granting a
// role already held) leaves it. The error is the request's outcome (an
// *api.Error), or a failure of w.
//
// Apply does no hashing and reads no clock or randomness: applying the
// same commands to the same state gives the same state on every member.
func (s *State) Apply(c *Command, w Records) error {
	old := s.v.Load()
	v := old.clone()
	var changed []string // record keys to write
	switch c.Op {
	case OpEnable:
		if v.enabled {
			return nil
		}
		root := v.users[RootUser]
		if root == nil {
			return api.ErrRootUserNotExist
		}
		if !slices.Contains(root.Roles, RootRole) {
			return api.ErrRootRoleNotExist
		}
		if len(v.signingKey) == 0 {
			if len(c.SigningKey) < MinSigningKeySize {
				return api.Errorf(api.CodeInvalidArgument, "auth: enable carries a signing key of %d bytes, want at least %d", len(c.SigningKey), MinSigningKeySize)
			}
			v.signingKey = slices.Clone(c.SigningKey)
			changed = append(changed, recSigningKey)
		}
		v.enabled = true
		changed = append(changed, recEnabled)
	case OpDisable:
		if !v.enabled {
			return nil
		}
		v.enabled = false
		changed = append(changed, recEnabled)
	case OpUserAdd:
		switch {
		case c.Name == "":
			return api.ErrUserEmpty
		case v.users[c.Name] != nil:
			return api.ErrUserAlreadyExist
		case !c.NoPassword && c.Password.Iterations == 0:
			return api.Errorf(api.CodeInvalidArgument, "auth: user %q needs a password (or NoPassword)", c.Name)
		}
		u := &User{Name: c.Name, NoPassword: c.NoPassword}
		if !c.NoPassword {
			u.Password = c.Password
		}
		v.users[c.Name] = u
		changed = append(changed, recUser+c.Name)
	case OpUserDelete:
		if v.enabled && c.Name == RootUser {
			return api.Errorf(api.CodeInvalidAuthMgmt, "auth: the root user cannot be deleted while auth is enabled")
		}
		if v.users[c.Name] == nil {
			return api.ErrUserNotFound
		}
		delete(v.users, c.Name)
		changed = append(changed, recUser+c.Name)
	case OpUserChangePassword:
		u := v.users[c.Name]
		if u == nil {
			return api.ErrUserNotFound
		}
		if c.Password.Iterations == 0 {
			return api.Errorf(api.CodeInvalidArgument, "auth: password change of %q carries no password hash", c.Name)
		}
		nu := *u
		nu.Password, nu.NoPassword = c.Password, false
		v.users[c.Name] = &nu
		changed = append(changed, recUser+c.Name)
	case OpUserGrantRole:
		u := v.users[c.Name]
		if u == nil {
			return api.ErrUserNotFound
		}
		if c.Role != RootRole && v.roles[c.Role] == nil {
			return api.ErrRoleNotFound
		}
		if slices.Contains(u.Roles, c.Role) {
			return nil
		}
		nu := *u
		nu.Roles = append(slices.Clone(u.Roles), c.Role)
		slices.Sort(nu.Roles)
		v.users[c.Name] = &nu
		changed = append(changed, recUser+c.Name)
	case OpUserRevokeRole:
		if v.enabled && c.Name == RootUser && c.Role == RootRole {
			return api.Errorf(api.CodeInvalidAuthMgmt, "auth: the root role cannot be revoked from the root user while auth is enabled")
		}
		u := v.users[c.Name]
		if u == nil {
			return api.ErrUserNotFound
		}
		i := slices.Index(u.Roles, c.Role)
		if i < 0 {
			return api.ErrRoleNotGranted
		}
		nu := *u
		nu.Roles = slices.Delete(slices.Clone(u.Roles), i, i+1)
		v.users[c.Name] = &nu
		changed = append(changed, recUser+c.Name)
	case OpRoleAdd:
		switch {
		case c.Name == "":
			return api.ErrRoleEmpty
		case v.roles[c.Name] != nil:
			return api.ErrRoleAlreadyExist
		}
		v.roles[c.Name] = &Role{Name: c.Name}
		changed = append(changed, recRole+c.Name)
	case OpRoleDelete:
		if v.enabled && c.Name == RootRole {
			return api.Errorf(api.CodeInvalidAuthMgmt, "auth: the root role cannot be deleted while auth is enabled")
		}
		if v.roles[c.Name] == nil {
			return api.ErrRoleNotFound
		}
		delete(v.roles, c.Name)
		changed = append(changed, recRole+c.Name)
		// Revoke it from every user that holds it.
		for _, name := range slices.Sorted(maps.Keys(v.users)) {
			u := v.users[name]
			if i := slices.Index(u.Roles, c.Name); i >= 0 {
				nu := *u
				nu.Roles = slices.Delete(slices.Clone(u.Roles), i, i+1)
				v.users[name] = &nu
				changed = append(changed, recUser+name)
			}
		}
	case OpRoleGrantPermission:
		r := v.roles[c.Name]
		if r == nil {
			return api.ErrRoleNotFound
		}
		p := c.Perm
		if p.PermType > api.PermReadWrite {
			return api.Errorf(api.CodeInvalidArgument, "auth: permission type %d is not read, write or readwrite", p.PermType)
		}
		if _, ok := toInterval(p.Key, p.RangeEnd); !ok {
			return api.Errorf(api.CodeInvalidArgument, "auth: permission on %s holds no key", DescribeRange(p.Key, p.RangeEnd))
		}
		nr := &Role{Name: r.Name, Perms: slices.Clone(r.Perms)}
		i, found := slices.BinarySearchFunc(nr.Perms, p, comparePerm)
		p = api.Permission{PermType: p.PermType, Key: slices.Clone(p.Key), RangeEnd: slices.Clone(p.RangeEnd)}
		if found {
			if nr.Perms[i].PermType == p.PermType {
				return nil
			}
			nr.Perms[i] = p
		} else {
			nr.Perms = slices.Insert(nr.Perms, i, p)
		}
		v.roles[c.Name] = nr
		changed = append(changed, recRole+c.Name)
	case OpRoleRevokePermission:
		r := v.roles[c.Name]
		if r == nil {
			return api.ErrRoleNotFound
		}
		i, found := slices.BinarySearchFunc(r.Perms, c.Perm, comparePerm)
		if !found {
			return api.ErrPermissionNotGranted
		}
		v.roles[c.Name] = &Role{Name: r.Name, Perms: slices.Delete(slices.Clone(r.Perms), i, i+1)}
		changed = append(changed, recRole+c.Name)
	case OpIssueToken:
		// No change: the token lives in members' memory. It is refused if
		// the state moved since the password was checked.
		switch {
		case !v.enabled:
			return api.ErrAuthNotEnabled
		case c.Revision != v.revision:
			return api.ErrAuthOldRevision
		case v.users[c.Name] == nil:
			return api.ErrAuthFailed
		}
		return nil
	default:
		return api.Errorf(api.CodeInvalidArgument, "auth: unknown command %v", c.Op)
	}
	v.revision++
	changed = append(changed, recRevision)
	for _, k := range changed {
		if err := w.Put(k, v.record(k)); err != nil {
			return err
		}
	}
	s.v.Store(derive(v))
	return nil
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

// comparePerm orders permissions by key then range end.
func comparePerm(a, b api.Permission) int {
	if c := bytes.Compare(a.Key, b.Key); c != 0 {
		return c
	}
	return bytes.Compare(a.RangeEnd, b.RangeEnd)
}
