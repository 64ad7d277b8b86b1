package auth

import (
	"crypto/rand"
	"errors"
	"maps"
	"slices"
	"testing"

	"github.com/cairndb/cairn/api"
)

// memRecords is Records in a map, as the node's auxiliary table is.
type memRecords map[string][]byte

func (m memRecords) Put(k string, v []byte) error {
	if v == nil {
		delete(m, k)
	} else {
		m[k] = slices.Clone(v)
	}
	return nil
}

func (m memRecords) list() []Record {
	var out []Record
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, Record{Key: k, Value: m[k]})
	}
	return out
}

// failRecords fails every write.
type failRecords struct{}

func (failRecords) Put(string, []byte) error { return errors.New("disk on fire") }

// tb is what the helpers need of *testing.T and *rapid.T.
type tb interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
}

func testHash(t tb, pw string) PasswordHash {
	t.Helper()
	h, err := HashPBKDF2(pw, 2, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

var testKey = []byte("0123456789abcdef0123456789abcdef")

// mustApply applies commands that must succeed.
func mustApply(t tb, s *State, w Records, cmds ...*Command) {
	t.Helper()
	for _, c := range cmds {
		if err := s.Apply(c, w); err != nil {
			t.Fatalf("apply %v %q: %v", c.Op, c.Name, err)
		}
	}
}

// rootSetup creates the root user with the root role.
func rootSetup(t tb) []*Command {
	return []*Command{
		{Op: OpUserAdd, Name: RootUser, Password: testHash(t, "rootpw")},
		{Op: OpUserGrantRole, Name: RootUser, Role: RootRole},
	}
}

func TestApplyFollowsEtcdRules(t *testing.T) {
	h := testHash(t, "pw")
	tests := []struct {
		name  string
		setup []*Command
		cmd   *Command
		want  error
	}{
		{"enable without root user", nil, &Command{Op: OpEnable, SigningKey: testKey}, api.ErrRootUserNotExist},
		{"enable without root role", []*Command{{Op: OpUserAdd, Name: RootUser, Password: h}},
			&Command{Op: OpEnable, SigningKey: testKey}, api.ErrRootRoleNotExist},
		{"enable without signing key", rootSetup(t), &Command{Op: OpEnable}, api.ErrInvalidArgument},
		{"user add empty name", nil, &Command{Op: OpUserAdd, Password: h}, api.ErrUserEmpty},
		{"user add twice", []*Command{{Op: OpUserAdd, Name: "u", Password: h}},
			&Command{Op: OpUserAdd, Name: "u", Password: h}, api.ErrUserAlreadyExist},
		{"user add without password", nil, &Command{Op: OpUserAdd, Name: "u"}, api.ErrInvalidArgument},
		{"user add no-password user", nil, &Command{Op: OpUserAdd, Name: "u", NoPassword: true}, nil},
		{"user delete unknown", nil, &Command{Op: OpUserDelete, Name: "u"}, api.ErrUserNotFound},
		{"root deleted while auth is on", append(rootSetup(t), &Command{Op: OpEnable, SigningKey: testKey}),
			&Command{Op: OpUserDelete, Name: RootUser}, api.ErrInvalidAuthMgmt},
		{"root deleted while auth is off", rootSetup(t), &Command{Op: OpUserDelete, Name: RootUser}, nil},
		{"root role revoked from root while on", append(rootSetup(t), &Command{Op: OpEnable, SigningKey: testKey}),
			&Command{Op: OpUserRevokeRole, Name: RootUser, Role: RootRole}, api.ErrInvalidAuthMgmt},
		{"root role deleted while on", append(rootSetup(t), &Command{Op: OpRoleAdd, Name: RootRole}, &Command{Op: OpEnable, SigningKey: testKey}),
			&Command{Op: OpRoleDelete, Name: RootRole}, api.ErrInvalidAuthMgmt},
		{"grant unknown role", []*Command{{Op: OpUserAdd, Name: "u", Password: h}},
			&Command{Op: OpUserGrantRole, Name: "u", Role: "r"}, api.ErrRoleNotFound},
		{"grant to unknown user", []*Command{{Op: OpRoleAdd, Name: "r"}},
			&Command{Op: OpUserGrantRole, Name: "u", Role: "r"}, api.ErrUserNotFound},
		{"revoke role not granted", []*Command{{Op: OpUserAdd, Name: "u", Password: h}},
			&Command{Op: OpUserRevokeRole, Name: "u", Role: "r"}, api.ErrRoleNotGranted},
		{"role add empty", nil, &Command{Op: OpRoleAdd}, api.ErrRoleEmpty},
		{"role add twice", []*Command{{Op: OpRoleAdd, Name: "r"}}, &Command{Op: OpRoleAdd, Name: "r"}, api.ErrRoleAlreadyExist},
		{"role delete unknown", nil, &Command{Op: OpRoleDelete, Name: "r"}, api.ErrRoleNotFound},
		{"grant permission to unknown role", nil,
			&Command{Op: OpRoleGrantPermission, Name: "r", Perm: api.Permission{Key: []byte("a")}}, api.ErrRoleNotFound},
		{"grant permission on no key", []*Command{{Op: OpRoleAdd, Name: "r"}},
			&Command{Op: OpRoleGrantPermission, Name: "r", Perm: api.Permission{Key: []byte("b"), RangeEnd: []byte("a")}}, api.ErrInvalidAuthMgmt},
		{"revoke permission not granted", []*Command{{Op: OpRoleAdd, Name: "r"}},
			&Command{Op: OpRoleRevokePermission, Name: "r", Perm: api.Permission{Key: []byte("a")}}, api.ErrPermissionNotGranted},
		{"change password of unknown user", nil, &Command{Op: OpUserChangePassword, Name: "u", Password: h}, api.ErrUserNotFound},
		{"change password of a no-password user", []*Command{{Op: OpUserAdd, Name: "u", NoPassword: true}},
			&Command{Op: OpUserChangePassword, Name: "u", Password: h}, nil},
		{"token while auth is off", []*Command{{Op: OpUserAdd, Name: "u", Password: h}},
			&Command{Op: OpIssueToken, Name: "u", Token: "t", Revision: 1}, api.ErrAuthNotEnabled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, w := New(), memRecords{}
			mustApply(t, s, w, tt.setup...)
			rev := s.Revision()
			err := s.Apply(tt.cmd, w)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			if err != nil && s.Revision() != rev {
				t.Fatalf("a refused command moved the revision from %d to %d", rev, s.Revision())
			}
		})
	}
}

func TestApplyRevisionAndPersistence(t *testing.T) {
	s, w := New(), memRecords{}
	perm := api.Permission{PermType: api.PermRead, Key: []byte("a"), RangeEnd: []byte("c")}
	cmds := append(rootSetup(t),
		&Command{Op: OpRoleAdd, Name: "reader"},
		&Command{Op: OpRoleGrantPermission, Name: "reader", Perm: perm},
		&Command{Op: OpUserAdd, Name: "alice", Password: testHash(t, "apw")},
		&Command{Op: OpUserGrantRole, Name: "alice", Role: "reader"},
	)
	for i, c := range cmds {
		mustApply(t, s, w, c)
		if got := s.Revision(); got != FirstRevision+uint64(i+1) {
			t.Fatalf("after %d changes the revision is %d", i+1, got)
		}
	}
	// As in etcd: enabling leaves the revision, and so do commands that
	// change nothing, but the same permission granted again moves it.
	rev := s.Revision()
	mustApply(t, s, w, &Command{Op: OpEnable, SigningKey: testKey},
		&Command{Op: OpEnable, SigningKey: []byte("another key, ignored, long enough")},
		&Command{Op: OpUserGrantRole, Name: "alice", Role: "reader"})
	if !s.Enabled() || s.Revision() != rev {
		t.Fatalf("enabling and no-op commands: enabled %v, the revision moved from %d to %d", s.Enabled(), rev, s.Revision())
	}
	mustApply(t, s, w, &Command{Op: OpRoleGrantPermission, Name: "reader", Perm: perm})
	if s.Revision() != rev+1 {
		t.Fatalf("a permission granted again moved the revision from %d to %d, want %d", rev, s.Revision(), rev+1)
	}
	// A state loaded from the records is the same state.
	l := New()
	if err := l.Load(w.list()); err != nil {
		t.Fatal(err)
	}
	if !l.Enabled() || l.Revision() != s.Revision() || string(l.SigningKey()) != string(testKey) {
		t.Fatalf("loaded: enabled %v revision %d key %q", l.Enabled(), l.Revision(), l.SigningKey())
	}
	if got := l.Users(); !slices.Equal(got, []string{"alice", RootUser}) {
		t.Fatalf("loaded users %q", got)
	}
	if roles, _ := l.UserRoles("alice"); !slices.Equal(roles, []string{"reader"}) {
		t.Fatalf("loaded roles of alice: %q", roles)
	}
	alice := Identity{User: "alice", Revision: l.Revision()}
	if err := l.CheckRange(alice, api.PermRead, []byte("b"), nil); err != nil {
		t.Fatalf("loaded state denies a granted read: %v", err)
	}
	if err := l.CheckRange(alice, api.PermWrite, []byte("b"), nil); !errors.Is(err, api.ErrPermissionDenied) {
		t.Fatalf("loaded state allows an ungranted write: %v", err)
	}
	if _, err := l.Authenticate("alice", "apw", PasswordHash{}); err != nil {
		t.Fatalf("loaded password does not verify: %v", err)
	}
	// Deleting a role revokes it from its users, in the records too.
	mustApply(t, s, w, &Command{Op: OpRoleDelete, Name: "reader"})
	if err := l.Load(w.list()); err != nil {
		t.Fatal(err)
	}
	if roles, _ := l.UserRoles("alice"); len(roles) != 0 {
		t.Fatalf("deleted role still granted: %q", roles)
	}
	// A corrupt record is reported with its key.
	if err := l.Load([]Record{{Key: "user/x", Value: []byte{0xff}}}); err == nil {
		t.Fatal("a corrupt user record loaded")
	}
}

func TestApplyStorageFailureChangesNothing(t *testing.T) {
	s := New()
	if err := s.Apply(&Command{Op: OpRoleAdd, Name: "r"}, failRecords{}); err == nil {
		t.Fatal("a failed write was not reported")
	}
	if s.Revision() != FirstRevision || len(s.Roles()) != 0 {
		t.Fatal("a command whose records were not written became visible")
	}
}

func TestIssueTokenChecksRevision(t *testing.T) {
	s, w := New(), memRecords{}
	mustApply(t, s, w, rootSetup(t)...)
	mustApply(t, s, w, &Command{Op: OpEnable, SigningKey: testKey})
	rev := s.Revision()
	if err := s.Apply(&Command{Op: OpIssueToken, Name: RootUser, Token: "t", Revision: rev}, w); err != nil {
		t.Fatal(err)
	}
	if err := s.Apply(&Command{Op: OpIssueToken, Name: RootUser, Token: "t", Revision: rev - 1}, w); !errors.Is(err, api.ErrAuthOldRevision) {
		t.Fatalf("token of an old revision: %v", err)
	}
	if err := s.Apply(&Command{Op: OpIssueToken, Name: "ghost", Token: "t", Revision: rev}, w); !errors.Is(err, api.ErrAuthFailed) {
		t.Fatalf("token of an unknown user: %v", err)
	}
	if s.Revision() != rev {
		t.Fatal("issuing a token changed the revision")
	}
}

// A state no change has touched is at revision 1, as etcd's (etcdctl auth
// status prints it), whether new or loaded from no records.
func TestFirstRevisionIsEtcds(t *testing.T) {
	l := New()
	if err := l.Load(nil); err != nil {
		t.Fatal(err)
	}
	for what, s := range map[string]*State{"new": New(), "loaded from no records": l} {
		if got := s.Revision(); got != 1 {
			t.Errorf("a %s state is at revision %d, want etcd's 1", what, got)
		}
	}
}

// The root role's permission is every key from the empty one on, as etcd
// reports it (etcdctl role get root prints "[, <open ended>").
func TestRootRolePermIsEtcds(t *testing.T) {
	perms, err := New().RolePerms(RootRole)
	if err != nil {
		t.Fatal(err)
	}
	if len(perms) != 1 || perms[0].PermType != api.PermReadWrite || len(perms[0].Key) != 0 ||
		string(perms[0].RangeEnd) != "\x00" {
		t.Fatalf("the root role's permissions are %+v, want readwrite from \"\" with range end \"\\x00\"", perms)
	}
}

// A password change of a user made without a password leaves it without
// one, as etcd's does; the change still moves the revision.
func TestNoPasswordUserKeepsNoPassword(t *testing.T) {
	s, w := New(), memRecords{}
	mustApply(t, s, w, rootSetup(t)...)
	mustApply(t, s, w, &Command{Op: OpEnable, SigningKey: testKey}, &Command{Op: OpUserAdd, Name: "u", NoPassword: true})
	rev := s.Revision()
	mustApply(t, s, w, &Command{Op: OpUserChangePassword, Name: "u", Password: testHash(t, "pw")})
	u, ok := s.User("u")
	if !ok || !u.NoPassword || !u.Password.IsZero() {
		t.Fatalf("after the change the user is %+v", u)
	}
	if s.Revision() == rev {
		t.Fatal("the change did not move the revision")
	}
	if _, err := s.Authenticate("u", "pw", Decoy(MinBcryptCost)); !errors.Is(err, api.ErrNoPasswordUser) {
		t.Fatalf("the user authenticates with the password given in the change: %v (want etcd's ErrNoPasswordUser)", err)
	}
}
