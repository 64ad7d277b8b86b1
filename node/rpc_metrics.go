package node

import (
	"context"
	"errors"
	"strconv"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/internal/metrics"
	"github.com/cairndb/cairn/rpc"
	"google.golang.org/grpc/codes"
)

// The native rpc's calls are counted as the etcd face's are
// (grpc_server_started_total, grpc_server_handled_total, ...): under
// cairn's service names (cairn.KV, ...), etcd's method names, and the
// gRPC code the etcd face would have answered the same error with.

// nativeMethod is how the metrics name one method of the native rpc.
type nativeMethod struct {
	service, name, typ string
}

// nativeMethods names every method of the client services.
var nativeMethods = map[uint16]nativeMethod{
	api.MethodRange:                {"cairn.KV", "Range", metrics.Unary},
	api.MethodPut:                  {"cairn.KV", "Put", metrics.Unary},
	api.MethodDeleteRange:          {"cairn.KV", "DeleteRange", metrics.Unary},
	api.MethodTxn:                  {"cairn.KV", "Txn", metrics.Unary},
	api.MethodCompact:              {"cairn.KV", "Compact", metrics.Unary},
	api.MethodWatch:                {"cairn.Watch", "Watch", metrics.BidiStream},
	api.MethodLeaseGrant:           {"cairn.Lease", "LeaseGrant", metrics.Unary},
	api.MethodLeaseRevoke:          {"cairn.Lease", "LeaseRevoke", metrics.Unary},
	api.MethodLeaseKeepAlive:       {"cairn.Lease", "LeaseKeepAlive", metrics.BidiStream},
	api.MethodLeaseTimeToLive:      {"cairn.Lease", "LeaseTimeToLive", metrics.Unary},
	api.MethodLeaseLeases:          {"cairn.Lease", "LeaseLeases", metrics.Unary},
	api.MethodMemberAdd:            {"cairn.Cluster", "MemberAdd", metrics.Unary},
	api.MethodMemberRemove:         {"cairn.Cluster", "MemberRemove", metrics.Unary},
	api.MethodMemberUpdate:         {"cairn.Cluster", "MemberUpdate", metrics.Unary},
	api.MethodMemberList:           {"cairn.Cluster", "MemberList", metrics.Unary},
	api.MethodMemberPromote:        {"cairn.Cluster", "MemberPromote", metrics.Unary},
	api.MethodAlarm:                {"cairn.Maintenance", "Alarm", metrics.Unary},
	api.MethodStatus:               {"cairn.Maintenance", "Status", metrics.Unary},
	api.MethodDefragment:           {"cairn.Maintenance", "Defragment", metrics.Unary},
	api.MethodHash:                 {"cairn.Maintenance", "Hash", metrics.Unary},
	api.MethodHashKV:               {"cairn.Maintenance", "HashKV", metrics.Unary},
	api.MethodSnapshot:             {"cairn.Maintenance", "Snapshot", metrics.ServerStream},
	api.MethodMoveLeader:           {"cairn.Maintenance", "MoveLeader", metrics.Unary},
	api.MethodAuthEnable:           {"cairn.Auth", "AuthEnable", metrics.Unary},
	api.MethodAuthDisable:          {"cairn.Auth", "AuthDisable", metrics.Unary},
	api.MethodAuthStatus:           {"cairn.Auth", "AuthStatus", metrics.Unary},
	api.MethodAuthenticate:         {"cairn.Auth", "Authenticate", metrics.Unary},
	api.MethodUserAdd:              {"cairn.Auth", "UserAdd", metrics.Unary},
	api.MethodUserGet:              {"cairn.Auth", "UserGet", metrics.Unary},
	api.MethodUserList:             {"cairn.Auth", "UserList", metrics.Unary},
	api.MethodUserDelete:           {"cairn.Auth", "UserDelete", metrics.Unary},
	api.MethodUserChangePassword:   {"cairn.Auth", "UserChangePassword", metrics.Unary},
	api.MethodUserGrantRole:        {"cairn.Auth", "UserGrantRole", metrics.Unary},
	api.MethodUserRevokeRole:       {"cairn.Auth", "UserRevokeRole", metrics.Unary},
	api.MethodRoleAdd:              {"cairn.Auth", "RoleAdd", metrics.Unary},
	api.MethodRoleGet:              {"cairn.Auth", "RoleGet", metrics.Unary},
	api.MethodRoleList:             {"cairn.Auth", "RoleList", metrics.Unary},
	api.MethodRoleDelete:           {"cairn.Auth", "RoleDelete", metrics.Unary},
	api.MethodRoleGrantPermission:  {"cairn.Auth", "RoleGrantPermission", metrics.Unary},
	api.MethodRoleRevokePermission: {"cairn.Auth", "RoleRevokePermission", metrics.Unary},
}

// instrumentedRPC registers handlers on a client rpc server, wrapped to
// count their calls.
type instrumentedRPC struct {
	srv *rpc.Server
	m   *serverMetrics
}

// clientServices is where the client services register their methods.
func (s *Server) clientServices() instrumentedRPC {
	return instrumentedRPC{srv: s.clientRPC, m: s.metrics}
}

func (r instrumentedRPC) method(m rpc.Method) *metrics.Method {
	nm, ok := nativeMethods[uint16(m)]
	if !ok {
		// A method without a name in the table: a new one someone forgot
		// to add. It is still counted, under its number.
		nm = nativeMethod{"cairn.Unknown", strconv.Itoa(int(m)), metrics.Unary}
	}
	return r.m.RPC.Register(nm.service, nm.name, nm.typ)
}

