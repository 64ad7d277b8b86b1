package auth

import (
	"errors"
	"fmt"
	"testing"

	"github.com/cairndb/cairn/api"
	"pgregory.net/rapid"
)

// enabledState has root, and alice with role "app": readwrite on
// [app/, app0) and read on "config"; bob has no role.
func enabledState(t tb) *State {
	s, w := New(), memRecords{}
	mustApply(t, s, w, rootSetup(t)...)
	mustApply(t, s, w,
		&Command{Op: OpRoleAdd, Name: "app"},
		&Command{Op: OpRoleGrantPermission, Name: "app", Perm: api.Permission{PermType: api.PermReadWrite, Key: []byte("app/"), RangeEnd: []byte("app0")}},
		&Command{Op: OpRoleGrantPermission, Name: "app", Perm: api.Permission{PermType: api.PermRead, Key: []byte("config")}},
		&Command{Op: OpUserAdd, Name: "alice", Password: testHash(t, "apw")},
		&Command{Op: OpUserGrantRole, Name: "alice", Role: "app"},
		&Command{Op: OpUserAdd, Name: "bob", NoPassword: true},
		&Command{Op: OpEnable, SigningKey: testKey},
	)
	return s
}

func TestCheckRequest(t *testing.T) {
	s := enabledState(t)
	rev := s.Revision()
	alice := Identity{User: "alice", Revision: rev}
	b := func(s string) []byte { return []byte(s) }
	put := func(k string) api.RequestOp { return api.RequestOp{Put: &api.PutRequest{Key: b(k)}} }
	get := func(k string) api.RequestOp { return api.RequestOp{Range: &api.RangeRequest{Key: b(k)}} }
	tests := []struct {
		name string
		id   Identity
		req  api.Message
		want error
	}{
		{"read inside the prefix", alice, &api.RangeRequest{Key: b("app/"), RangeEnd: b("app0")}, nil},
		{"range overlapping a forbidden key", alice, &api.RangeRequest{Key: b("app/"), RangeEnd: b("config\x00")}, api.ErrPermissionDenied},
		{"read-only key read", alice, &api.RangeRequest{Key: b("config")}, nil},
		{"read-only key written", alice, &api.PutRequest{Key: b("config")}, api.ErrPermissionDenied},
		{"put", alice, &api.PutRequest{Key: b("app/x")}, nil},
		{"delete range past the prefix", alice, &api.DeleteRangeRequest{Key: b("app/"), RangeEnd: b("b")}, api.ErrPermissionDenied},
		{"delete from key", alice, &api.DeleteRangeRequest{Key: b("app/"), RangeEnd: b("\x00")}, api.ErrPermissionDenied},
		{"txn inside", alice, &api.TxnRequest{
			Compare: []api.Compare{{Key: b("config")}},
			Success: []api.RequestOp{put("app/a")}, Failure: []api.RequestOp{get("app/b")}}, nil},
		{"txn compare on a forbidden key", alice, &api.TxnRequest{
			Compare: []api.Compare{{Key: b("secret")}}, Success: []api.RequestOp{put("app/a")}}, api.ErrPermissionDenied},
		{"txn failure branch reads a forbidden key", alice, &api.TxnRequest{
			Success: []api.RequestOp{put("app/a")}, Failure: []api.RequestOp{get("secret")}}, api.ErrPermissionDenied},
		{"nested txn writes a read-only key", alice, &api.TxnRequest{
			Success: []api.RequestOp{{Txn: &api.TxnRequest{Success: []api.RequestOp{put("config")}}}}}, api.ErrPermissionDenied},
		{"compaction needs every key", alice, &api.CompactionRequest{Revision: 3}, api.ErrPermissionDenied},
		{"lease grant needs a user", alice, &api.LeaseGrantRequest{TTL: 5}, nil},
		{"alarm is for root", alice, &api.AlarmRequest{Action: api.AlarmDeactivate}, api.ErrPermissionDenied},
		{"root does anything", Identity{User: RootUser, Revision: rev}, &api.CompactionRequest{Revision: 3}, nil},
		{"user without role", Identity{User: "bob", Revision: rev}, &api.RangeRequest{Key: b("app/x")}, api.ErrPermissionDenied},
		{"certificate identity has no revision", Identity{User: "alice"}, &api.PutRequest{Key: b("app/x")}, nil},
		{"old token", Identity{User: "alice", Revision: rev - 1}, &api.PutRequest{Key: b("app/x")}, api.ErrAuthOldRevision},
		{"unknown user", Identity{User: "mallory", Revision: rev}, &api.PutRequest{Key: b("app/x")}, api.ErrPermissionDenied},
		{"no user", Identity{}, &api.PutRequest{Key: b("app/x")}, api.ErrUserEmpty},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.CheckRequest(tt.id, tt.req)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
}

func TestPutAndDeleteWithPrevKVNeedRead(t *testing.T) {
	s, w := New(), memRecords{}
	mustApply(t, s, w, rootSetup(t)...)
	mustApply(t, s, w,
		&Command{Op: OpRoleAdd, Name: "wo"},
		&Command{Op: OpRoleGrantPermission, Name: "wo", Perm: api.Permission{PermType: api.PermWrite, Key: []byte("k")}},
		&Command{Op: OpUserAdd, Name: "w", NoPassword: true},
		&Command{Op: OpUserGrantRole, Name: "w", Role: "wo"},
		&Command{Op: OpEnable, SigningKey: testKey})
	id := Identity{User: "w"}
	if err := s.CheckRequest(id, &api.PutRequest{Key: []byte("k")}); err != nil {
		t.Fatal(err)
	}
	if err := s.CheckRequest(id, &api.PutRequest{Key: []byte("k"), PrevKv: true}); !errors.Is(err, api.ErrPermissionDenied) {
		t.Fatalf("put with prev_kv by a write-only user: %v", err)
	}
	if err := s.CheckRequest(id, &api.DeleteRangeRequest{Key: []byte("k"), PrevKv: true}); !errors.Is(err, api.ErrPermissionDenied) {
		t.Fatalf("delete with prev_kv by a write-only user: %v", err)
	}
}

func TestAdminAndSelfChecks(t *testing.T) {
	s := enabledState(t)
	rev := s.Revision()
	alice, root := Identity{User: "alice", Revision: rev}, Identity{User: RootUser, Revision: rev}
	if err := s.CheckAdmin(alice); !errors.Is(err, api.ErrPermissionDenied) {
		t.Fatalf("alice as admin: %v", err)
	}
	if err := s.CheckAdmin(root); err != nil {
		t.Fatalf("root as admin: %v", err)
	}
	if err := s.CheckCommand(alice, &Command{Op: OpUserChangePassword, Name: "alice"}); err != nil {
		t.Fatalf("alice changing her password: %v", err)
	}
	if err := s.CheckCommand(alice, &Command{Op: OpUserChangePassword, Name: "bob"}); !errors.Is(err, api.ErrPermissionDenied) {
		t.Fatalf("alice changing bob's password: %v", err)
	}
	if err := s.CheckCommand(alice, &Command{Op: OpRoleAdd, Name: "x"}); !errors.Is(err, api.ErrPermissionDenied) {
		t.Fatalf("alice adding a role: %v", err)
	}
	if err := s.CheckUserGet(alice, "alice"); err != nil {
		t.Fatalf("alice reading herself: %v", err)
	}
	if err := s.CheckUserGet(alice, "bob"); !errors.Is(err, api.ErrPermissionDenied) {
		t.Fatalf("alice reading bob: %v", err)
	}
	if err := s.CheckRoleGet(alice, "app"); err != nil {
		t.Fatalf("alice reading her role: %v", err)
	}
	if err := s.CheckRoleGet(alice, "other"); !errors.Is(err, api.ErrPermissionDenied) {
		t.Fatalf("alice reading another role: %v", err)
	}
	// Disabled auth checks nothing.
	mustApply(t, s, memRecords{}, &Command{Op: OpDisable})
	if err := s.CheckAdmin(Identity{}); err != nil {
		t.Fatalf("check with auth disabled: %v", err)
	}
}

func TestCheckKeys(t *testing.T) {
	s := enabledState(t)
	alice := Identity{User: "alice", Revision: s.Revision()}
	if err := s.CheckKeys(alice, api.PermWrite, [][]byte{[]byte("app/1"), []byte("app/2")}); err != nil {
		t.Fatal(err)
	}
	if err := s.CheckKeys(alice, api.PermWrite, [][]byte{[]byte("app/1"), []byte("config")}); !errors.Is(err, api.ErrPermissionDenied) {
		t.Fatalf("lease with a read-only key: %v", err)
	}
}

// TestCheckMatchesBruteForce: a user's read and write checks, through
// roles with typed permissions, agree with a key-by-key check.
func TestCheckMatchesBruteForce(t *testing.T) {
	keys := universe()
	rapid.Check(t, func(t *rapid.T) {
		s, w := New(), memRecords{}
		mustApply(t, s, w, rootSetup(t)...)
		mustApply(t, s, w, &Command{Op: OpUserAdd, Name: "u", NoPassword: true})
		pool := []string{genKey(t, "k1"), genKey(t, "k2"), genKey(t, "k3")}
		pool = append(pool, pool[0]+"\x00")
		for r := range rapid.IntRange(0, 2).Draw(t, "roles") {
			role := fmt.Sprintf("r%d", r)
			mustApply(t, s, w, &Command{Op: OpRoleAdd, Name: role}, &Command{Op: OpUserGrantRole, Name: "u", Role: role})
			for i := range rapid.IntRange(0, 3).Draw(t, "perms") {
				k, e := genRange(t, pool, fmt.Sprintf("%s-%d", role, i))
				typ := api.PermType(rapid.IntRange(0, 2).Draw(t, "type"))
				// A range holding no key is refused; the same range
				// granted again replaces the earlier type.
				_ = s.Apply(&Command{Op: OpRoleGrantPermission, Name: role, Perm: api.Permission{PermType: typ, Key: []byte(k), RangeEnd: []byte(e)}}, w)
			}
		}
		mustApply(t, s, w, &Command{Op: OpEnable, SigningKey: testKey})
		// What the roles hold, as the state reports it.
		type grant struct {
			typ      api.PermType
			key, end string
		}
		var grants []grant
		for _, role := range s.Roles() {
			perms, _ := s.RolePerms(role)
			for _, p := range perms {
				grants = append(grants, grant{p.PermType, string(p.Key), string(p.RangeEnd)})
			}
		}
		id := Identity{User: "u", Revision: s.Revision()}
		for _, perm := range []api.PermType{api.PermRead, api.PermWrite} {
			for _, key := range pool {
				for _, end := range append([]string{"", "\x00"}, pool...) {
					want := true
					for _, p := range keys {
						if !inRange(p, key, end) {
							continue
						}
						covered := false
						for _, g := range grants {
							ok := g.typ == api.PermReadWrite || g.typ == perm
							covered = covered || (ok && inRange(p, g.key, g.end))
						}
						if !covered {
							want = false
							break
						}
					}
					err := s.CheckRange(id, perm, []byte(key), []byte(end))
					if (err == nil) != want {
						t.Fatalf("CheckRange(%v, %q, %q) = %v, brute force says allowed=%v; grants %+v", perm, key, end, err, want, grants)
					}
				}
			}
		}
	})
}
