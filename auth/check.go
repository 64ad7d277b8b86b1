package auth

import (
	"fmt"

	"github.com/cairndb/cairn/api"
)

// Identity is who makes a request: a user, and the auth revision the
// user's token was issued at. Revision 0 means the identity carries no
// revision (a client certificate's common name): it is checked against
// the current state only.
type Identity struct {
	User     string
	Revision uint64
}

// Every check below passes when auth is disabled. Otherwise it first
// checks the identity: a user must be named (api.ErrUserEmpty), the
// revision it carries must not predate the current one
// (api.ErrAuthOldRevision: a signed token issued before an auth change,
// or a request checked before one and applied after; the client
// authenticates again, or retries), and the user must exist
// (api.ErrPermissionDenied). A simple token's identity carries the
// revision of the member that took the call (node: such a token stands
// for its user until it ends, as etcd's).

// identify checks id against v; root reports whether the user holds the
// root role.
func (v *view) identify(id Identity) (root bool, err error) {
	switch {
	case id.User == "":
		return false, api.ErrUserEmpty
	case id.Revision != 0 && id.Revision < v.revision:
		return false, api.ErrAuthOldRevision
	case v.users[id.User] == nil:
		return false, api.Errorf(api.CodePermissionDenied, "etcdserver: permission denied: user %q does not exist", id.User)
	}
	return v.root[id.User], nil
}

// CheckUser checks only the identity: for calls any user may make
// (granting a lease, keeping it alive, listing alarms).
func (s *State) CheckUser(id Identity) error {
	v := s.v.Load()
	if !v.enabled {
		return nil
	}
	_, err := v.identify(id)
	return err
}

// CheckAdmin allows only users holding the root role.
func (s *State) CheckAdmin(id Identity) error {
	v := s.v.Load()
	if !v.enabled {
		return nil
	}
	return v.checkAdmin(id)
}

func (v *view) checkAdmin(id Identity) error {
	root, err := v.identify(id)
	if err != nil || root {
		return err
	}
	return api.Errorf(api.CodePermissionDenied, "etcdserver: permission denied: user %q does not hold the root role", id.User)
}

// CheckRange checks that the user may read (PermRead) or write
// (PermWrite) every key of [key, end).
func (s *State) CheckRange(id Identity, perm api.PermType, key, end []byte) error {
	v := s.v.Load()
	if !v.enabled {
		return nil
	}
	root, err := v.identify(id)
	if err != nil || root {
		return err
	}
	return v.checkRange(id.User, perm, key, end)
}

func (v *view) checkRange(user string, perm api.PermType, key, end []byte) error {
	set, verb := v.read[user], "read"
	if perm == api.PermWrite {
		set, verb = v.write[user], "write"
	}
	if set.covers(key, end) {
		return nil
	}
	return api.Errorf(api.CodePermissionDenied, "etcdserver: permission denied: user %q may not %s %s", user, verb, DescribeRange(key, end))
}

// CheckKeys checks that the user may read or write every one of keys
// (the keys attached to a lease).
func (s *State) CheckKeys(id Identity, perm api.PermType, keys [][]byte) error {
	v := s.v.Load()
	if !v.enabled {
		return nil
	}
	root, err := v.identify(id)
	if err != nil || root {
		return err
	}
	for _, k := range keys {
		if err := v.checkRange(id.User, perm, k, nil); err != nil {
			return err
		}
	}
	return nil
}

// CheckRequest checks a key-value request: a Range needs read on its
// range; a Put or DeleteRange write on its range, and read too when it
// asks for the previous values; a Txn needs read on the range of every
// compare and everything its operations need, in both branches
// (whichever runs, the request may not learn or change what the user
// may not); a Compaction discards history of every key, so it needs
// write on all keys; a LeaseGrant needs only a user. Any other request
// is an administrator's.
func (s *State) CheckRequest(id Identity, req api.Message) error {
	v := s.v.Load()
	if !v.enabled {
		return nil
	}
	root, err := v.identify(id)
	if err != nil || root {
		return err
	}
	switch r := req.(type) {
	case *api.LeaseGrantRequest:
		return nil
	case *api.CompactionRequest:
		return v.checkRange(id.User, api.PermWrite, []byte{0}, []byte{0})
	case *api.RangeRequest, *api.PutRequest, *api.DeleteRangeRequest, *api.TxnRequest:
		return v.checkKV(id.User, r)
	}
	return v.checkAdmin(id)
}

func (v *view) checkKV(user string, req api.Message) error {
	switch r := req.(type) {
	case *api.RangeRequest:
		return v.checkRange(user, api.PermRead, r.Key, r.RangeEnd)
	case *api.PutRequest:
		if r.PrevKv {
			if err := v.checkRange(user, api.PermRead, r.Key, nil); err != nil {
				return err
			}
		}
		return v.checkRange(user, api.PermWrite, r.Key, nil)
	case *api.DeleteRangeRequest:
		if r.PrevKv {
			if err := v.checkRange(user, api.PermRead, r.Key, r.RangeEnd); err != nil {
				return err
			}
		}
		return v.checkRange(user, api.PermWrite, r.Key, r.RangeEnd)
	case *api.TxnRequest:
		for _, c := range r.Compare {
			if err := v.checkRange(user, api.PermRead, c.Key, c.RangeEnd); err != nil {
				return err
			}
		}
		for _, ops := range [][]api.RequestOp{r.Success, r.Failure} {
			for _, op := range ops {
				// A nested transaction is checked whole, compares included.
				if sub := op.Request(); sub != nil {
					if err := v.checkKV(user, sub); err != nil {
						return err
					}
				}
			}
		}
		return nil
	}
	return fmt.Errorf("auth: %T is not a key-value request", req)
}

// CheckCommand checks an auth command: administrators only, except that
// users may change their own password.
func (s *State) CheckCommand(id Identity, c *Command) error {
	return s.v.Load().checkSelfOrAdmin(id, c.Op == OpUserChangePassword && c.Name == id.User)
}

// CheckUserGet allows an administrator, or a user asking about itself.
func (s *State) CheckUserGet(id Identity, name string) error {
	return s.v.Load().checkSelfOrAdmin(id, name == id.User)
}

// checkSelfOrAdmin allows an administrator, or, when self says the call
// concerns only the caller, any authenticated user.
func (v *view) checkSelfOrAdmin(id Identity, self bool) error {
	if !v.enabled {
		return nil
	}
	if self {
		_, err := v.identify(id)
		return err
	}
	return v.checkAdmin(id)
}

// CheckRoleGet allows an administrator, or a user holding the role.
func (s *State) CheckRoleGet(id Identity, role string) error {
	v := s.v.Load()
	if !v.enabled {
		return nil
	}
	if _, err := v.identify(id); err != nil {
		return err
	}
	if u := v.users[id.User]; u != nil {
		for _, r := range u.Roles {
			if r == role {
				return nil
			}
		}
	}
	return v.checkAdmin(id)
}

// DescribeRange writes a key range for people and logs: `key "a"`,
// `keys from "a"`, `keys ["a", "b")`.
func DescribeRange(key, end []byte) string {
	switch {
	case len(end) == 0:
		return fmt.Sprintf("key %q", key)
	case len(end) == 1 && end[0] == 0:
		return fmt.Sprintf("keys from %q", key)
	}
	return fmt.Sprintf("keys [%q, %q)", key, end)
}
