package client

import (
	"context"
	"fmt"
	"strings"

	"github.com/cairndb/cairn/api"
)

// The auth API: turning authentication on and off, users, roles and the
// permissions roles grant on key ranges, as etcd's. A typical setup:
//
//	c.UserAdd(ctx, "root", "rootpw")
//	c.UserGrantRole(ctx, "root", "root")
//	c.AuthEnable(ctx)
//	// from now on, as root (Config.Username "root"):
//	c.RoleAdd(ctx, "reader")
//	c.RoleGrantPermission(ctx, "reader", "app/", PrefixRangeEnd("app/"), api.PermRead)
//	c.UserAdd(ctx, "alice", "alicepw")
//	c.UserGrantRole(ctx, "alice", "reader")
//
// Calls that change users, roles or permissions go through the cluster's
// log, like writes; the ones that only read (AuthStatus, UserGet,
// UserList, RoleGet, RoleList) are reads.

// FromKeyRangeEnd is the range end that makes a permission (or a range)
// cover every key at or after its key.
const FromKeyRangeEnd = "\x00"

// PrefixRangeEnd is the range end that makes a permission cover every key
// starting with prefix ("" covers every key).
func PrefixRangeEnd(prefix string) string { return string(PrefixEnd([]byte(prefix))) }

// ParsePermType reads a permission type as people write it: read, write
// or readwrite (in any case).
func ParsePermType(s string) (api.PermType, error) {
	switch strings.ToLower(s) {
	case "read":
		return api.PermRead, nil
	case "write":
		return api.PermWrite, nil
	case "readwrite":
		return api.PermReadWrite, nil
	}
	return 0, fmt.Errorf("client: permission type %q: want read, write or readwrite", s)
}

// PermTypeName is the name of a permission type: read, write or
// readwrite.
func PermTypeName(t api.PermType) string {
	switch t {
	case api.PermRead:
		return "read"
	case api.PermWrite:
		return "write"
	case api.PermReadWrite:
		return "readwrite"
	}
	return fmt.Sprintf("PermType(%d)", uint8(t))
}

// AuthEnable turns authentication on. The root user must exist and hold
// the root role.
func (c *Client) AuthEnable(ctx context.Context) (*api.AuthEnableResponse, error) {
	resp := &api.AuthEnableResponse{}
	return resp, c.call(ctx, api.MethodAuthEnable, &api.AuthEnableRequest{}, resp)
}

// AuthDisable turns authentication off (as root, while it is on).
func (c *Client) AuthDisable(ctx context.Context) (*api.AuthDisableResponse, error) {
	resp := &api.AuthDisableResponse{}
	return resp, c.call(ctx, api.MethodAuthDisable, &api.AuthDisableRequest{}, resp)
}

// AuthStatus says whether authentication is on, and the revision of the
// users, roles and permissions.
func (c *Client) AuthStatus(ctx context.Context) (*api.AuthStatusResponse, error) {
	resp := &api.AuthStatusResponse{}
	return resp, c.callRead(ctx, api.MethodAuthStatus, &api.AuthStatusRequest{}, resp)
}

// Authenticate exchanges a user's name and password for a token. The
// client does this itself for Config.Username; call it to check a
// password, or to get a token for rpc.WithToken.
func (c *Client) Authenticate(ctx context.Context, name, password string) (*api.AuthenticateResponse, error) {
	resp := &api.AuthenticateResponse{}
	return resp, c.invoke(ctx, api.MethodAuthenticate, &api.AuthenticateRequest{Name: name, Password: password}, resp, retryRead)
}

// UserAdd creates a user with a password.
func (c *Client) UserAdd(ctx context.Context, name, password string) (*api.UserAddResponse, error) {
	return c.userAdd(ctx, &api.UserAddRequest{Name: name, Password: password})
}

// UserAddNoPassword creates a user who cannot authenticate with a
// password (only with a client certificate whose common name is the
// user's name).
func (c *Client) UserAddNoPassword(ctx context.Context, name string) (*api.UserAddResponse, error) {
	return c.userAdd(ctx, &api.UserAddRequest{Name: name, NoPassword: true})
}

func (c *Client) userAdd(ctx context.Context, req *api.UserAddRequest) (*api.UserAddResponse, error) {
	resp := &api.UserAddResponse{}
	return resp, c.call(ctx, api.MethodUserAdd, req, resp)
}

