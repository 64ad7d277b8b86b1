package sim

import (
	"bytes"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/auth"
	"github.com/cairndb/cairn/node/replica"
)

// The checker's own model of auth, written apart from package auth so that
// a bug there is not repeated here: users and their roles, roles and their
// permissions, whether auth is on, and the auth revision, rebuilt from the
// auth commands of the committed log in log order. A request is judged by
// the model as of the entry that carries it (a write) or as of the index
// the serving member applied (a read): by the order in which the cluster
// applied the auth changes, never by when they happened.

// authModel is the auth state after some prefix of the log. A model is
// never changed once built: applying a command makes a new one.
type authModel struct {
	enabled  bool
	revision uint64
	users    map[string][]string         // user -> roles held
	roles    map[string][]api.Permission // role -> permissions
	// noPassword holds the users made without a password: as etcd's, a
	// password change leaves them without one but is applied.
	noPassword map[string]bool
}

func newAuthModel() *authModel {
	return &authModel{revision: auth.FirstRevision, users: map[string][]string{}, roles: map[string][]api.Permission{}, noPassword: map[string]bool{}}
}

func (m *authModel) clone() *authModel {
	c := *m
	c.users, c.roles, c.noPassword = maps.Clone(m.users), maps.Clone(m.roles), maps.Clone(m.noPassword)
	return &c
}

// apply is the model after e, an auth command applied (Who and User as the
// entry says), and whether e changed anything. It follows etcd's rules: a
// client's change needs a user holding the root role while auth is on
// (only enabling passes without a user; and, cairn's rule, a user may
// change its own password); enabling needs the root user
// holding the root role; the root user and role cannot be lost while auth
// is on; a change that changes nothing leaves the revision, and so does
// enabling, but a grant of a permission the role holds moves it.
func (m *authModel) apply(e replica.Envelope, c *auth.Command) (*authModel, bool) {
	if m.enabled {
		// A user may change its own password (cairn's rule; etcd asks
		// an administrator): that needs a valid identity, not the root
		// role.
		self := c.Op == auth.OpUserChangePassword && c.Name == e.User.User
		switch {
		case e.Who == replica.WhoUser && m.judgeIdentity(e.User, !self) != 0:
			return m, false
		case e.Who == replica.WhoAnyone && c.Op != auth.OpEnable:
			return m, false
		}
	}
	n := m.clone()
	if !n.change(c) {
		return m, false
	}
	if c.Op != auth.OpEnable {
		n.revision++
	}
	return n, true
}

// change applies c to n, a copy, reporting whether it changed anything.
func (n *authModel) change(c *auth.Command) bool {
	roles, userExists := n.users[c.Name]
	switch c.Op {
	case auth.OpEnable:
		if n.enabled || !slices.Contains(n.users[auth.RootUser], auth.RootRole) {
			return false
		}
		n.enabled = true
	case auth.OpDisable:
		if !n.enabled {
			return false
		}
		n.enabled = false
	case auth.OpUserAdd:
		if c.Name == "" || userExists || !c.NoPassword && c.Password.IsZero() {
			return false
		}
		n.users[c.Name] = nil
		if c.NoPassword {
			n.noPassword[c.Name] = true
		}
	case auth.OpUserDelete:
		if !userExists || n.enabled && c.Name == auth.RootUser {
			return false
		}
		delete(n.users, c.Name)
		delete(n.noPassword, c.Name)
	case auth.OpUserChangePassword:
		if !userExists || !n.noPassword[c.Name] && c.Password.IsZero() {
			return false
		}
	case auth.OpUserGrantRole:
		_, roleExists := n.roles[c.Role]
		if !userExists || !roleExists && c.Role != auth.RootRole || slices.Contains(roles, c.Role) {
			return false
		}
		n.users[c.Name] = append(slices.Clone(roles), c.Role)
	case auth.OpUserRevokeRole:
		i := slices.Index(roles, c.Role)
		if !userExists || i < 0 || n.enabled && c.Name == auth.RootUser && c.Role == auth.RootRole {
			return false
		}
		n.users[c.Name] = slices.Delete(slices.Clone(roles), i, i+1)
	case auth.OpRoleAdd:
		if _, ok := n.roles[c.Name]; ok || c.Name == "" {
			return false
		}
		n.roles[c.Name] = nil
	case auth.OpRoleDelete:
		if _, ok := n.roles[c.Name]; !ok || n.enabled && c.Name == auth.RootRole {
			return false
		}
		delete(n.roles, c.Name)
		for u, held := range n.users {
			if i := slices.Index(held, c.Name); i >= 0 {
				n.users[u] = slices.Delete(slices.Clone(held), i, i+1)
			}
		}
	case auth.OpRoleGrantPermission, auth.OpRoleRevokePermission:
		return n.changePerm(c)
	default:
		return false // a token issued changes nothing
	}
	return true
}

