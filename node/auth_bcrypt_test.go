package node_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/node"
	"github.com/cairndb/cairn/node/nodetest"
)

// storedHash waits until every member of c stores a password hash for
// user other than not, and returns it, failing the test unless they all
// store the same one: the member that took the request hashed it once,
// and the others applied the hash it proposed.
func storedHash(t *testing.T, c *nodetest.Cluster, user, not string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var hashes []string
		for _, s := range c.Servers {
			if h, _ := s.PasswordHashForTest(user); h != "" && h != not {
				hashes = append(hashes, h)
			}
		}
		if len(hashes) == len(c.Servers) {
			for _, h := range hashes[1:] {
				if h != hashes[0] {
					t.Fatalf("%s's password hash differs between members: %q", user, hashes)
				}
			}
			return hashes[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s's new password hash reached %d of %d members", user, len(hashes), len(c.Servers))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// wantBcrypt fails the test unless hash is a bcrypt hash of password at
// cost, as golang.org/x/crypto/bcrypt (etcd's check) reads it.
func wantBcrypt(t *testing.T, what, hash, password string, cost int) {
	t.Helper()
	if !strings.HasPrefix(hash, fmt.Sprintf("$2a$%02d$", cost)) {
		t.Fatalf("%s: stored hash %q is not bcrypt of cost %d", what, hash, cost)
	}
	if got, err := bcrypt.Cost([]byte(hash)); err != nil || got != cost {
		t.Fatalf("%s: bcrypt reads the cost of %q as %d, %v", what, hash, got, err)
	}
	if err := bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)); err != nil {
		t.Fatalf("%s: bcrypt does not accept the password against %q: %v", what, hash, err)
	}
}

// TestPasswordsAreHashedWithBcrypt: UserAdd and UserChangePassword,
// sent to a follower, store a bcrypt hash of the member's --bcrypt-cost,
// the same on every member, with which the user logs in; a password past
// bcrypt's 72 bytes is refused with etcd's error and changes nothing.
func TestPasswordsAreHashedWithBcrypt(t *testing.T) {
	const cost = 5 // not the default: the member's setting is what counts
	c := authCluster(t, 3, func(cfg *node.Config) { cfg.BcryptCost = cost })
	conns := []asUser{{t: t, conn: dial(t, c, 0)}, {t: t, conn: dial(t, c, 1)}, {t: t, conn: dial(t, c, 2)}}
	u := conns[(c.Leader()+1)%3] // a follower takes the requests
	u.must(api.MethodUserAdd, &api.UserAddRequest{Name: "root", Password: "rootpw"}, &api.UserAddResponse{})
	u.must(api.MethodUserGrantRole, &api.UserGrantRoleRequest{User: "root", Role: "root"}, &api.UserGrantRoleResponse{})
	long := strings.Repeat("p", 72) // bcrypt's longest: accepted
	u.must(api.MethodUserAdd, &api.UserAddRequest{Name: "alice", Password: long}, &api.UserAddResponse{})
	wantBcrypt(t, "root", storedHash(t, c, "root", ""), "rootpw", cost)
	alice := storedHash(t, c, "alice", "")
	wantBcrypt(t, "alice", alice, long, cost)

	tooLong := long + "!"
	for _, tc := range []struct {
		method    uint16
		req, resp api.Message
	}{
		{api.MethodUserAdd, &api.UserAddRequest{Name: "bob", Password: tooLong}, &api.UserAddResponse{}},
		{api.MethodUserChangePassword, &api.UserChangePasswordRequest{Name: "alice", Password: tooLong}, &api.UserChangePasswordResponse{}},
	} {
		err := u.call(tc.method, tc.req, tc.resp)
		wantCode(t, fmt.Sprintf("%T of 73 bytes", tc.req), err, api.ErrPasswordTooLong)
		if err.Error() != "bcrypt: password length exceeds 72 bytes" {
			t.Fatalf("%T of 73 bytes: message %q, want etcd's", tc.req, err)
		}
	}
	if _, exists := c.Servers[0].PasswordHashForTest("bob"); exists {
		t.Fatal("bob was created with a refused password")
	}

	u.must(api.MethodAuthEnable, &api.AuthEnableRequest{}, &api.AuthEnableResponse{})
	for i := range conns {
		mustAuthenticate(t, conns[i].conn, "alice", long)
		if _, err := authenticate(t, conns[i].conn, "alice", tooLong); err == nil {
			t.Fatalf("member %d: alice logs in with her password and a byte more", i)
		}
	}
	root := asUser{t: t, conn: u.conn, token: mustAuthenticate(t, u.conn, "root", "rootpw")}
	root.must(api.MethodUserChangePassword, &api.UserChangePasswordRequest{Name: "alice", Password: "alicepw2"}, &api.UserChangePasswordResponse{})
	wantBcrypt(t, "alice's new password", storedHash(t, c, "alice", alice), "alicepw2", cost)
	for i := range conns {
		mustAuthenticate(t, conns[i].conn, "alice", "alicepw2")
		if _, err := authenticate(t, conns[i].conn, "alice", long); err == nil {
			t.Fatalf("member %d: alice's old password still works", i)
		}
	}
}
