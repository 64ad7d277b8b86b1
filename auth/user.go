package auth

import "slices"

// User returns a copy of the user named name, with its password hash,
// and whether it exists: what a snapshot in another format (an etcd
// one, package etcdsnap) must carry over of it.
func (s *State) User(name string) (User, bool) {
	u := s.v.Load().users[name]
	if u == nil {
		return User{}, false
	}
	c := *u
	c.Roles = slices.Clone(u.Roles)
	return c, true
}