// changePerm grants or revokes a role's permission on one range; a grant
// on a range the role has a permission on replaces its type.
func (n *authModel) changePerm(c *auth.Command) bool {
	perms, ok := n.roles[c.Name]
	if !ok {
		return false
	}
	i := slices.IndexFunc(perms, func(p api.Permission) bool {
		return bytes.Equal(p.Key, c.Perm.Key) && bytes.Equal(p.RangeEnd, c.Perm.RangeEnd)
	})
	switch {
	case c.Op == auth.OpRoleRevokePermission && i < 0:
		return false
	case c.Op == auth.OpRoleRevokePermission:
		n.roles[c.Name] = slices.Delete(slices.Clone(perms), i, i+1)
	case c.Perm.PermType > api.PermReadWrite, holdsNoKey(c.Perm.Key, c.Perm.RangeEnd):
		return false
	case i >= 0:
		perms = slices.Clone(perms)
		perms[i].PermType = c.Perm.PermType
		n.roles[c.Name] = perms
	default:
		n.roles[c.Name] = append(slices.Clone(perms), c.Perm)
	}
	return true
}

// judgeIdentity is the refusal of id by identity alone (0: none), and, if
// admin, of a user who does not hold the root role.
func (m *authModel) judgeIdentity(id auth.Identity, admin bool) api.Code {
	roles, exists := m.users[id.User]
	switch {
	case id.User == "":
		return api.CodeUserEmpty
	case id.Revision != 0 && id.Revision < m.revision:
		return api.CodeAuthOldRevision
	case !exists:
		return api.CodePermissionDenied
	case admin && !slices.Contains(roles, auth.RootRole):
		return api.CodePermissionDenied
	}
	return 0
}

// judgeWrite is the refusal the model expects for a client's write
// command applied in this state (0: none), and false if it cannot judge
// it (a kind the simulated clients never send as a user but root).
func (m *authModel) judgeWrite(e replica.Envelope) (api.Code, bool) {
	switch e.Kind {
	case replica.KindPut, replica.KindDeleteRange, replica.KindTxn, replica.KindCompaction, replica.KindLeaseGrant, replica.KindLeaseRevoke:
	default:
		return 0, false
	}
	if !m.enabled {
		return 0, true
	}
	switch e.Who {
	case replica.WhoAnyone:
		return api.CodeUserEmpty, true
	case replica.WhoMember:
		return 0, false
	}
	if code := m.judgeIdentity(e.User, false); code != 0 || m.isRoot(e.User.User) {
		return code, true
	}
	req, err := e.Request()
	if err != nil {
		return 0, false
	}
	switch req := req.(type) {
	case *api.PutRequest, *api.DeleteRangeRequest, *api.TxnRequest:
		return m.judgeKV(e.User.User, req), true
	case *api.LeaseGrantRequest:
		return 0, true
	case *api.CompactionRequest:
		return m.need(e.User.User, api.PermWrite, []byte{0}, []byte{0}), true
	}
	return 0, false // a lease revoke: the model does not know its keys
}

// judgeRead is the refusal the model expects for a read served by a
// member in this state, by caller (nil: none).
func (m *authModel) judgeRead(caller *auth.Identity, req api.Message) api.Code {
	if !m.enabled {
		return 0
	}
	if caller == nil {
		return api.CodeUserEmpty
	}
	if code := m.judgeIdentity(*caller, false); code != 0 || m.isRoot(caller.User) {
		return code
	}
	return m.judgeKV(caller.User, req)
}

func (m *authModel) isRoot(user string) bool { return slices.Contains(m.users[user], auth.RootRole) }

