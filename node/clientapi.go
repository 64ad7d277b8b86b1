package node

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"time"

	"github.com/cairndb/cairn/api"
)

// The client services as the faces of the client port call them. cairn's
// native rpc (services.go) and the etcd v3 gRPC API (package etcdapi) are
// two faces of one service layer: both call these methods, so a request
// gets the same admission, auth, limits, errors and metrics whichever
// protocol carried it. Every method bounds a call whose context has no
// deadline, and returns the layers' errors as the API's typed errors
// (*api.Error).

// ClientFace serves another protocol on the client port beside cairn's
// native rpc (ServerOptions.ClientFace): the rpc server hands it every
// connection that does not start with cairn's hello.
type ClientFace interface {
	// ServeConn takes over conn; tls is its TLS state (nil in plain TCP).
	// It must return promptly.
	ServeConn(conn net.Conn, tls *tls.ConnectionState)
	// Close stops the face and closes its connections.
	Close() error
}

// WatchStream is one client's watch stream, as the service sees it.
type WatchStream interface {
	// Recv returns the client's next request; io.EOF when it is done.
	Recv() (*api.WatchRequest, error)
	// Send delivers a response. It is called from one goroutine at a time.
	Send(*api.WatchResponse) error
}

// LeaseKeepAliveStream is one client's keep-alive stream.
type LeaseKeepAliveStream interface {
	// Recv returns the client's next renewal; io.EOF when it is done.
	Recv() (*api.LeaseKeepAliveRequest, error)
	Send(*api.LeaseKeepAliveResponse) error
}

// SnapshotSender receives the chunks of a snapshot stream.
type SnapshotSender interface {
	Send(*api.SnapshotResponse) error
}

// call runs one unary service for a face. The service is a method
// expression ((*Server).serveRange): a method value (s.serveRange) would
// be allocated on every call.
func call[Req any, Resp api.Message](s *Server, ctx context.Context, req *Req, handle func(*Server, context.Context, *Req) (api.Message, error)) (Resp, error) {
	var zero Resp
	ctx, bound := s.withDeadline(ctx)
	defer bound.Release()
	start := time.Now()
	resp, err := handle(s, ctx, req)
	s.logRequestStats(ctx, start, req, resp, err)
	if err != nil {
		s.checkStoreCorrupt(err)
		return zero, toAPIError(err)
	}
	r, ok := resp.(Resp)
	if !ok {
		return zero, fmt.Errorf("node: %T was answered with %T", req, resp)
	}
	return r, nil
}

// The KV service.

// Range serves a RangeRequest.
func (s *Server) Range(ctx context.Context, req *api.RangeRequest) (*api.RangeResponse, error) {
	return call[api.RangeRequest, *api.RangeResponse](s, ctx, req, (*Server).serveRange)
}

// Put serves a PutRequest.
func (s *Server) Put(ctx context.Context, req *api.PutRequest) (*api.PutResponse, error) {
	return call[api.PutRequest, *api.PutResponse](s, ctx, req, (*Server).servePut)
}

// DeleteRange serves a DeleteRangeRequest.
func (s *Server) DeleteRange(ctx context.Context, req *api.DeleteRangeRequest) (*api.DeleteRangeResponse, error) {
	return call[api.DeleteRangeRequest, *api.DeleteRangeResponse](s, ctx, req, (*Server).serveDeleteRange)
}

// Txn serves a TxnRequest.
func (s *Server) Txn(ctx context.Context, req *api.TxnRequest) (*api.TxnResponse, error) {
	return call[api.TxnRequest, *api.TxnResponse](s, ctx, req, (*Server).serveTxn)
}

// Compact serves a CompactionRequest.
func (s *Server) Compact(ctx context.Context, req *api.CompactionRequest) (*api.CompactionResponse, error) {
	return call[api.CompactionRequest, *api.CompactionResponse](s, ctx, req, (*Server).serveCompact)
}

// The Lease service.

// LeaseGrant serves a LeaseGrantRequest.
func (s *Server) LeaseGrant(ctx context.Context, req *api.LeaseGrantRequest) (*api.LeaseGrantResponse, error) {
	return call[api.LeaseGrantRequest, *api.LeaseGrantResponse](s, ctx, req, (*Server).serveLeaseGrant)
}

// LeaseRevoke serves a LeaseRevokeRequest.
func (s *Server) LeaseRevoke(ctx context.Context, req *api.LeaseRevokeRequest) (*api.LeaseRevokeResponse, error) {
	return call[api.LeaseRevokeRequest, *api.LeaseRevokeResponse](s, ctx, req, (*Server).serveLeaseRevoke)
}

// LeaseTimeToLive serves a LeaseTimeToLiveRequest.
func (s *Server) LeaseTimeToLive(ctx context.Context, req *api.LeaseTimeToLiveRequest) (*api.LeaseTimeToLiveResponse, error) {
	return call[api.LeaseTimeToLiveRequest, *api.LeaseTimeToLiveResponse](s, ctx, req, (*Server).serveLeaseTimeToLive)
}

