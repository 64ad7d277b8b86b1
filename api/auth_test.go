package api

import (
	"testing"

	"pgregory.net/rapid"
)

func genPermission(t *rapid.T) Permission {
	return Permission{PermType: PermType(rapid.IntRange(0, 2).Draw(t, "perm")), Key: genBytes(t, "k"), RangeEnd: genBytes(t, "e")}
}

func TestAuthRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		p := genPermission(t)
		roundTrip(t, &p)
		roundTrip(t, &AuthEnableRequest{})
		roundTrip(t, &AuthEnableResponse{Header: genHeader(t)})
		roundTrip(t, &AuthDisableRequest{})
		roundTrip(t, &AuthDisableResponse{Header: genHeader(t)})
		roundTrip(t, &AuthStatusRequest{})
		roundTrip(t, &AuthStatusResponse{Header: genHeader(t), Enabled: rapid.Bool().Draw(t, "on"),
			AuthRevision: rapid.Uint64().Draw(t, "rev")})
		roundTrip(t, &AuthenticateRequest{Name: genStr(t), Password: genStr(t)})
		roundTrip(t, &AuthenticateResponse{Header: genHeader(t), Token: genStr(t)})
		roundTrip(t, &UserAddRequest{Name: genStr(t), Password: genStr(t), NoPassword: rapid.Bool().Draw(t, "nopw")})
		roundTrip(t, &UserAddResponse{Header: genHeader(t)})
		roundTrip(t, &UserGetRequest{Name: genStr(t)})
		roundTrip(t, &UserGetResponse{Header: genHeader(t), Roles: genStrs(t, "roles")})
		roundTrip(t, &UserListRequest{})
		roundTrip(t, &UserListResponse{Header: genHeader(t), Users: genStrs(t, "users")})
		roundTrip(t, &UserDeleteRequest{Name: genStr(t)})
		roundTrip(t, &UserDeleteResponse{Header: genHeader(t)})
		roundTrip(t, &UserChangePasswordRequest{Name: genStr(t), Password: genStr(t)})
		roundTrip(t, &UserChangePasswordResponse{Header: genHeader(t)})
		roundTrip(t, &UserGrantRoleRequest{User: genStr(t), Role: genStr(t)})
		roundTrip(t, &UserGrantRoleResponse{Header: genHeader(t)})
		roundTrip(t, &UserRevokeRoleRequest{Name: genStr(t), Role: genStr(t)})
		roundTrip(t, &UserRevokeRoleResponse{Header: genHeader(t)})
		roundTrip(t, &RoleAddRequest{Name: genStr(t)})
		roundTrip(t, &RoleAddResponse{Header: genHeader(t)})
		roundTrip(t, &RoleGetRequest{Role: genStr(t)})
		roundTrip(t, &RoleGetResponse{Header: genHeader(t), Perm: genList(t, "perms", genPermission)})
		roundTrip(t, &RoleListRequest{})
		roundTrip(t, &RoleListResponse{Header: genHeader(t), Roles: genStrs(t, "roles")})
		roundTrip(t, &RoleDeleteRequest{Role: genStr(t)})
		roundTrip(t, &RoleDeleteResponse{Header: genHeader(t)})
		roundTrip(t, &RoleGrantPermissionRequest{Name: genStr(t), Perm: genPermission(t)})
		roundTrip(t, &RoleGrantPermissionResponse{Header: genHeader(t)})
		roundTrip(t, &RoleRevokePermissionRequest{Role: genStr(t), Key: genBytes(t, "k"), RangeEnd: genBytes(t, "e")})
		roundTrip(t, &RoleRevokePermissionResponse{Header: genHeader(t)})
	})
}