// UserGet returns the roles granted to a user.
func (c *Client) UserGet(ctx context.Context, name string) (*api.UserGetResponse, error) {
	resp := &api.UserGetResponse{}
	return resp, c.callRead(ctx, api.MethodUserGet, &api.UserGetRequest{Name: name}, resp)
}

// UserList lists every user.
func (c *Client) UserList(ctx context.Context) (*api.UserListResponse, error) {
	resp := &api.UserListResponse{}
	return resp, c.callRead(ctx, api.MethodUserList, &api.UserListRequest{}, resp)
}

// UserDelete deletes a user.
func (c *Client) UserDelete(ctx context.Context, name string) (*api.UserDeleteResponse, error) {
	resp := &api.UserDeleteResponse{}
	return resp, c.call(ctx, api.MethodUserDelete, &api.UserDeleteRequest{Name: name}, resp)
}

// UserChangePassword sets a user's password.
func (c *Client) UserChangePassword(ctx context.Context, name, password string) (*api.UserChangePasswordResponse, error) {
	resp := &api.UserChangePasswordResponse{}
	return resp, c.call(ctx, api.MethodUserChangePassword, &api.UserChangePasswordRequest{Name: name, Password: password}, resp)
}

// UserGrantRole grants role to user.
func (c *Client) UserGrantRole(ctx context.Context, user, role string) (*api.UserGrantRoleResponse, error) {
	resp := &api.UserGrantRoleResponse{}
	return resp, c.call(ctx, api.MethodUserGrantRole, &api.UserGrantRoleRequest{User: user, Role: role}, resp)
}

// UserRevokeRole takes role away from user.
func (c *Client) UserRevokeRole(ctx context.Context, user, role string) (*api.UserRevokeRoleResponse, error) {
	resp := &api.UserRevokeRoleResponse{}
	return resp, c.call(ctx, api.MethodUserRevokeRole, &api.UserRevokeRoleRequest{Name: user, Role: role}, resp)
}

// RoleAdd creates a role with no permissions.
func (c *Client) RoleAdd(ctx context.Context, name string) (*api.RoleAddResponse, error) {
	resp := &api.RoleAddResponse{}
	return resp, c.call(ctx, api.MethodRoleAdd, &api.RoleAddRequest{Name: name}, resp)
}

// RoleGet returns a role's permissions.
func (c *Client) RoleGet(ctx context.Context, role string) (*api.RoleGetResponse, error) {
	resp := &api.RoleGetResponse{}
	return resp, c.callRead(ctx, api.MethodRoleGet, &api.RoleGetRequest{Role: role}, resp)
}

// RoleList lists every role.
func (c *Client) RoleList(ctx context.Context) (*api.RoleListResponse, error) {
	resp := &api.RoleListResponse{}
	return resp, c.callRead(ctx, api.MethodRoleList, &api.RoleListRequest{}, resp)
}

// RoleDelete deletes a role, revoking it from every user.
func (c *Client) RoleDelete(ctx context.Context, role string) (*api.RoleDeleteResponse, error) {
	resp := &api.RoleDeleteResponse{}
	return resp, c.call(ctx, api.MethodRoleDelete, &api.RoleDeleteRequest{Role: role}, resp)
}

// RoleGrantPermission lets role access the keys in [key, rangeEnd) as
// perm says. An empty rangeEnd means key alone; PrefixRangeEnd(key)
// every key starting with key; FromKeyRangeEnd every key from key on.
func (c *Client) RoleGrantPermission(ctx context.Context, role, key, rangeEnd string, perm api.PermType) (*api.RoleGrantPermissionResponse, error) {
	resp := &api.RoleGrantPermissionResponse{}
	req := &api.RoleGrantPermissionRequest{Name: role, Perm: api.Permission{PermType: perm, Key: []byte(key), RangeEnd: optBytes(rangeEnd)}}
	return resp, c.call(ctx, api.MethodRoleGrantPermission, req, resp)
}

// RoleRevokePermission removes role's permission on exactly the range
// [key, rangeEnd) (the range it was granted on).
func (c *Client) RoleRevokePermission(ctx context.Context, role, key, rangeEnd string) (*api.RoleRevokePermissionResponse, error) {
	resp := &api.RoleRevokePermissionResponse{}
	req := &api.RoleRevokePermissionRequest{Role: role, Key: []byte(key), RangeEnd: optBytes(rangeEnd)}
	return resp, c.call(ctx, api.MethodRoleRevokePermission, req, resp)
}

// optBytes is s as bytes, nil when empty (no range end: a single key).
func optBytes(s string) []byte {
	if s == "" {
		return nil
	}
	return []byte(s)
}