// LeaseLeases serves a LeaseLeasesRequest.
func (s *Server) LeaseLeases(ctx context.Context, req *api.LeaseLeasesRequest) (*api.LeaseLeasesResponse, error) {
	return call[api.LeaseLeasesRequest, *api.LeaseLeasesResponse](s, ctx, req, (*Server).serveLeaseLeases)
}

// The Cluster service.

// MemberAdd serves a MemberAddRequest.
func (s *Server) MemberAdd(ctx context.Context, req *api.MemberAddRequest) (*api.MemberAddResponse, error) {
	return call[api.MemberAddRequest, *api.MemberAddResponse](s, ctx, req, (*Server).serveMemberAdd)
}

// MemberRemove serves a MemberRemoveRequest.
func (s *Server) MemberRemove(ctx context.Context, req *api.MemberRemoveRequest) (*api.MemberRemoveResponse, error) {
	return call[api.MemberRemoveRequest, *api.MemberRemoveResponse](s, ctx, req, (*Server).serveMemberRemove)
}

// MemberUpdate serves a MemberUpdateRequest.
func (s *Server) MemberUpdate(ctx context.Context, req *api.MemberUpdateRequest) (*api.MemberUpdateResponse, error) {
	return call[api.MemberUpdateRequest, *api.MemberUpdateResponse](s, ctx, req, (*Server).serveMemberUpdate)
}

// MemberList serves a MemberListRequest.
func (s *Server) MemberList(ctx context.Context, req *api.MemberListRequest) (*api.MemberListResponse, error) {
	return call[api.MemberListRequest, *api.MemberListResponse](s, ctx, req, (*Server).serveMemberList)
}

// MemberPromote serves a MemberPromoteRequest.
func (s *Server) MemberPromote(ctx context.Context, req *api.MemberPromoteRequest) (*api.MemberPromoteResponse, error) {
	return call[api.MemberPromoteRequest, *api.MemberPromoteResponse](s, ctx, req, (*Server).serveMemberPromote)
}

// The Maintenance service.

// Alarm serves a AlarmRequest.
func (s *Server) Alarm(ctx context.Context, req *api.AlarmRequest) (*api.AlarmResponse, error) {
	return call[api.AlarmRequest, *api.AlarmResponse](s, ctx, req, (*Server).serveAlarm)
}

// Status serves a StatusRequest.
func (s *Server) Status(ctx context.Context, req *api.StatusRequest) (*api.StatusResponse, error) {
	return call[api.StatusRequest, *api.StatusResponse](s, ctx, req, (*Server).serveStatus)
}

// Defragment serves a DefragmentRequest.
func (s *Server) Defragment(ctx context.Context, req *api.DefragmentRequest) (*api.DefragmentResponse, error) {
	return call[api.DefragmentRequest, *api.DefragmentResponse](s, ctx, req, (*Server).serveDefragment)
}

// Hash serves a HashRequest.
func (s *Server) Hash(ctx context.Context, req *api.HashRequest) (*api.HashResponse, error) {
	return call[api.HashRequest, *api.HashResponse](s, ctx, req, (*Server).serveHash)
}

// HashKV serves a HashKVRequest.
func (s *Server) HashKV(ctx context.Context, req *api.HashKVRequest) (*api.HashKVResponse, error) {
	return call[api.HashKVRequest, *api.HashKVResponse](s, ctx, req, (*Server).serveHashKV)
}

// MoveLeader serves a MoveLeaderRequest.
func (s *Server) MoveLeader(ctx context.Context, req *api.MoveLeaderRequest) (*api.MoveLeaderResponse, error) {
	return call[api.MoveLeaderRequest, *api.MoveLeaderResponse](s, ctx, req, (*Server).serveMoveLeader)
}

// The Auth service.

// AuthEnable serves a AuthEnableRequest.
func (s *Server) AuthEnable(ctx context.Context, req *api.AuthEnableRequest) (*api.AuthEnableResponse, error) {
	return call[api.AuthEnableRequest, *api.AuthEnableResponse](s, ctx, req, (*Server).serveAuthEnable)
}

// AuthDisable serves a AuthDisableRequest.
func (s *Server) AuthDisable(ctx context.Context, req *api.AuthDisableRequest) (*api.AuthDisableResponse, error) {
	return call[api.AuthDisableRequest, *api.AuthDisableResponse](s, ctx, req, (*Server).serveAuthDisable)
}

// AuthStatus serves a AuthStatusRequest.
func (s *Server) AuthStatus(ctx context.Context, req *api.AuthStatusRequest) (*api.AuthStatusResponse, error) {
	return call[api.AuthStatusRequest, *api.AuthStatusResponse](s, ctx, req, (*Server).serveAuthStatus)
}

// Authenticate serves a AuthenticateRequest.
func (s *Server) Authenticate(ctx context.Context, req *api.AuthenticateRequest) (*api.AuthenticateResponse, error) {
	return call[api.AuthenticateRequest, *api.AuthenticateResponse](s, ctx, req, (*Server).serveAuthenticate)
}

