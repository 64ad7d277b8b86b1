package etcdapi

import (
	"context"
	"errors"

	"github.com/cairndb/cairn/api"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Errors leave the etcd face as etcd's own gRPC errors (package rpctypes):
// the same code and the same message, which is what clientv3 and other
// etcd clients match to decide what an error means and whether to retry.

// etcdError is etcd's error for one of cairn's service error codes (nil
// for a code without an etcd twin: it keeps cairn's message with the
// closest gRPC code, grpcCode). A switch, not a map: no package state.
func etcdError(c api.Code) error {
	switch c {
	case api.CodeEmptyKey:
		return rpctypes.ErrGRPCEmptyKey
	case api.CodeKeyNotFound:
		return rpctypes.ErrGRPCKeyNotFound
	case api.CodeValueProvided:
		return rpctypes.ErrGRPCValueProvided
	case api.CodeLeaseProvided:
		return rpctypes.ErrGRPCLeaseProvided
	case api.CodeTooManyOps:
		return rpctypes.ErrGRPCTooManyOps
	case api.CodeDuplicateKey:
		return rpctypes.ErrGRPCDuplicateKey
	case api.CodeCompacted:
		return rpctypes.ErrGRPCCompacted
	case api.CodeFutureRev:
		return rpctypes.ErrGRPCFutureRev
	case api.CodeNoSpace:
		return rpctypes.ErrGRPCNoSpace
	case api.CodeRequestTooLarge:
		return rpctypes.ErrGRPCRequestTooLarge
	case api.CodeTooManyRequests:
		return rpctypes.ErrGRPCRequestTooManyRequests
	case api.CodeWatchCanceled:
		return rpctypes.ErrGRPCWatchCanceled
	case api.CodeLeaseNotFound:
		return rpctypes.ErrGRPCLeaseNotFound
	case api.CodeLeaseExist:
		return rpctypes.ErrGRPCLeaseExist
	case api.CodeLeaseTTLTooLarge:
		return rpctypes.ErrGRPCLeaseTTLTooLarge
	case api.CodeMemberExist:
		return rpctypes.ErrGRPCMemberExist
	case api.CodePeerURLExist:
		return rpctypes.ErrGRPCPeerURLExist
	case api.CodeMemberNotEnoughStarted:
		return rpctypes.ErrGRPCMemberNotEnoughStarted
	case api.CodeMemberBadURLs:
		return rpctypes.ErrGRPCMemberBadURLs
	case api.CodeMemberNotFound:
		return rpctypes.ErrGRPCMemberNotFound
	case api.CodeMemberNotLearner:
		return rpctypes.ErrGRPCMemberNotLearner
	case api.CodeLearnerNotReady:
		return rpctypes.ErrGRPCLearnerNotReady
	case api.CodeTooManyLearners:
		return rpctypes.ErrGRPCTooManyLearners
	case api.CodeClusterIDMismatch:
		return rpctypes.ErrGRPCClusterIDMismatch
	case api.CodeRootUserNotExist:
		return rpctypes.ErrGRPCRootUserNotExist
	case api.CodeRootRoleNotExist:
		return rpctypes.ErrGRPCRootRoleNotExist
	case api.CodeUserAlreadyExist:
		return rpctypes.ErrGRPCUserAlreadyExist
	case api.CodeUserEmpty:
		return rpctypes.ErrGRPCUserEmpty
	case api.CodeUserNotFound:
		return rpctypes.ErrGRPCUserNotFound
	case api.CodeRoleAlreadyExist:
		return rpctypes.ErrGRPCRoleAlreadyExist
	case api.CodeRoleNotFound:
		return rpctypes.ErrGRPCRoleNotFound
	case api.CodeRoleEmpty:
		return rpctypes.ErrGRPCRoleEmpty
	case api.CodeAuthFailed:
		return rpctypes.ErrGRPCAuthFailed
	case api.CodePermissionNotGiven:
		return rpctypes.ErrGRPCPermissionNotGiven
	case api.CodePermissionDenied:
		return rpctypes.ErrGRPCPermissionDenied
	case api.CodeRoleNotGranted:
		return rpctypes.ErrGRPCRoleNotGranted
	case api.CodePermissionNotGranted:
		return rpctypes.ErrGRPCPermissionNotGranted
	case api.CodeAuthNotEnabled:
		return rpctypes.ErrGRPCAuthNotEnabled
	case api.CodeInvalidAuthToken:
		return rpctypes.ErrGRPCInvalidAuthToken
	case api.CodeInvalidAuthMgmt:
		return rpctypes.ErrGRPCInvalidAuthMgmt
	case api.CodeAuthOldRevision:
		return rpctypes.ErrGRPCAuthOldRevision
	case api.CodeNoPasswordUser:
		// etcd's auth store's error, which has no twin in rpctypes: etcd
		// sends it as any such error, Unknown with its message.
		return status.Error(codes.Unknown, api.ErrNoPasswordUser.Error())
	case api.CodeNoLeader:
		return rpctypes.ErrGRPCNoLeader
	case api.CodeNotLeader:
		return rpctypes.ErrGRPCNotLeader
	case api.CodeLeaderChanged:
		return rpctypes.ErrGRPCLeaderChanged
	case api.CodeNotCapable:
		return rpctypes.ErrGRPCNotCapable
	case api.CodeStopped:
		return rpctypes.ErrGRPCStopped
	case api.CodeTimeout:
		return rpctypes.ErrGRPCTimeout
	case api.CodeTimeoutDueToLeaderFail:
		return rpctypes.ErrGRPCTimeoutDueToLeaderFail
	case api.CodeTimeoutDueToConnectionLost:
		return rpctypes.ErrGRPCTimeoutDueToConnectionLost
	case api.CodeUnhealthy:
		return rpctypes.ErrGRPCUnhealthy
	case api.CodeCorrupt:
		return rpctypes.ErrGRPCCorrupt
	case api.CodeBadLeaderTransferee:
		return rpctypes.ErrGRPCBadLeaderTransferee
	}
	return nil
}

// grpcStatus is the gRPC status an error of the services leaves the face
// as (false for an error that is not one of cairn's typed errors).
func grpcStatus(err error) (*status.Status, bool) {
	var apiErr *api.Error
	if !errors.As(err, &apiErr) {
		return nil, false
	}
	if e := etcdError(apiErr.Code); e != nil {
		return status.Convert(e), true
	}
	return status.New(grpcCode(apiErr.Code), apiErr.Message), true
}

// grpcCode is the gRPC code of a cairn error code without an etcd twin.
func grpcCode(c api.Code) codes.Code {
	switch {
	case c == api.CodeInvalidArgument:
		return codes.InvalidArgument
	case c == api.CodePasswordTooLong:
		// etcd sends the bcrypt library's error as any error it has no
		// gRPC twin for: Unknown, with the library's message.
		return codes.Unknown
	case c >= 400 && c < 500:
		return codes.PermissionDenied
	case c >= 500:
		return codes.Unavailable
	}
	return codes.FailedPrecondition
}

// toGRPCError turns what a service returned into the error the face
// sends: etcd's error for cairn's typed errors, Canceled and
// DeadlineExceeded as etcd sends them, and anything else as Unknown with
// its message (a bug or an I/O failure: it is logged by the caller).
func toGRPCError(err error) error {
	if err == nil {
		return nil
	}
	if st, ok := grpcStatus(err); ok {
		return st.Err()
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	switch {
	case errors.Is(err, context.Canceled):
		return rpctypes.ErrGRPCCanceled
	case errors.Is(err, context.DeadlineExceeded):
		return rpctypes.ErrGRPCDeadlineExceeded
	}
	return status.Error(codes.Unknown, err.Error())
}
