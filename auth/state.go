package auth

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/cairndb/cairn/api"
)

// The root user and role. The root role grants everything (it need not
// be created to be granted); auth can be enabled only when the root user
// exists and holds it.
const (
	RootUser = "root"
	RootRole = "root"
)

// User is a user as the state keeps it.
type User struct {
	Name string
	// Password is the hash of the user's password; zero when NoPassword.
	Password PasswordHash
	// NoPassword users cannot authenticate with a password (only with a
	// client certificate whose common name is their name).
	NoPassword bool
	// Roles are the names of the roles granted, sorted.
	Roles []string
}

// Role is a named set of permissions.
type Role struct {
	Name string
	// Perms are sorted by key then range end; no two have the same range.
	Perms []api.Permission
}

// Record is one persisted record: Key is relative to where the caller
// keeps the auth records.
type Record struct {
	Key   string
	Value []byte
}

// Records is where Apply writes the records it changes: the node's
// replicated, durable table, inside the transaction of the raft entry
// being applied. A nil value deletes the record.
type Records interface {
	Put(key string, value []byte) error
}

// Keys of the persisted records.
const (
	recEnabled    = "enabled"
	recRevision   = "revision"
	recSigningKey = "signing-key"
	recUser       = "user/" // + name
	recRole       = "role/" // + name
)

// view is one immutable version of the state; a change builds a new
// view and swaps it in, so readers never lock.
type view struct {
	enabled    bool
	revision   uint64
	signingKey []byte
	users      map[string]*User
	roles      map[string]*Role
	// Derived from users and roles: each user's readable and writable
	// keys, and whether the user holds the root role.
	read, write map[string]rangeSet
	root        map[string]bool
}

// State is the replicated auth state of a member. Apply and Load come
// from the goroutine applying the raft log; every other method may be
// called from any goroutine.
type State struct {
	v atomic.Pointer[view]
}

// FirstRevision is the auth revision of a state no change has touched:
// etcd's starts at 1, and etcdctl auth status shows it.
const FirstRevision = 1

// New returns an empty state: auth disabled, no users, no roles, at
// FirstRevision.
func New() *State {
	s := &State{}
	s.v.Store(derive(&view{revision: FirstRevision, users: map[string]*User{}, roles: map[string]*Role{}}))
	return s
}

// derive computes a view's permission sets from its users and roles.
func derive(v *view) *view {
	v.read, v.write, v.root = map[string]rangeSet{}, map[string]rangeSet{}, map[string]bool{}
	for name, u := range v.users {
		var r, w []interval
		for _, rn := range u.Roles {
			if rn == RootRole {
				v.root[name] = true
			}
			role := v.roles[rn]
			if role == nil {
				continue
			}
			for _, p := range role.Perms {
				iv, ok := toInterval(p.Key, p.RangeEnd)
				if !ok {
					continue
				}
				if p.PermType == api.PermRead || p.PermType == api.PermReadWrite {
					r = append(r, iv)
				}
				if p.PermType == api.PermWrite || p.PermType == api.PermReadWrite {
					w = append(w, iv)
				}
			}
		}
		v.read[name], v.write[name] = newRangeSet(r), newRangeSet(w)
	}
	return v
}

// clone copies a view's maps for a change (users and roles themselves
// are replaced, never modified in place).
func (v *view) clone() *view {
	return &view{enabled: v.enabled, revision: v.revision, signingKey: v.signingKey,
		users: maps.Clone(v.users), roles: maps.Clone(v.roles)}
}

// Enabled reports whether authentication is on.
func (s *State) Enabled() bool { return s.v.Load().enabled }

// Revision is the auth revision: FirstRevision plus the number of
// changes applied so far.
func (s *State) Revision() uint64 { return s.v.Load().revision }

// SigningKey is the key signed tokens are made with (nil until auth was
// first enabled).
func (s *State) SigningKey() []byte { return s.v.Load().signingKey }

// Users lists the user names, sorted.
func (s *State) Users() []string { return slices.Sorted(maps.Keys(s.v.Load().users)) }