// HandleUnary registers h for method m, counted.
func (r instrumentedRPC) HandleUnary(m rpc.Method, h rpc.UnaryHandler) {
	mm := r.method(m)
	r.srv.HandleUnary(m, func(ctx context.Context, req []byte) ([]byte, error) {
		start := mm.Started()
		mm.Received()
		r.m.ClientReceivedBytes.Add(float64(len(req)))
		resp, err := h(ctx, req)
		if err == nil {
			mm.Sent()
			r.m.ClientSentBytes.Add(float64(len(resp)))
		}
		mm.Handled(start, uint32(GRPCCode(err)))
		return resp, err
	})
}

// HandleStream registers h for method m, counted (its messages are not:
// the stream carries them without this layer seeing them).
func (r instrumentedRPC) HandleStream(m rpc.Method, h rpc.StreamHandler) {
	mm := r.method(m)
	r.srv.HandleStream(m, func(ctx context.Context, st *rpc.Stream) error {
		start := mm.Started()
		err := h(ctx, st)
		mm.Handled(start, uint32(GRPCCode(err)))
		return err
	})
}

// GRPCCode is the gRPC status code the etcd face answers err with (OK
// for nil): the code etcd gives its own error of the same meaning. The
// native rpc's calls are counted by it, so that both faces' errors are
// counted alike.
func GRPCCode(err error) codes.Code {
	if err == nil {
		return codes.OK
	}
	var apiErr *api.Error
	if errors.As(toAPIError(err), &apiErr) {
		return apiCodeToGRPC(apiErr.Code)
	}
	var rpcErr *rpc.Error
	if errors.As(err, &rpcErr) {
		switch rpcErr.Code {
		case rpc.CodeCanceled:
			return codes.Canceled
		case rpc.CodeDeadlineExceeded:
			return codes.DeadlineExceeded
		case rpc.CodeUnavailable:
			return codes.Unavailable
		case rpc.CodeUnimplemented:
			return codes.Unimplemented
		case rpc.CodeResourceExhausted:
			return codes.ResourceExhausted
		case rpc.CodeInvalidArgument:
			return codes.InvalidArgument
		case rpc.CodeInternal:
			return codes.Internal
		}
		return codes.Unknown
	}
	switch {
	case errors.Is(err, context.Canceled):
		return codes.Canceled
	case errors.Is(err, context.DeadlineExceeded):
		return codes.DeadlineExceeded
	}
	return codes.Unknown
}

// apiCodeToGRPC is the gRPC code of etcd's error for each of cairn's
// error codes (the etcd face sends etcd's errors: etcdapi's tests check
// that the two agree).
func apiCodeToGRPC(c api.Code) codes.Code {
	switch c {
	case api.CodeInvalidArgument, api.CodeEmptyKey, api.CodeKeyNotFound, api.CodeValueProvided,
		api.CodeLeaseProvided, api.CodeTooManyOps, api.CodeDuplicateKey, api.CodeRequestTooLarge,
		api.CodeMemberBadURLs, api.CodeUserEmpty, api.CodeRoleEmpty, api.CodeAuthFailed,
		api.CodePermissionNotGiven, api.CodeInvalidAuthMgmt, api.CodeAuthOldRevision:
		return codes.InvalidArgument
	case api.CodeCompacted, api.CodeFutureRev, api.CodeLeaseTTLTooLarge:
		return codes.OutOfRange
	case api.CodeNoSpace, api.CodeTooManyRequests:
		return codes.ResourceExhausted
	case api.CodeWatchCanceled:
		return codes.Canceled
	case api.CodeLeaseNotFound, api.CodeMemberNotFound:
		return codes.NotFound
	case api.CodePermissionDenied:
		return codes.PermissionDenied
	case api.CodeInvalidAuthToken:
		return codes.Unauthenticated
	case api.CodeCorrupt:
		return codes.DataLoss
	case api.CodePasswordTooLong, api.CodeNoPasswordUser:
		return codes.Unknown
	case api.CodeNoLeader, api.CodeLeaderChanged, api.CodeStopped, api.CodeTimeout,
		api.CodeTimeoutDueToLeaderFail, api.CodeTimeoutDueToConnectionLost, api.CodeUnhealthy:
		return codes.Unavailable
	case api.CodeLeaseExist, api.CodeMemberExist, api.CodePeerURLExist, api.CodeMemberNotEnoughStarted,
		api.CodeMemberNotLearner, api.CodeLearnerNotReady, api.CodeTooManyLearners, api.CodeClusterIDMismatch,
		api.CodeRootUserNotExist, api.CodeRootRoleNotExist, api.CodeUserAlreadyExist, api.CodeUserNotFound,
		api.CodeRoleAlreadyExist, api.CodeRoleNotFound, api.CodeRoleNotGranted, api.CodePermissionNotGranted,
		api.CodeAuthNotEnabled, api.CodeNotLeader, api.CodeNotCapable, api.CodeBadLeaderTransferee:
		return codes.FailedPrecondition
	}
	// Errors without an etcd twin take the code of their class, as the
	// etcd face sends them.
	switch {
	case c >= 400 && c < 500:
		return codes.PermissionDenied
	case c >= 500:
		return codes.Unavailable
	}
	return codes.FailedPrecondition
}
