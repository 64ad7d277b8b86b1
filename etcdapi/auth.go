package etcdapi

import (
	"context"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/internal/etcdconv"
	"github.com/cairndb/cairn/node"
	"go.etcd.io/etcd/api/v3/authpb"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// authServer is etcd's Auth service on cairn's services. Callers are
// identified as on the native port: by the token of the "token" (or the
// gateway's "authorization") metadata, else by the common name of their
// verified TLS client certificate.
type authServer struct{ s *node.Server }

func (a authServer) AuthEnable(ctx context.Context, r *pb.AuthEnableRequest) (*pb.AuthEnableResponse, error) {
	resp, err := a.s.AuthEnable(ctx, &api.AuthEnableRequest{})
	if err != nil {
		return nil, toGRPCError(err)
	}
	return &pb.AuthEnableResponse{Header: etcdconv.ToHeader(resp.Header)}, nil
}

func (a authServer) AuthDisable(ctx context.Context, r *pb.AuthDisableRequest) (*pb.AuthDisableResponse, error) {
	resp, err := a.s.AuthDisable(ctx, &api.AuthDisableRequest{})
	if err != nil {
		return nil, toGRPCError(err)
	}
	return &pb.AuthDisableResponse{Header: etcdconv.ToHeader(resp.Header)}, nil
}

func (a authServer) AuthStatus(ctx context.Context, r *pb.AuthStatusRequest) (*pb.AuthStatusResponse, error) {
	resp, err := a.s.AuthStatus(ctx, &api.AuthStatusRequest{})
	if err != nil {
		return nil, toGRPCError(err)
	}
	return etcdconv.ToAuthStatus(resp), nil
}

func (a authServer) Authenticate(ctx context.Context, r *pb.AuthenticateRequest) (*pb.AuthenticateResponse, error) {
	resp, err := a.s.Authenticate(ctx, &api.AuthenticateRequest{Name: r.Name, Password: r.Password})
	if err != nil {
		return nil, toGRPCError(err)
	}
	return &pb.AuthenticateResponse{Header: etcdconv.ToHeader(resp.Header), Token: resp.Token}, nil
}

func (a authServer) UserAdd(ctx context.Context, r *pb.AuthUserAddRequest) (*pb.AuthUserAddResponse, error) {
	// A hashedPassword from the client is not used: etcd's server sets
	// it to its own hash of password (empty or not) before it proposes.
	noPassword := r.Options != nil && r.Options.NoPassword
	resp, err := a.s.UserAdd(ctx, &api.UserAddRequest{Name: r.Name, Password: r.Password, NoPassword: noPassword})
	if err != nil {
		return nil, toGRPCError(err)
	}
	return &pb.AuthUserAddResponse{Header: etcdconv.ToHeader(resp.Header)}, nil
}

func (a authServer) UserGet(ctx context.Context, r *pb.AuthUserGetRequest) (*pb.AuthUserGetResponse, error) {
	resp, err := a.s.UserGet(ctx, &api.UserGetRequest{Name: r.Name})
	if err != nil {
		return nil, toGRPCError(err)
	}
	return etcdconv.ToUserGet(resp), nil
}

func (a authServer) UserList(ctx context.Context, r *pb.AuthUserListRequest) (*pb.AuthUserListResponse, error) {
	resp, err := a.s.UserList(ctx, &api.UserListRequest{})
	if err != nil {
		return nil, toGRPCError(err)
	}
	return etcdconv.ToUserList(resp), nil
}

func (a authServer) UserDelete(ctx context.Context, r *pb.AuthUserDeleteRequest) (*pb.AuthUserDeleteResponse, error) {
	resp, err := a.s.UserDelete(ctx, &api.UserDeleteRequest{Name: r.Name})
	if err != nil {
		return nil, toGRPCError(err)
	}
	return &pb.AuthUserDeleteResponse{Header: etcdconv.ToHeader(resp.Header)}, nil
}

func (a authServer) UserChangePassword(ctx context.Context, r *pb.AuthUserChangePasswordRequest) (*pb.AuthUserChangePasswordResponse, error) {
	// hashedPassword (a bcrypt hash the client made, in base64) is used
	// when password is empty, as etcd does.
	resp, err := a.s.UserChangePassword(ctx, &api.UserChangePasswordRequest{Name: r.Name, Password: r.Password, HashedPassword: r.HashedPassword})
	if err != nil {
		return nil, toGRPCError(err)
	}
	return &pb.AuthUserChangePasswordResponse{Header: etcdconv.ToHeader(resp.Header)}, nil
}

func (a authServer) UserGrantRole(ctx context.Context, r *pb.AuthUserGrantRoleRequest) (*pb.AuthUserGrantRoleResponse, error) {
	resp, err := a.s.UserGrantRole(ctx, &api.UserGrantRoleRequest{User: r.User, Role: r.Role})
	if err != nil {
		return nil, toGRPCError(err)
	}
	return &pb.AuthUserGrantRoleResponse{Header: etcdconv.ToHeader(resp.Header)}, nil
}

func (a authServer) UserRevokeRole(ctx context.Context, r *pb.AuthUserRevokeRoleRequest) (*pb.AuthUserRevokeRoleResponse, error) {
	resp, err := a.s.UserRevokeRole(ctx, &api.UserRevokeRoleRequest{Name: r.Name, Role: r.Role})
	if err != nil {
		return nil, toGRPCError(err)
	}
	return &pb.AuthUserRevokeRoleResponse{Header: etcdconv.ToHeader(resp.Header)}, nil
}

func (a authServer) RoleAdd(ctx context.Context, r *pb.AuthRoleAddRequest) (*pb.AuthRoleAddResponse, error) {
	resp, err := a.s.RoleAdd(ctx, &api.RoleAddRequest{Name: r.Name})
	if err != nil {
		return nil, toGRPCError(err)
	}
	return &pb.AuthRoleAddResponse{Header: etcdconv.ToHeader(resp.Header)}, nil
}

func (a authServer) RoleGet(ctx context.Context, r *pb.AuthRoleGetRequest) (*pb.AuthRoleGetResponse, error) {
	resp, err := a.s.RoleGet(ctx, &api.RoleGetRequest{Role: r.Role})
	if err != nil {
		return nil, toGRPCError(err)
	}
	return etcdconv.ToRoleGet(resp), nil
}

func (a authServer) RoleList(ctx context.Context, r *pb.AuthRoleListRequest) (*pb.AuthRoleListResponse, error) {
	resp, err := a.s.RoleList(ctx, &api.RoleListRequest{})
	if err != nil {
		return nil, toGRPCError(err)
	}
	return etcdconv.ToRoleList(resp), nil
}

func (a authServer) RoleDelete(ctx context.Context, r *pb.AuthRoleDeleteRequest) (*pb.AuthRoleDeleteResponse, error) {
	resp, err := a.s.RoleDelete(ctx, &api.RoleDeleteRequest{Role: r.Role})
	if err != nil {
		return nil, toGRPCError(err)
	}
	return &pb.AuthRoleDeleteResponse{Header: etcdconv.ToHeader(resp.Header)}, nil
}

func (a authServer) RoleGrantPermission(ctx context.Context, r *pb.AuthRoleGrantPermissionRequest) (*pb.AuthRoleGrantPermissionResponse, error) {
	if r.Perm == nil {
		return nil, toGRPCError(api.ErrPermissionNotGiven)
	}
	if r.Perm.PermType < authpb.READ || r.Perm.PermType > authpb.READWRITE {
		return nil, status.Errorf(codes.InvalidArgument, "etcdserver: unknown permission type %d", r.Perm.PermType)
	}
	perm := api.Permission{PermType: api.PermType(r.Perm.PermType), Key: r.Perm.Key, RangeEnd: r.Perm.RangeEnd}
	resp, err := a.s.RoleGrantPermission(ctx, &api.RoleGrantPermissionRequest{Name: r.Name, Perm: perm})
	if err != nil {
		return nil, toGRPCError(err)
	}
	return &pb.AuthRoleGrantPermissionResponse{Header: etcdconv.ToHeader(resp.Header)}, nil
}

func (a authServer) RoleRevokePermission(ctx context.Context, r *pb.AuthRoleRevokePermissionRequest) (*pb.AuthRoleRevokePermissionResponse, error) {
	resp, err := a.s.RoleRevokePermission(ctx, &api.RoleRevokePermissionRequest{Role: r.Role, Key: r.Key, RangeEnd: r.RangeEnd})
	if err != nil {
		return nil, toGRPCError(err)
	}
	return &pb.AuthRoleRevokePermissionResponse{Header: etcdconv.ToHeader(resp.Header)}, nil
}
