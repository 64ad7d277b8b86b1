package client

import (
	"errors"
	"reflect"
	"testing"

	"github.com/cairndb/cairn/api"
)

// TestAuthMethodsSendTheirRequests checks each auth method sends its
// method number and request, and decodes the response.
func TestAuthMethodsSendTheirRequests(t *testing.T) {
	f := newFakeCluster(t)
	c := f.client(t, "root", "rootpw")
	ctx := testContext(t)
	perm := func(p api.PermType, key, end string) api.Permission {
		return api.Permission{PermType: p, Key: []byte(key), RangeEnd: optBytes(end)}
	}
	for _, tc := range []struct {
		name   string
		call   func() (any, error)
		method uint16
		want   api.Message // the request the server should see
		got    api.Message // an empty request of the same type
	}{
		{"AuthEnable", func() (any, error) { return c.AuthEnable(ctx) }, api.MethodAuthEnable, &api.AuthEnableRequest{}, &api.AuthEnableRequest{}},
		{"AuthDisable", func() (any, error) { return c.AuthDisable(ctx) }, api.MethodAuthDisable, &api.AuthDisableRequest{}, &api.AuthDisableRequest{}},
		{"AuthStatus", func() (any, error) { return c.AuthStatus(ctx) }, api.MethodAuthStatus, &api.AuthStatusRequest{}, &api.AuthStatusRequest{}},
		{"UserAdd", func() (any, error) { return c.UserAdd(ctx, "alice", "pw") }, api.MethodUserAdd,
			&api.UserAddRequest{Name: "alice", Password: "pw"}, &api.UserAddRequest{}},
		{"UserAddNoPassword", func() (any, error) { return c.UserAddNoPassword(ctx, "bob") }, api.MethodUserAdd,
			&api.UserAddRequest{Name: "bob", NoPassword: true}, &api.UserAddRequest{}},
		{"UserGet", func() (any, error) { return c.UserGet(ctx, "alice") }, api.MethodUserGet, &api.UserGetRequest{Name: "alice"}, &api.UserGetRequest{}},
		{"UserList", func() (any, error) { return c.UserList(ctx) }, api.MethodUserList, &api.UserListRequest{}, &api.UserListRequest{}},
		{"UserDelete", func() (any, error) { return c.UserDelete(ctx, "alice") }, api.MethodUserDelete, &api.UserDeleteRequest{Name: "alice"}, &api.UserDeleteRequest{}},
		{"UserChangePassword", func() (any, error) { return c.UserChangePassword(ctx, "alice", "new") }, api.MethodUserChangePassword,
			&api.UserChangePasswordRequest{Name: "alice", Password: "new"}, &api.UserChangePasswordRequest{}},
		{"UserGrantRole", func() (any, error) { return c.UserGrantRole(ctx, "alice", "r") }, api.MethodUserGrantRole,
			&api.UserGrantRoleRequest{User: "alice", Role: "r"}, &api.UserGrantRoleRequest{}},
		{"UserRevokeRole", func() (any, error) { return c.UserRevokeRole(ctx, "alice", "r") }, api.MethodUserRevokeRole,
			&api.UserRevokeRoleRequest{Name: "alice", Role: "r"}, &api.UserRevokeRoleRequest{}},
		{"RoleAdd", func() (any, error) { return c.RoleAdd(ctx, "r") }, api.MethodRoleAdd, &api.RoleAddRequest{Name: "r"}, &api.RoleAddRequest{}},
		{"RoleGet", func() (any, error) { return c.RoleGet(ctx, "r") }, api.MethodRoleGet, &api.RoleGetRequest{Role: "r"}, &api.RoleGetRequest{}},
		{"RoleList", func() (any, error) { return c.RoleList(ctx) }, api.MethodRoleList, &api.RoleListRequest{}, &api.RoleListRequest{}},
		{"RoleDelete", func() (any, error) { return c.RoleDelete(ctx, "r") }, api.MethodRoleDelete, &api.RoleDeleteRequest{Role: "r"}, &api.RoleDeleteRequest{}},
		{"RoleGrantPermission key", func() (any, error) { return c.RoleGrantPermission(ctx, "r", "k", "", api.PermRead) },
			api.MethodRoleGrantPermission, &api.RoleGrantPermissionRequest{Name: "r", Perm: perm(api.PermRead, "k", "")}, &api.RoleGrantPermissionRequest{}},
		{"RoleGrantPermission prefix", func() (any, error) {
			return c.RoleGrantPermission(ctx, "r", "app/", PrefixRangeEnd("app/"), api.PermReadWrite)
		}, api.MethodRoleGrantPermission, &api.RoleGrantPermissionRequest{Name: "r", Perm: perm(api.PermReadWrite, "app/", "app0")}, &api.RoleGrantPermissionRequest{}},
		{"RoleGrantPermission from key", func() (any, error) { return c.RoleGrantPermission(ctx, "r", "m", FromKeyRangeEnd, api.PermWrite) },
			api.MethodRoleGrantPermission, &api.RoleGrantPermissionRequest{Name: "r", Perm: perm(api.PermWrite, "m", "\x00")}, &api.RoleGrantPermissionRequest{}},
		{"RoleRevokePermission", func() (any, error) { return c.RoleRevokePermission(ctx, "r", "a", "b") }, api.MethodRoleRevokePermission,
			&api.RoleRevokePermissionRequest{Role: "r", Key: []byte("a"), RangeEnd: []byte("b")}, &api.RoleRevokePermissionRequest{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := tc.call()
			if err != nil {
				t.Fatal(err)
			}
			if want := authResponse(tc.method); !reflect.DeepEqual(resp, want) {
				t.Errorf("response %+v, want %+v", resp, want)
			}
			f.mu.Lock()
			b := f.requests[tc.method]
			f.mu.Unlock()
			if err := api.Unmarshal(b, tc.got); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(tc.got, tc.want) {
				t.Errorf("server got %+v, want %+v", tc.got, tc.want)
			}
		})
	}
}

func TestAuthenticateReturnsAToken(t *testing.T) {
	f := newFakeCluster(t)
	c := f.client(t, "", "")
	resp, err := c.Authenticate(testContext(t), "root", "rootpw")
	if err != nil || resp.Token == "" {
		t.Fatalf("Authenticate: %+v, %v", resp, err)
	}
	if _, err := c.Authenticate(testContext(t), "root", "nope"); !errors.Is(err, api.ErrAuthFailed) {
		t.Fatalf("Authenticate with a wrong password: %v, want ErrAuthFailed", err)
	}
}

func TestPermTypeNames(t *testing.T) {
	for _, p := range []api.PermType{api.PermRead, api.PermWrite, api.PermReadWrite} {
		got, err := ParsePermType(PermTypeName(p))
		if err != nil || got != p {
			t.Errorf("ParsePermType(PermTypeName(%d)) = %d, %v", p, got, err)
		}
	}
	if p, err := ParsePermType("READWRITE"); err != nil || p != api.PermReadWrite {
		t.Errorf("ParsePermType(READWRITE) = %d, %v", p, err)
	}
	if _, err := ParsePermType("admin"); err == nil {
		t.Error("ParsePermType(admin) succeeded")
	}
}

func TestRangeEndHelpers(t *testing.T) {
	for _, tc := range []struct{ prefix, end string }{{"app/", "app0"}, {"a\xff", "b"}, {"", "\x00"}} {
		if got := PrefixRangeEnd(tc.prefix); got != tc.end {
			t.Errorf("PrefixRangeEnd(%q) = %q, want %q", tc.prefix, got, tc.end)
		}
	}
}