// UserAdd serves a UserAddRequest.
func (s *Server) UserAdd(ctx context.Context, req *api.UserAddRequest) (*api.UserAddResponse, error) {
	return call[api.UserAddRequest, *api.UserAddResponse](s, ctx, req, (*Server).serveUserAdd)
}

// UserGet serves a UserGetRequest.
func (s *Server) UserGet(ctx context.Context, req *api.UserGetRequest) (*api.UserGetResponse, error) {
	return call[api.UserGetRequest, *api.UserGetResponse](s, ctx, req, (*Server).serveUserGet)
}

// UserList serves a UserListRequest.
func (s *Server) UserList(ctx context.Context, req *api.UserListRequest) (*api.UserListResponse, error) {
	return call[api.UserListRequest, *api.UserListResponse](s, ctx, req, (*Server).serveUserList)
}

// UserDelete serves a UserDeleteRequest.
func (s *Server) UserDelete(ctx context.Context, req *api.UserDeleteRequest) (*api.UserDeleteResponse, error) {
	return call[api.UserDeleteRequest, *api.UserDeleteResponse](s, ctx, req, (*Server).serveUserDelete)
}

// UserChangePassword serves a UserChangePasswordRequest.
func (s *Server) UserChangePassword(ctx context.Context, req *api.UserChangePasswordRequest) (*api.UserChangePasswordResponse, error) {
	return call[api.UserChangePasswordRequest, *api.UserChangePasswordResponse](s, ctx, req, (*Server).serveUserChangePassword)
}

// UserGrantRole serves a UserGrantRoleRequest.
func (s *Server) UserGrantRole(ctx context.Context, req *api.UserGrantRoleRequest) (*api.UserGrantRoleResponse, error) {
	return call[api.UserGrantRoleRequest, *api.UserGrantRoleResponse](s, ctx, req, (*Server).serveUserGrantRole)
}

// UserRevokeRole serves a UserRevokeRoleRequest.
func (s *Server) UserRevokeRole(ctx context.Context, req *api.UserRevokeRoleRequest) (*api.UserRevokeRoleResponse, error) {
	return call[api.UserRevokeRoleRequest, *api.UserRevokeRoleResponse](s, ctx, req, (*Server).serveUserRevokeRole)
}

// RoleAdd serves a RoleAddRequest.
func (s *Server) RoleAdd(ctx context.Context, req *api.RoleAddRequest) (*api.RoleAddResponse, error) {
	return call[api.RoleAddRequest, *api.RoleAddResponse](s, ctx, req, (*Server).serveRoleAdd)
}

// RoleGet serves a RoleGetRequest.
func (s *Server) RoleGet(ctx context.Context, req *api.RoleGetRequest) (*api.RoleGetResponse, error) {
	return call[api.RoleGetRequest, *api.RoleGetResponse](s, ctx, req, (*Server).serveRoleGet)
}

// RoleList serves a RoleListRequest.
func (s *Server) RoleList(ctx context.Context, req *api.RoleListRequest) (*api.RoleListResponse, error) {
	return call[api.RoleListRequest, *api.RoleListResponse](s, ctx, req, (*Server).serveRoleList)
}

// RoleDelete serves a RoleDeleteRequest.
func (s *Server) RoleDelete(ctx context.Context, req *api.RoleDeleteRequest) (*api.RoleDeleteResponse, error) {
	return call[api.RoleDeleteRequest, *api.RoleDeleteResponse](s, ctx, req, (*Server).serveRoleDelete)
}

// RoleGrantPermission serves a RoleGrantPermissionRequest.
func (s *Server) RoleGrantPermission(ctx context.Context, req *api.RoleGrantPermissionRequest) (*api.RoleGrantPermissionResponse, error) {
	return call[api.RoleGrantPermissionRequest, *api.RoleGrantPermissionResponse](s, ctx, req, (*Server).serveRoleGrantPermission)
}

// RoleRevokePermission serves a RoleRevokePermissionRequest.
func (s *Server) RoleRevokePermission(ctx context.Context, req *api.RoleRevokePermissionRequest) (*api.RoleRevokePermissionResponse, error) {
	return call[api.RoleRevokePermissionRequest, *api.RoleRevokePermissionResponse](s, ctx, req, (*Server).serveRoleRevokePermission)
}

// Watch runs a watch stream until the client ends it or ctx ends.
func (s *Server) Watch(ctx context.Context, st WatchStream) error {
	return toAPIErrorOrNil(s.serveWatch(ctx, st))
}

// LeaseKeepAlive renews leases for as long as the client sends renewals.
// On a follower the renewals are forwarded to the leader, which alone
// keeps the leases' clocks.
func (s *Server) LeaseKeepAlive(ctx context.Context, st LeaseKeepAliveStream) error {
	return toAPIErrorOrNil(s.serveLeaseKeepAlive(ctx, st))
}

// Snapshot streams a consistent copy of the store, then its SHA-256.
func (s *Server) Snapshot(ctx context.Context, req *api.SnapshotRequest, st SnapshotSender) error {
	return toAPIErrorOrNil(s.serveSnapshot(ctx, st))
}

func toAPIErrorOrNil(err error) error {
	if err == nil {
		return nil
	}
	return toAPIError(err)
}