// judgeKV judges a key-value request of user, who does not hold the root
// role: a range needs read; a put or delete write (and read for its
// previous values); a transaction read on its compares and everything its
// operations need, in both branches.
func (m *authModel) judgeKV(user string, req api.Message) api.Code {
	var code api.Code
	need := func(perm api.PermType, key, end []byte) {
		if code == 0 {
			code = m.need(user, perm, key, end)
		}
	}
	var walk func(req api.Message)
	walk = func(req api.Message) {
		switch r := req.(type) {
		case *api.RangeRequest:
			need(api.PermRead, r.Key, r.RangeEnd)
		case *api.PutRequest:
			if r.PrevKv {
				need(api.PermRead, r.Key, nil)
			}
			need(api.PermWrite, r.Key, nil)
		case *api.DeleteRangeRequest:
			if r.PrevKv {
				need(api.PermRead, r.Key, r.RangeEnd)
			}
			need(api.PermWrite, r.Key, r.RangeEnd)
		case *api.TxnRequest:
			for _, c := range r.Compare {
				need(api.PermRead, c.Key, c.RangeEnd)
			}
			for _, op := range slices.Concat(r.Success, r.Failure) {
				if sub := op.Request(); sub != nil {
					walk(sub)
				}
			}
		}
	}
	walk(req)
	return code
}

// need is the refusal of user's access of kind perm to [key, end), or 0
// if the user's roles' permissions together cover every key of it.
func (m *authModel) need(user string, perm api.PermType, key, end []byte) api.Code {
	var have []keySpan
	for _, role := range m.users[user] {
		for _, p := range m.roles[role] {
			if p.PermType == api.PermReadWrite || p.PermType == perm {
				have = append(have, spanOf(p.Key, p.RangeEnd))
			}
		}
	}
	if spanOf(key, end).within(have) {
		return 0
	}
	return api.CodePermissionDenied
}

// keySpan is the keys [from, to) of a range as RangeRequest names them;
// open says it has no upper bound.
type keySpan struct {
	from, to string
	open     bool
}

func spanOf(key, end []byte) keySpan {
	from := string(key)
	if from == "" {
		from = "\x00"
	}
	switch {
	case len(end) == 0:
		return keySpan{from: from, to: from + "\x00"}
	case len(end) == 1 && end[0] == 0:
		return keySpan{from: from, open: true}
	}
	return keySpan{from: from, to: string(end)}
}

// holdsNoKey reports whether a range holds no key at all: the empty key
// alone, or an end at or before its start.
func holdsNoKey(key, end []byte) bool {
	s := spanOf(key, end)
	return len(key) == 0 && len(end) == 0 || !s.open && s.from >= s.to
}

// within reports whether every key of s lies in one of have: starting at
// s's first key, it moves past every span that holds the key it is at,
// until it is past s's end or no span holds it.
func (s keySpan) within(have []keySpan) bool {
	if !s.open && s.from >= s.to {
		return true // no key at all
	}
	at := s.from
	for moved := true; moved; {
		moved = false
		for _, h := range have {
			if h.from > at || !h.open && h.to <= at {
				continue
			}
			if h.open {
				return true
			}
			if !s.open && h.to >= s.to {
				return true
			}
			at, moved = h.to, true
		}
	}
	return false
}

// describe writes the model for a failure report.
func (m *authModel) describe() string {
	var b strings.Builder
	fmt.Fprintf(&b, "enabled %v revision %d;", m.enabled, m.revision)
	for _, u := range slices.Sorted(maps.Keys(m.users)) {
		fmt.Fprintf(&b, " user %s %v;", u, slices.Sorted(slices.Values(m.users[u])))
	}
	for _, r := range slices.Sorted(maps.Keys(m.roles)) {
		fmt.Fprintf(&b, " role %s", r)
		if r == auth.RootRole {
			b.WriteString(" (every key);") // whatever it was granted
			continue
		}
		perms := slices.SortedFunc(slices.Values(m.roles[r]), func(a, b api.Permission) int {
			if c := bytes.Compare(a.Key, b.Key); c != 0 {
				return c
			}
			return bytes.Compare(a.RangeEnd, b.RangeEnd)
		})
		for _, p := range perms {
			fmt.Fprintf(&b, " %d:%s", p.PermType, auth.DescribeRange(p.Key, p.RangeEnd))
		}
		b.WriteString(";")
	}
	return b.String()
}
