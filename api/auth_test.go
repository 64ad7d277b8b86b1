package api

import (
	"errors"
	"reflect"
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

// TestUserChangePasswordRequestRoundTrip checks UserChangePasswordRequest
// round trips, and that the bytes an older client sends, which end before
// HashedPassword, decode with it empty, while every other prefix is an
// error.
func TestUserChangePasswordRequestRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		m := &UserChangePasswordRequest{Name: genStr(t), Password: genStr(t), HashedPassword: genStr(t)}
		b := Marshal(m)
		var got UserChangePasswordRequest
		if err := Unmarshal(b, &got); err != nil || !reflect.DeepEqual(&got, m) {
			t.Fatalf("round trip: %v\n got %+v\nwant %+v", err, &got, m)
		}
		older := *m
		older.HashedPassword = ""
		oldLen := len(Marshal(&older)) - 1 // the new field, empty, is a byte
		for i := 0; i < len(b); i++ {
			var p UserChangePasswordRequest
			err := Unmarshal(b[:i], &p)
			if i == oldLen {
				if err != nil || !reflect.DeepEqual(&p, &older) {
					t.Fatalf("older client's %d bytes: %v\n got %+v\nwant %+v", i, err, &p, &older)
				}
			} else if !errors.Is(err, ErrDecode) {
				t.Fatalf("prefix %d/%d: %v", i, len(b), err)
			}
		}
	})
}
