package node_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/node"
	"github.com/cairndb/cairn/rpc"
)

// authStatus asks a member for its own view of the auth state.
func authStatus(t *testing.T, conn *rpc.Conn) api.AuthStatusResponse {
	t.Helper()
	var st api.AuthStatusResponse
	if err := call(ctxT(t), conn, "", api.MethodAuthStatus, &api.AuthStatusRequest{}, &st); err != nil {
		t.Fatal(err)
	}
	return st
}

// The auth state is replicated state: a member that was down while it
// changed catches up by snapshot (with SnapshotCount 20 the log keeps 20
// entries for slow followers; the 200 writes compact it past the auth
// changes), and the whole cluster keeps it across a restart.
func TestAuthStateSurvivesSnapshotAndRestart(t *testing.T) {
	c := authCluster(t, 3, func(cfg *node.Config) { cfg.SnapshotCount = 20 })
	lead := c.Leader()
	lag := (lead + 1) % 3
	cl := dial(t, c, lead)
	setUpAuth(t, cl)
	c.StopMember(lag)

	root := asUser{t, cl, mustAuthenticate(t, cl, "root", "rootpw")}
	write := func(n int) {
		for i := range n {
			if err := root.put(fmt.Sprintf("app/%03d", i)); err != nil {
				t.Fatal(err)
			}
		}
	}
	write(100)
	// Auth changes the lagging member misses: a role and a user.
	root.must(api.MethodRoleAdd, &api.RoleAddRequest{Name: "ops"}, &api.RoleAddResponse{})
	root = asUser{t, cl, mustAuthenticate(t, cl, "root", "rootpw")}
	root.must(api.MethodRoleGrantPermission, &api.RoleGrantPermissionRequest{Name: "ops",
		Perm: api.Permission{PermType: api.PermReadWrite, Key: []byte("ops/"), RangeEnd: []byte("ops0")}}, &api.RoleGrantPermissionResponse{})
	root = asUser{t, cl, mustAuthenticate(t, cl, "root", "rootpw")}
	root.must(api.MethodUserAdd, &api.UserAddRequest{Name: "bob", Password: "bobpw"}, &api.UserAddResponse{})
	root = asUser{t, cl, mustAuthenticate(t, cl, "root", "rootpw")}
	root.must(api.MethodUserGrantRole, &api.UserGrantRoleRequest{User: "bob", Role: "ops"}, &api.UserGrantRoleResponse{})
	root = asUser{t, cl, mustAuthenticate(t, cl, "root", "rootpw")}
	write(100)
	want := authStatus(t, cl)

	c.StartMember(lag)
	lc := dial(t, c, lag)
	deadline := time.Now().Add(15 * time.Second)
	for authStatus(t, lc).AuthRevision != want.AuthRevision {
		if time.Now().After(deadline) {
			t.Fatalf("the lagging member did not catch up: %+v, want %+v", authStatus(t, lc), want)
		}
		time.Sleep(20 * time.Millisecond)
	}
	checkAuthAt := func(t *testing.T, conn *rpc.Conn) {
		t.Helper()
		if st := authStatus(t, conn); !st.Enabled || st.AuthRevision != want.AuthRevision {
			t.Fatalf("auth status %+v, want %+v", st, want)
		}
		bob := asUser{t, conn, mustAuthenticate(t, conn, "bob", "bobpw")}
		if err := bob.put("ops/1"); err != nil {
			t.Fatalf("bob writing ops/: %v", err)
		}
		wantCode(t, "bob writing app/", bob.put("app/1"), api.ErrPermissionDenied)
		alice := asUser{t, conn, mustAuthenticate(t, conn, "alice", "alicepw")}
		if err := alice.get("app/", "app0"); err != nil {
			t.Fatalf("alice reading app/: %v", err)
		}
		wantCode(t, "alice reading ops/", alice.get("ops/1", ""), api.ErrPermissionDenied)
		_, err := authenticate(t, conn, "alice", "wrong")
		wantCode(t, "wrong password", err, api.ErrAuthFailed)
	}
	t.Run("lagging member after snapshot", func(t *testing.T) { checkAuthAt(t, lc) })

	c.StopAll()
	c.StartAll()
	c.Leader()
	t.Run("after restarting every member", func(t *testing.T) {
		for i := range 3 {
			checkAuthAt(t, dial(t, c, i))
		}
	})
	t.Run("disable after restart", func(t *testing.T) {
		conn := dial(t, c, 0)
		root := asUser{t, conn, mustAuthenticate(t, conn, "root", "rootpw")}
		root.must(api.MethodAuthDisable, &api.AuthDisableRequest{}, &api.AuthDisableResponse{})
		if err := (asUser{t, dial(t, c, 2), ""}).get("app/", "\x00"); err != nil {
			t.Fatalf("with auth off: %v", err)
		}
	})
}
