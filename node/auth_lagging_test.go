package node_test

import (
	"testing"
	"time"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/node"
	"github.com/cairndb/cairn/rpc"
)

// A member restarted after auth was turned on without it has not applied
// the enable when its first requests arrive. It must answer them as the
// cluster would, not from its stale view: Authenticate must not say auth
// is off, and an administrator's change sent with a token must not go
// out as an anonymous one (which every member refuses once it applies
// it).
func TestAuthAtMemberThatMissedTheEnable(t *testing.T) {
	t.Run("authenticate", func(t *testing.T) {
		lagging, _ := memberThatMissedTheEnable(t)
		if _, err := authenticate(t, lagging, "alice", "alicepw"); err != nil {
			t.Fatalf("authenticate at the restarted member: %v", err)
		}
	})
	t.Run("administrator's change", func(t *testing.T) {
		lagging, root := memberThatMissedTheEnable(t)
		if err := (asUser{t, lagging, root}).call(api.MethodRoleAdd, &api.RoleAddRequest{Name: "ops"}, &api.RoleAddResponse{}); err != nil {
			t.Fatalf("role add as root at the restarted member: %v", err)
		}
	})
}

// memberThatMissedTheEnable starts three members with signed tokens (any
// member verifies them: no token lookup to wait for), sets auth up while
// one of them is stopped, restarts that one and returns a connection to
// it, at once, and a token of root.
func memberThatMissedTheEnable(t *testing.T) (lagging *rpc.Conn, rootToken string) {
	t.Helper()
	c := authCluster(t, 3, func(cfg *node.Config) {
		cfg.AuthToken = "signed"
		cfg.AuthTokenTTL = time.Hour
	})
	lead := c.Leader()
	lag := (lead + 1) % 3
	c.StopMember(lag)
	conn := dial(t, c, lead)
	setUpAuth(t, conn)
	rootToken = mustAuthenticate(t, conn, "root", "rootpw")
	c.StartMember(lag)
	return dial(t, c, lag), rootToken
}
