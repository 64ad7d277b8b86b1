package auth

import (
	"slices"

	"github.com/cairndb/cairn/api"
)

// The changes of users, for Apply. Each works on a copy of the state
// (view.clone) and replaces a user it changes rather than modifying it,
// since older views may still be read.

func (v *view) userAdd(name string, password PasswordHash, noPassword bool) ([]string, error) {
	switch {
	case name == "":
		return nil, api.ErrUserEmpty
	case v.users[name] != nil:
		return nil, api.ErrUserAlreadyExist
	case !noPassword && password.IsZero():
		return nil, api.Errorf(api.CodeInvalidArgument, "auth: user %q needs a password (or NoPassword)", name)
	}
	u := &User{Name: name, NoPassword: noPassword}
	if !noPassword {
		u.Password = password
	}
	v.users[name] = u
	return []string{recUser + name}, nil
}

func (v *view) userDelete(name string) ([]string, error) {
	if v.enabled && name == RootUser {
		return nil, api.Errorf(api.CodeInvalidAuthMgmt, "auth: the root user cannot be deleted while auth is enabled")
	}
	if v.users[name] == nil {
		return nil, api.ErrUserNotFound
	}
	delete(v.users, name)
	return []string{recUser + name}, nil
}

func (v *view) userChangePassword(name string, password PasswordHash) ([]string, error) {
	u := v.users[name]
	if u == nil {
		return nil, api.ErrUserNotFound
	}
	if u.NoPassword {
		// As etcd's: a user made without a password keeps having none
		// (it authenticates by certificate); the change is applied all
		// the same (the revision moves, its tokens end).
		return []string{recUser + name}, nil
	}
	if password.IsZero() {
		return nil, api.Errorf(api.CodeInvalidArgument, "auth: password change of %q carries no password hash", name)
	}
	nu := *u
	nu.Password, nu.NoPassword = password, false
	v.users[name] = &nu
	return []string{recUser + name}, nil
}

// userGrantRole grants role, which must exist unless it is the root
// role (which need not be created).
func (v *view) userGrantRole(name, role string) ([]string, error) {
	u := v.users[name]
	if u == nil {
		return nil, api.ErrUserNotFound
	}
	if role != RootRole && v.roles[role] == nil {
		return nil, api.ErrRoleNotFound
	}
	if slices.Contains(u.Roles, role) {
		return nil, nil
	}
	nu := *u
	nu.Roles = append(slices.Clone(u.Roles), role)
	slices.Sort(nu.Roles)
	v.users[name] = &nu
	return []string{recUser + name}, nil
}

func (v *view) userRevokeRole(name, role string) ([]string, error) {
	if v.enabled && name == RootUser && role == RootRole {
		return nil, api.Errorf(api.CodeInvalidAuthMgmt, "auth: the root role cannot be revoked from the root user while auth is enabled")
	}
	u := v.users[name]
	if u == nil {
		return nil, api.ErrUserNotFound
	}
	if !v.dropRole(name, role) {
		return nil, api.ErrRoleNotGranted
	}
	return []string{recUser + name}, nil
}

// dropRole takes role away from user name (which exists), reporting
// whether the user held it.
func (v *view) dropRole(name, role string) bool {
	u := v.users[name]
	i := slices.Index(u.Roles, role)
	if i < 0 {
		return false
	}
	nu := *u
	nu.Roles = slices.Delete(slices.Clone(u.Roles), i, i+1)
	v.users[name] = &nu
	return true
}
