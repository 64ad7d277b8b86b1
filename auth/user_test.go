package auth

import (
	"bytes"
	"testing"
)

// TestUser: User gives a user's password hash, no-password flag and
// roles, as a copy the caller may change.
func TestUser(t *testing.T) {
	s, w := New(), memRecords{}
	h, err := HashPBKDF2("pw", 1, bytes.NewReader(make([]byte, SaltSize)))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []*Command{
		{Op: OpRoleAdd, Name: "r"},
		{Op: OpUserAdd, Name: "alice", Password: h},
		{Op: OpUserGrantRole, Name: "alice", Role: "r"},
		{Op: OpUserAdd, Name: "svc", NoPassword: true},
	} {
		if err := s.Apply(c, w); err != nil {
			t.Fatalf("%s %s: %v", c.Op, c.Name, err)
		}
	}
	alice, ok := s.User("alice")
	if !ok || alice.Name != "alice" || alice.Password.String() != h.String() || alice.NoPassword || len(alice.Roles) != 1 || alice.Roles[0] != "r" {
		t.Fatalf("User(alice) = %+v, %v", alice, ok)
	}
	alice.Roles[0] = "changed"
	if again, _ := s.User("alice"); again.Roles[0] != "r" {
		t.Fatalf("changing the copy changed the state: %v", again.Roles)
	}
	if svc, ok := s.User("svc"); !ok || !svc.NoPassword || !svc.Password.IsZero() {
		t.Fatalf("User(svc) = %+v, %v", svc, ok)
	}
	if _, ok := s.User("nobody"); ok {
		t.Fatal("User(nobody) exists")
	}
}
