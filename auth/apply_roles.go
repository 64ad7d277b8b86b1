package auth

import (
	"bytes"
	"maps"
	"slices"

	"github.com/cairndb/cairn/api"
)

// The changes of roles, for Apply. Each works on a copy of the state
// (view.clone) and replaces a role or user it changes rather than
// modifying it, since older views may still be read.

func (v *view) roleAdd(name string) ([]string, error) {
	switch {
	case name == "":
		return nil, api.ErrRoleEmpty
	case v.roles[name] != nil:
		return nil, api.ErrRoleAlreadyExist
	}
	v.roles[name] = &Role{Name: name}
	return []string{recRole + name}, nil
}

// roleDelete deletes a role and revokes it from every user holding it.
func (v *view) roleDelete(name string) ([]string, error) {
	if v.enabled && name == RootRole {
		return nil, api.Errorf(api.CodeInvalidAuthMgmt, "auth: the root role cannot be deleted while auth is enabled")
	}
	if v.roles[name] == nil {
		return nil, api.ErrRoleNotFound
	}
	delete(v.roles, name)
	changed := []string{recRole + name}
	for _, user := range slices.Sorted(maps.Keys(v.users)) {
		if v.dropRole(user, name) {
			changed = append(changed, recUser+user)
		}
	}
	return changed, nil
}

// roleGrantPermission adds p to a role, or changes the type of the
// permission the role has on the same range.
func (v *view) roleGrantPermission(name string, p api.Permission) ([]string, error) {
	// The range is checked before the role, with etcd's error, as etcd
	// checks it.
	if _, ok := toInterval(p.Key, p.RangeEnd); !ok {
		return nil, api.Errorf(api.CodeInvalidAuthMgmt, "auth: permission on %s holds no key", DescribeRange(p.Key, p.RangeEnd))
	}
	r := v.roles[name]
	if r == nil {
		return nil, api.ErrRoleNotFound
	}
	if p.PermType > api.PermReadWrite {
		return nil, api.Errorf(api.CodeInvalidArgument, "auth: permission type %d is not read, write or readwrite", p.PermType)
	}
	nr := &Role{Name: r.Name, Perms: slices.Clone(r.Perms)}
	i, found := slices.BinarySearchFunc(nr.Perms, p, comparePerm)
	p = api.Permission{PermType: p.PermType, Key: slices.Clone(p.Key), RangeEnd: slices.Clone(p.RangeEnd)}
	if found {
		// The same permission again is written again, and moves the
		// revision, as in etcd.
		nr.Perms[i] = p
	} else {
		nr.Perms = slices.Insert(nr.Perms, i, p)
	}
	v.roles[name] = nr
	return []string{recRole + name}, nil
}

// roleRevokePermission removes the role's permission on exactly the
// range of p (its type does not matter).
func (v *view) roleRevokePermission(name string, p api.Permission) ([]string, error) {
	r := v.roles[name]
	if r == nil {
		return nil, api.ErrRoleNotFound
	}
	i, found := slices.BinarySearchFunc(r.Perms, p, comparePerm)
	if !found {
		return nil, api.ErrPermissionNotGranted
	}
	v.roles[name] = &Role{Name: r.Name, Perms: slices.Delete(slices.Clone(r.Perms), i, i+1)}
	return []string{recRole + name}, nil
}

// comparePerm orders permissions by key then range end.
func comparePerm(a, b api.Permission) int {
	if c := bytes.Compare(a.Key, b.Key); c != 0 {
		return c
	}
	return bytes.Compare(a.RangeEnd, b.RangeEnd)
}