// Roles lists the role names, sorted.
func (s *State) Roles() []string { return slices.Sorted(maps.Keys(s.v.Load().roles)) }

// UserRoles returns the roles granted to a user.
func (s *State) UserRoles(name string) ([]string, error) {
	u := s.v.Load().users[name]
	if u == nil {
		return nil, api.ErrUserNotFound
	}
	return slices.Clone(u.Roles), nil
}

// RolePerms returns the permissions of a role. The root role, created
// or not, reads and writes every key: from the empty key on, as etcd
// shows it (etcdctl role get root prints "[, <open ended>").
func (s *State) RolePerms(name string) ([]api.Permission, error) {
	if name == RootRole {
		return []api.Permission{{PermType: api.PermReadWrite, Key: []byte{}, RangeEnd: []byte{0}}}, nil
	}
	r := s.v.Load().roles[name]
	if r == nil {
		return nil, api.ErrRoleNotFound
	}
	return slices.Clone(r.Perms), nil
}

// Load replaces the state with the one the records describe (at start,
// and after a snapshot replaced the store).
func (s *State) Load(recs []Record) error {
	// No revision record: no change was ever applied.
	v := &view{revision: FirstRevision, users: map[string]*User{}, roles: map[string]*Role{}}
	for _, r := range recs {
		var err error
		switch {
		case r.Key == recEnabled:
			v.enabled = len(r.Value) == 1 && r.Value[0] == 1
		case r.Key == recRevision:
			d := decoder{b: r.Value}
			v.revision = d.uvarint()
			err = d.done()
		case r.Key == recSigningKey:
			v.signingKey = slices.Clone(r.Value)
		case strings.HasPrefix(r.Key, recUser):
			var u *User
			if u, err = decodeUser(r.Key[len(recUser):], r.Value); err == nil {
				v.users[u.Name] = u
			}
		case strings.HasPrefix(r.Key, recRole):
			var ro *Role
			if ro, err = decodeRole(r.Key[len(recRole):], r.Value); err == nil {
				v.roles[ro.Name] = ro
			}
		default:
			err = fmt.Errorf("auth: unknown record")
		}
		if err != nil {
			return fmt.Errorf("auth: record %q: %w", r.Key, err)
		}
	}
	s.v.Store(derive(v))
	return nil
}

func encodeUser(u *User) []byte {
	var e encoder
	if u.NoPassword {
		e.str("")
	} else {
		e.str(u.Password.String())
	}
	e.boolean(u.NoPassword)
	e.uvarint(uint64(len(u.Roles)))
	for _, r := range u.Roles {
		e.str(r)
	}
	return e.b
}

func decodeUser(name string, b []byte) (*User, error) {
	d := decoder{b: b}
	u := &User{Name: name}
	hash := d.str()
	u.NoPassword = d.boolean()
	n := d.count()
	for range n {
		u.Roles = append(u.Roles, d.str())
	}
	if err := d.done(); err != nil {
		return nil, err
	}
	if !u.NoPassword {
		h, err := ParsePasswordHash(hash)
		if err != nil {
			return nil, err
		}
		u.Password = h
	}
	return u, nil
}

func encodeRole(r *Role) []byte {
	var e encoder
	e.uvarint(uint64(len(r.Perms)))
	for _, p := range r.Perms {
		e.uvarint(uint64(p.PermType))
		e.bytes(p.Key)
		e.bytes(p.RangeEnd)
	}
	return e.b
}

func decodeRole(name string, b []byte) (*Role, error) {
	d := decoder{b: b}
	r := &Role{Name: name}
	n := d.count()
	for range n {
		t := d.uvarint()
		if d.err == nil && t > uint64(api.PermReadWrite) {
			d.err = fmt.Errorf("auth: permission type %d", t)
		}
		r.Perms = append(r.Perms, api.Permission{PermType: api.PermType(t), Key: d.bytes(), RangeEnd: d.bytes()})
	}
	return r, d.done()
}
