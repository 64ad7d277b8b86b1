package node_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/auth"
	"github.com/cairndb/cairn/node"
	"github.com/cairndb/cairn/node/nodetest"
	"github.com/cairndb/cairn/rpc"
)

// These tests talk to members with raw rpc calls (a token attached with
// rpc.WithToken), so they test the server alone.

// call makes one unary call to a member as the holder of token ("" for
// none) and decodes the answer into resp.
func call(ctx context.Context, conn *rpc.Conn, token string, method uint16, req, resp api.Message) error {
	if token != "" {
		ctx = rpc.WithToken(ctx, token)
	}
	b, err := conn.Call(ctx, rpc.Method(method), api.Marshal(req))
	if err != nil {
		return apiError(err)
	}
	return api.Unmarshal(b, resp)
}

// apiError rebuilds the API error a member sent.
func apiError(err error) error {
	var re *rpc.Error
	if errors.As(err, &re) && re.Code >= 100 {
		return api.ErrorFromCode(uint16(re.Code), re.Message)
	}
	return err
}

// dial connects to member i's client port.
func dial(t *testing.T, c *nodetest.Cluster, i int) *rpc.Conn {
	t.Helper()
	conn, err := rpc.Dial(ctxT(t), c.Configs[i].AdvertiseClientURLs[0].Host, rpc.DialOptions{})
	if err != nil {
		t.Fatalf("dial member %d: %v", i, err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// asUser is a connection and a token: a client of one member.
type asUser struct {
	t     *testing.T
	conn  *rpc.Conn
	token string
}

func (u asUser) call(method uint16, req, resp api.Message) error {
	return call(ctxT(u.t), u.conn, u.token, method, req, resp)
}

func (u asUser) put(key string) error {
	return u.call(api.MethodPut, &api.PutRequest{Key: []byte(key), Value: []byte("v")}, &api.PutResponse{})
}

func (u asUser) get(key, end string) error {
	return u.call(api.MethodRange, &api.RangeRequest{Key: []byte(key), RangeEnd: []byte(end)}, &api.RangeResponse{})
}

// must fails the test on a refused administrative call.
func (u asUser) must(method uint16, req, resp api.Message) {
	u.t.Helper()
	if err := u.call(method, req, resp); err != nil {
		u.t.Fatalf("%T: %v", req, err)
	}
}

// authenticate returns a token for name.
func authenticate(t *testing.T, conn *rpc.Conn, name, password string) (string, error) {
	var resp api.AuthenticateResponse
	err := call(ctxT(t), conn, "", api.MethodAuthenticate, &api.AuthenticateRequest{Name: name, Password: password}, &resp)
	return resp.Token, err
}

func mustAuthenticate(t *testing.T, conn *rpc.Conn, name, password string) string {
	t.Helper()
	tok, err := authenticate(t, conn, name, password)
	if err != nil {
		t.Fatalf("authenticate %s: %v", name, err)
	}
	return tok
}

func wantCode(t *testing.T, what string, err error, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: got %v, want %v", what, err, want)
	}
}

// setUpAuth creates root, a role "app" (readwrite on the prefix app/,
// read on the key "config") and the user alice holding it, then turns
// auth on, all through conn while auth is off.
func setUpAuth(t *testing.T, conn *rpc.Conn) {
	t.Helper()
	u := asUser{t: t, conn: conn}
	u.must(api.MethodUserAdd, &api.UserAddRequest{Name: "root", Password: "rootpw"}, &api.UserAddResponse{})
	u.must(api.MethodUserGrantRole, &api.UserGrantRoleRequest{User: "root", Role: "root"}, &api.UserGrantRoleResponse{})
	u.must(api.MethodRoleAdd, &api.RoleAddRequest{Name: "app"}, &api.RoleAddResponse{})
	u.must(api.MethodRoleGrantPermission, &api.RoleGrantPermissionRequest{Name: "app",
		Perm: api.Permission{PermType: api.PermReadWrite, Key: []byte("app/"), RangeEnd: []byte("app0")}}, &api.RoleGrantPermissionResponse{})
	u.must(api.MethodRoleGrantPermission, &api.RoleGrantPermissionRequest{Name: "app",
		Perm: api.Permission{PermType: api.PermRead, Key: []byte("config")}}, &api.RoleGrantPermissionResponse{})
	u.must(api.MethodUserAdd, &api.UserAddRequest{Name: "alice", Password: "alicepw"}, &api.UserAddResponse{})
	u.must(api.MethodUserGrantRole, &api.UserGrantRoleRequest{User: "alice", Role: "app"}, &api.UserGrantRoleResponse{})
	u.must(api.MethodAuthEnable, &api.AuthEnableRequest{}, &api.AuthEnableResponse{})
}

// authCluster starts n members with cheap password hashes.
func authCluster(t *testing.T, n int, change func(*node.Config)) *nodetest.Cluster {
	t.Helper()
	return nodetest.Start(t, n, nodetest.Options{Configure: func(i int, cfg *node.Config) {
		cfg.BcryptCost = auth.MinBcryptCost
		if change != nil {
			change(cfg)
		}
	}})
}

// TestAuthRefusesWhatIsNotAllowed tries to get around auth in the ways
// a user would, on a three-member cluster with simple tokens.
func TestAuthRefusesWhatIsNotAllowed(t *testing.T) {
	c := authCluster(t, 3, nil)
	c0, c1, c2 := dial(t, c, 0), dial(t, c, 1), dial(t, c, 2)
	setUpAuth(t, c0)

	_, err := authenticate(t, c0, "alice", "wrong")
	wantCode(t, "wrong password", err, api.ErrAuthFailed)
	_, err = authenticate(t, c0, "nobody", "alicepw")
	wantCode(t, "unknown user", err, api.ErrAuthFailed)
	wantCode(t, "no token", asUser{t, c0, ""}.put("app/x"), api.ErrUserEmpty)
	wantCode(t, "made-up token", asUser{t, c0, "0123456789abcdef0123456789abcdef"}.put("app/x"), api.ErrInvalidAuthToken)
	wantCode(t, "forged signed token", asUser{t, c0, auth.SignToken(make([]byte, 32), auth.Identity{User: "root", Revision: 99}, time.Now().Add(time.Hour))}.put("app/x"), api.ErrInvalidAuthToken)

	root := asUser{t, c0, mustAuthenticate(t, c0, "root", "rootpw")}
	aliceTok := mustAuthenticate(t, c1, "alice", "alicepw")
	// A simple token issued by one member works on every member.
	alice0, alice2 := asUser{t, c0, aliceTok}, asUser{t, c2, aliceTok}
	if err := alice2.put("app/x"); err != nil {
		t.Fatalf("alice writing her prefix: %v", err)
	}
	if err := alice0.get("app/", "app0"); err != nil {
		t.Fatalf("alice reading her prefix: %v", err)
	}
	if err := alice0.get("config", ""); err != nil {
		t.Fatalf("alice reading config: %v", err)
	}
	root.must(api.MethodPut, &api.PutRequest{Key: []byte("secret"), Value: []byte("s")}, &api.PutResponse{})

	t.Run("range overlapping a forbidden key", func(t *testing.T) {
		alice0 := asUser{t, alice0.conn, alice0.token}
		// [app/, config\x00) covers alice's keys and config, and also
		// every key between them ("b", "secret"...).
		wantCode(t, "range", alice0.get("app/", "config\x00"), api.ErrPermissionDenied)
		wantCode(t, "from key", alice0.get("app/", "\x00"), api.ErrPermissionDenied)
		wantCode(t, "read-only key written", alice0.put("config"), api.ErrPermissionDenied)
		wantCode(t, "delete range", alice0.call(api.MethodDeleteRange, &api.DeleteRangeRequest{Key: []byte("app/"), RangeEnd: []byte("b")}, &api.DeleteRangeResponse{}), api.ErrPermissionDenied)
	})

	t.Run("txn whose compare touches a forbidden key", func(t *testing.T) {
		root, alice0 := asUser{t, root.conn, root.token}, asUser{t, alice0.conn, alice0.token}
		txn := &api.TxnRequest{
			Compare: []api.Compare{{Result: api.CompareEqual, Target: api.CompareValue, Key: []byte("secret"), Value: []byte("s")}},
			Success: []api.RequestOp{{Put: &api.PutRequest{Key: []byte("app/leak"), Value: []byte("yes")}}},
			Failure: []api.RequestOp{{Put: &api.PutRequest{Key: []byte("app/leak"), Value: []byte("no")}}},
		}
		wantCode(t, "txn", alice0.call(api.MethodTxn, txn, &api.TxnResponse{}), api.ErrPermissionDenied)
		var got api.RangeResponse
		root.must(api.MethodRange, &api.RangeRequest{Key: []byte("app/leak")}, &got)
		if len(got.Kvs) != 0 {
			t.Fatalf("the refused txn wrote %q", got.Kvs[0].Value)
		}
		txn.Compare[0].Key = []byte("config")
		if err := alice0.call(api.MethodTxn, txn, &api.TxnResponse{}); err != nil {
			t.Fatalf("txn within alice's permissions: %v", err)
		}
	})

	t.Run("watch on a forbidden prefix", func(t *testing.T) {
		ctx := rpc.WithToken(ctxT(t), aliceTok)
		st, err := c2.NewStream(ctx, rpc.Method(api.MethodWatch))
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		watch := func(key, end string) api.WatchResponse {
			t.Helper()
			if err := st.Send(api.Marshal(&api.WatchRequest{Create: &api.WatchCreateRequest{Key: []byte(key), RangeEnd: []byte(end)}})); err != nil {
				t.Fatal(err)
			}
			b, err := st.Recv()
			if err != nil {
				t.Fatal(err)
			}
			var resp api.WatchResponse
			if err := api.Unmarshal(b, &resp); err != nil {
				t.Fatal(err)
			}
			return resp
		}
		if r := watch("s", "t"); !r.Created || !r.Canceled || !strings.Contains(r.CancelReason, "permission denied") {
			t.Fatalf("watch on a forbidden prefix: %+v", r)
		}
		if r := watch("app/", "app0"); !r.Created || r.Canceled {
			t.Fatalf("watch on alice's prefix: %+v", r)
		}
	})

	t.Run("lease revoke with a forbidden attached key", func(t *testing.T) {
		root, alice0 := asUser{t, root.conn, root.token}, asUser{t, alice0.conn, alice0.token}
		var grant api.LeaseGrantResponse
		if err := alice0.call(api.MethodLeaseGrant, &api.LeaseGrantRequest{TTL: 60}, &grant); err != nil {
			t.Fatal(err)
		}
		if err := alice0.call(api.MethodPut, &api.PutRequest{Key: []byte("app/leased"), Lease: grant.ID}, &api.PutResponse{}); err != nil {
			t.Fatal(err)
		}
		root.must(api.MethodPut, &api.PutRequest{Key: []byte("secret/leased"), Lease: grant.ID}, &api.PutResponse{})
		wantCode(t, "revoke", alice0.call(api.MethodLeaseRevoke, &api.LeaseRevokeRequest{ID: grant.ID}, &api.LeaseRevokeResponse{}), api.ErrPermissionDenied)
		// Reading the lease's keys needs read on each; listing leases
		// shows alice only those whose keys she may read.
		leader := dial(t, c, c.Leader()) // time-to-live is the leader's
		ttl := func(tok string) error {
			return call(ctxT(t), leader, tok, api.MethodLeaseTimeToLive, &api.LeaseTimeToLiveRequest{ID: grant.ID, Keys: true}, &api.LeaseTimeToLiveResponse{})
		}
		wantCode(t, "time-to-live with keys", ttl(alice0.token), api.ErrPermissionDenied)
		if err := ttl(root.token); err != nil {
			t.Fatalf("root asking for the lease's keys: %v", err)
		}
		listed := func(u asUser) bool {
			var resp api.LeaseLeasesResponse
			u.must(api.MethodLeaseLeases, &api.LeaseLeasesRequest{}, &resp)
			for _, l := range resp.Leases {
				if l.ID == grant.ID {
					return true
				}
			}
			return false
		}
		if listed(alice0) || !listed(root) {
			t.Fatalf("lease listed to alice: %v, to root: %v", listed(alice0), listed(root))
		}
		var got api.RangeResponse
		root.must(api.MethodRange, &api.RangeRequest{Key: []byte("secret/leased")}, &got)
		if len(got.Kvs) != 1 {
			t.Fatal("the refused revoke deleted the key")
		}
		root.must(api.MethodLeaseRevoke, &api.LeaseRevokeRequest{ID: grant.ID}, &api.LeaseRevokeResponse{})
	})

	t.Run("non-root administration", func(t *testing.T) {
		alice0 := asUser{t, alice0.conn, alice0.token}
		for _, tc := range []struct {
			method    uint16
			req, resp api.Message
		}{
			{api.MethodUserAdd, &api.UserAddRequest{Name: "mallory", Password: "x"}, &api.UserAddResponse{}},
			{api.MethodUserGrantRole, &api.UserGrantRoleRequest{User: "alice", Role: "root"}, &api.UserGrantRoleResponse{}},
			{api.MethodRoleGrantPermission, &api.RoleGrantPermissionRequest{Name: "app", Perm: api.Permission{PermType: api.PermReadWrite, Key: []byte{0}, RangeEnd: []byte{0}}}, &api.RoleGrantPermissionResponse{}},
			{api.MethodUserList, &api.UserListRequest{}, &api.UserListResponse{}},
			{api.MethodAuthDisable, &api.AuthDisableRequest{}, &api.AuthDisableResponse{}},
			{api.MethodDefragment, &api.DefragmentRequest{}, &api.DefragmentResponse{}},
			{api.MethodHashKV, &api.HashKVRequest{}, &api.HashKVResponse{}},
			{api.MethodMemberRemove, &api.MemberRemoveRequest{ID: 1}, &api.MemberRemoveResponse{}},
			{api.MethodAlarm, &api.AlarmRequest{Action: api.AlarmDeactivate}, &api.AlarmResponse{}},
			{api.MethodCompact, &api.CompactionRequest{Revision: 1}, &api.CompactionResponse{}},
		} {
			wantCode(t, fmt.Sprintf("%T", tc.req), alice0.call(tc.method, tc.req, tc.resp), api.ErrPermissionDenied)
		}
		// Open calls, and what a user may ask about itself.
		var st api.AuthStatusResponse
		if err := alice0.call(api.MethodAuthStatus, &api.AuthStatusRequest{}, &st); err != nil || !st.Enabled {
			t.Fatalf("auth status: %+v %v", st, err)
		}
		var ug api.UserGetResponse
		if err := alice0.call(api.MethodUserGet, &api.UserGetRequest{Name: "alice"}, &ug); err != nil || len(ug.Roles) != 1 {
			t.Fatalf("alice's own roles: %+v %v", ug, err)
		}
		if err := alice0.call(api.MethodMemberList, &api.MemberListRequest{}, &api.MemberListResponse{}); err != nil {
			t.Fatalf("member list: %v", err)
		}
	})

	t.Run("permission revoked takes effect at once", func(t *testing.T) {
		root := asUser{t, root.conn, root.token}
		root.must(api.MethodRoleRevokePermission, &api.RoleRevokePermissionRequest{Role: "app", Key: []byte("app/"), RangeEnd: []byte("app0")}, &api.RoleRevokePermissionResponse{})
		// Her simple token, issued before the change, stands for her as
		// the state is now (as etcd's): every member checks it against
		// the permissions left, and so does a fresh one.
		fresh := mustAuthenticate(t, c0, "alice", "alicepw")
		for _, tok := range []string{aliceTok, fresh} {
			for i, conn := range []*rpc.Conn{c0, c1, c2} {
				u := asUser{t, conn, tok}
				wantCode(t, fmt.Sprintf("read at member %d", i), u.get("app/x", ""), api.ErrPermissionDenied)
				wantCode(t, fmt.Sprintf("write at member %d", i), u.put("app/x"), api.ErrPermissionDenied)
			}
			if err := (asUser{t, c2, tok}).get("config", ""); err != nil {
				t.Fatalf("the permission left in place: %v", err)
			}
		}
	})

	t.Run("deleted user's token", func(t *testing.T) {
		tok := mustAuthenticate(t, c2, "alice", "alicepw")
		root := asUser{t, c0, mustAuthenticate(t, c0, "root", "rootpw")}
		root.must(api.MethodUserDelete, &api.UserDeleteRequest{Name: "alice"}, &api.UserDeleteResponse{})
		// Her tokens end with her, on every member; root's token, issued
		// before the change, goes on.
		for i, conn := range []*rpc.Conn{c0, c1, c2} {
			wantCode(t, fmt.Sprintf("token of a deleted user at member %d", i), asUser{t, conn, tok}.get("config", ""), api.ErrInvalidAuthToken)
		}
		if err := (asUser{t, c1, root.token}).get("config", ""); err != nil {
			t.Fatalf("root's token after another user's deletion: %v", err)
		}
		_, err := authenticate(t, c1, "alice", "alicepw")
		wantCode(t, "deleted user authenticating", err, api.ErrAuthFailed)
	})

	t.Run("root cannot lock itself out", func(t *testing.T) {
		root := asUser{t, c0, mustAuthenticate(t, c0, "root", "rootpw")}
		wantCode(t, "delete root", root.call(api.MethodUserDelete, &api.UserDeleteRequest{Name: "root"}, &api.UserDeleteResponse{}), api.ErrInvalidAuthMgmt)
		wantCode(t, "revoke root's role", root.call(api.MethodUserRevokeRole, &api.UserRevokeRoleRequest{Name: "root", Role: "root"}, &api.UserRevokeRoleResponse{}), api.ErrInvalidAuthMgmt)
	})
}

// A simple token stands for its user until the user changes password or
// is deleted, or auth goes off (as etcd's): other users' changes leave it
// good. A signed token names the revision it was issued at, and any auth
// change makes it old (as etcd's JWT tokens).
func TestTokenLifetimes(t *testing.T) {
	for _, kind := range []string{auth.TokenSimple, auth.TokenSigned} {
		t.Run(kind, func(t *testing.T) {
			c := authCluster(t, 1, func(cfg *node.Config) { cfg.AuthToken = kind })
			c0 := dial(t, c, 0)
			setUpAuth(t, c0)
			root := asUser{t, c0, mustAuthenticate(t, c0, "root", "rootpw")}
			alice := asUser{t, c0, mustAuthenticate(t, c0, "alice", "alicepw")}
			root.must(api.MethodUserAdd, &api.UserAddRequest{Name: "bob", Password: "bobpw"}, &api.UserAddResponse{})
			afterOtherChange := api.ErrAuthOldRevision
			if kind == auth.TokenSimple {
				afterOtherChange = nil
			}
			for _, u := range []asUser{root, alice} {
				if err := u.get("config", ""); !errors.Is(err, afterOtherChange) {
					t.Fatalf("a token from before another user was added: %v, want %v", err, afterOtherChange)
				}
			}
			if kind != auth.TokenSimple {
				return
			}
			// alice's new password ends her tokens only.
			root.must(api.MethodUserChangePassword, &api.UserChangePasswordRequest{Name: "alice", Password: "new"}, &api.UserChangePasswordResponse{})
			wantCode(t, "alice's token after her password changed", alice.get("config", ""), api.ErrInvalidAuthToken)
			if err := root.get("config", ""); err != nil {
				t.Fatalf("root's token after alice's password changed: %v", err)
			}
			alice = asUser{t, c0, mustAuthenticate(t, c0, "alice", "new")}
			// Auth going off ends them all: on again, they are unknown.
			root.must(api.MethodAuthDisable, &api.AuthDisableRequest{}, &api.AuthDisableResponse{})
			asUser{t: t, conn: c0}.must(api.MethodAuthEnable, &api.AuthEnableRequest{}, &api.AuthEnableResponse{})
			for name, u := range map[string]asUser{"root": root, "alice": alice} {
				wantCode(t, name+"'s token from before auth went off", u.get("config", ""), api.ErrInvalidAuthToken)
			}
		})
	}
}
