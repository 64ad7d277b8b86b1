package api

import (
	"errors"
	"fmt"
)

// Errors the services return, as typed values that survive a trip over the
// wire. Each error has a numeric Code; the rpc layer sends the code and the
// message, and the receiving side rebuilds an *Error with ErrorFromCode, so
// errors.Is(err, api.ErrCompacted) holds on both ends of a call.
//
// The numbers are a wire contract: once a code is released it keeps its
// meaning forever. Never renumber a code or reuse the number of a removed
// one; add new codes at the end of their group. Codes 1..99 belong to the
// rpc transport layer (framing, unknown method, cancelled call...); the
// services use 100 and up, grouped by the hundreds:
//
//	100-199  requests and the key-value store
//	200-299  leases
//	300-399  cluster membership
//	400-499  authentication and authorization
//	500-599  the server and raft

// Code identifies a kind of service error on the wire.
type Code uint16

// Requests and the key-value store.
const (
	// CodeInvalidArgument is a malformed request; the message says what is
	// wrong with it.
	CodeInvalidArgument Code = 100
	CodeEmptyKey        Code = 101
	CodeKeyNotFound     Code = 102
	CodeValueProvided   Code = 103
	CodeLeaseProvided   Code = 104
	CodeTooManyOps      Code = 105
	CodeDuplicateKey    Code = 106
	CodeCompacted       Code = 107
	CodeFutureRev       Code = 108
	CodeNoSpace         Code = 109
	CodeRequestTooLarge Code = 110
	CodeTooManyRequests Code = 111
	CodeWatchCanceled   Code = 112
)

// Leases.
const (
	CodeLeaseNotFound    Code = 200
	CodeLeaseExist       Code = 201
	CodeLeaseTTLTooLarge Code = 202
)

// Cluster membership.
const (
	CodeMemberExist            Code = 300
	CodePeerURLExist           Code = 301
	CodeMemberNotEnoughStarted Code = 302
	CodeMemberBadURLs          Code = 303
	CodeMemberNotFound         Code = 304
	CodeMemberNotLearner       Code = 305
	CodeLearnerNotReady        Code = 306
	CodeTooManyLearners        Code = 307
	CodeMemberIDMismatch       Code = 308
	CodeClusterIDMismatch      Code = 309
	CodeMemberRemoved          Code = 310
)

// Authentication and authorization.
const (
	CodeRootUserNotExist     Code = 400
	CodeRootRoleNotExist     Code = 401
	CodeUserAlreadyExist     Code = 402
	CodeUserEmpty            Code = 403
	CodeUserNotFound         Code = 404
	CodeRoleAlreadyExist     Code = 405
	CodeRoleNotFound         Code = 406
	CodeRoleEmpty            Code = 407
	CodeAuthFailed           Code = 408
	CodePermissionNotGiven   Code = 409
	CodePermissionDenied     Code = 410
	CodeRoleNotGranted       Code = 411
	CodePermissionNotGranted Code = 412
	CodeAuthNotEnabled       Code = 413
	CodeInvalidAuthToken     Code = 414
	CodeInvalidAuthMgmt      Code = 415
	CodeAuthOldRevision      Code = 416
	// CodePasswordTooLong refuses to hash a password longer than bcrypt's
	// 72 bytes. Its message is bcrypt's, not etcdserver's: etcd passes the
	// bcrypt library's error through as it is.
	CodePasswordTooLong Code = 417
	// CodeNoPasswordUser is etcd's ErrNoPasswordUser (its auth store's
	// error, not etcdserver's), which etcd gives both a user made without
	// a password who authenticates with one (it authenticates by
	// certificate only) and a password hash sent by the client
	// (UserChangePasswordRequest.HashedPassword) it cannot decode; cairn
	// gives it a hash that is not base64 of a bcrypt hash too, with its
	// own message saying what is wrong with it.
	CodeNoPasswordUser Code = 418
)

// The server and raft.
const (
	CodeNoLeader                   Code = 500
	CodeNotLeader                  Code = 501
	CodeLeaderChanged              Code = 502
	CodeNotCapable                 Code = 503
	CodeStopped                    Code = 504
	CodeTimeout                    Code = 505
	CodeTimeoutDueToLeaderFail     Code = 506
	CodeTimeoutDueToConnectionLost Code = 507
	CodeUnhealthy                  Code = 508
	CodeCorrupt                    Code = 509
	CodeBadLeaderTransferee        Code = 510
)

// Error is a service error: a code the other side can act on and a message
// for people. Two *Error values are the same error (errors.Is) when their
// codes are equal, whatever their messages.
type Error struct {
	Code    Code
	Message string
}

// Error returns the message, or a description of the code when there is
// none.
func (e *Error) Error() string {
	if e.Message != "" {
		return e.Message
	}
	return "api: error " + e.Code.String()
}

// RPCCode returns the code for the rpc layer to put on the wire.
func (e *Error) RPCCode() uint16 { return uint16(e.Code) }

// Is reports whether target is an *Error with the same code, so a decoded
// error matches the sentinel of its code.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// ErrorFromCode rebuilds the error a peer sent as code and message. An
// empty message is replaced by the standard message of a known code.
func ErrorFromCode(code uint16, msg string) error {
	if msg == "" {
		msg = codeInfo(Code(code)).msg
	}
	return &Error{Code: Code(code), Message: msg}
}

// Errorf returns an error with the given code and a message of its own;
// it still matches the sentinel of that code under errors.Is.
func Errorf(code Code, format string, args ...any) error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// CodeOf returns the code of the first *Error in err's chain, or 0 if
// there is none.
func CodeOf(err error) Code {
	if err == nil {
		return 0 // without the lookup below, which allocates
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return 0
}

// String returns the code's name ("Compacted"), or its number when it is
// not one this package knows.
func (c Code) String() string {
	if n := codeInfo(c).name; n != "" {
		return n
	}
	return fmt.Sprintf("Code(%d)", uint16(c))
}

// sentinel returns the standard error of a code.
func sentinel(c Code) error { return &Error{Code: c, Message: codeInfo(c).msg} }

// The standard errors, one per code, with messages in etcd's words so
// that tools and people used to etcd recognise them. Each is an *Error;
// they are typed error so that no caller mistakes them for values to
// change. Compare with errors.Is, never ==: an error that crossed the
// wire is a new value.
var (
	ErrInvalidArgument = sentinel(CodeInvalidArgument)
	ErrEmptyKey        = sentinel(CodeEmptyKey)
	ErrKeyNotFound     = sentinel(CodeKeyNotFound)
	ErrValueProvided   = sentinel(CodeValueProvided)
	ErrLeaseProvided   = sentinel(CodeLeaseProvided)
	ErrTooManyOps      = sentinel(CodeTooManyOps)
	ErrDuplicateKey    = sentinel(CodeDuplicateKey)
	ErrCompacted       = sentinel(CodeCompacted)
	ErrFutureRev       = sentinel(CodeFutureRev)
	ErrNoSpace         = sentinel(CodeNoSpace)
	ErrRequestTooLarge = sentinel(CodeRequestTooLarge)
	ErrTooManyRequests = sentinel(CodeTooManyRequests)
	ErrWatchCanceled   = sentinel(CodeWatchCanceled)

	ErrLeaseNotFound    = sentinel(CodeLeaseNotFound)
	ErrLeaseExist       = sentinel(CodeLeaseExist)
	ErrLeaseTTLTooLarge = sentinel(CodeLeaseTTLTooLarge)

	ErrMemberExist            = sentinel(CodeMemberExist)
	ErrPeerURLExist           = sentinel(CodePeerURLExist)
	ErrMemberNotEnoughStarted = sentinel(CodeMemberNotEnoughStarted)
	ErrMemberBadURLs          = sentinel(CodeMemberBadURLs)
	ErrMemberNotFound         = sentinel(CodeMemberNotFound)
	ErrMemberNotLearner       = sentinel(CodeMemberNotLearner)
	ErrLearnerNotReady        = sentinel(CodeLearnerNotReady)
	ErrTooManyLearners        = sentinel(CodeTooManyLearners)
	ErrMemberIDMismatch       = sentinel(CodeMemberIDMismatch)
	ErrClusterIDMismatch      = sentinel(CodeClusterIDMismatch)
	ErrMemberRemoved          = sentinel(CodeMemberRemoved)

	ErrRootUserNotExist     = sentinel(CodeRootUserNotExist)
	ErrRootRoleNotExist     = sentinel(CodeRootRoleNotExist)
	ErrUserAlreadyExist     = sentinel(CodeUserAlreadyExist)
	ErrUserEmpty            = sentinel(CodeUserEmpty)
	ErrUserNotFound         = sentinel(CodeUserNotFound)
	ErrRoleAlreadyExist     = sentinel(CodeRoleAlreadyExist)
	ErrRoleNotFound         = sentinel(CodeRoleNotFound)
	ErrRoleEmpty            = sentinel(CodeRoleEmpty)
	ErrAuthFailed           = sentinel(CodeAuthFailed)
	ErrPermissionNotGiven   = sentinel(CodePermissionNotGiven)
	ErrPermissionDenied     = sentinel(CodePermissionDenied)
	ErrRoleNotGranted       = sentinel(CodeRoleNotGranted)
	ErrPermissionNotGranted = sentinel(CodePermissionNotGranted)
	ErrAuthNotEnabled       = sentinel(CodeAuthNotEnabled)
	ErrInvalidAuthToken     = sentinel(CodeInvalidAuthToken)
	ErrInvalidAuthMgmt      = sentinel(CodeInvalidAuthMgmt)
	ErrAuthOldRevision      = sentinel(CodeAuthOldRevision)
	ErrPasswordTooLong      = sentinel(CodePasswordTooLong)
	ErrNoPasswordUser       = sentinel(CodeNoPasswordUser)

	ErrNoLeader                   = sentinel(CodeNoLeader)
	ErrNotLeader                  = sentinel(CodeNotLeader)
	ErrLeaderChanged              = sentinel(CodeLeaderChanged)
	ErrNotCapable                 = sentinel(CodeNotCapable)
	ErrStopped                    = sentinel(CodeStopped)
	ErrTimeout                    = sentinel(CodeTimeout)
	ErrTimeoutDueToLeaderFail     = sentinel(CodeTimeoutDueToLeaderFail)
	ErrTimeoutDueToConnectionLost = sentinel(CodeTimeoutDueToConnectionLost)
	ErrUnhealthy                  = sentinel(CodeUnhealthy)
	ErrCorrupt                    = sentinel(CodeCorrupt)
	ErrBadLeaderTransferee        = sentinel(CodeBadLeaderTransferee)
)

// codeText is what this package knows about a code.
type codeText struct{ name, msg string }

// codeInfo returns the name and standard message of a code (both empty for
// an unknown code). A switch rather than a map keeps it free of package
// state.
func codeInfo(c Code) codeText {
	switch c {
	case CodeInvalidArgument:
		return codeText{"InvalidArgument", "etcdserver: invalid argument"}
	case CodeEmptyKey:
		return codeText{"EmptyKey", "etcdserver: key is not provided"}
	case CodeKeyNotFound:
		return codeText{"KeyNotFound", "etcdserver: key not found"}
	case CodeValueProvided:
		return codeText{"ValueProvided", "etcdserver: value is provided"}
	case CodeLeaseProvided:
		return codeText{"LeaseProvided", "etcdserver: lease is provided"}
	case CodeTooManyOps:
		return codeText{"TooManyOps", "etcdserver: too many operations in txn request"}
	case CodeDuplicateKey:
		return codeText{"DuplicateKey", "etcdserver: duplicate key given in txn request"}
	case CodeCompacted:
		return codeText{"Compacted", "etcdserver: mvcc: required revision has been compacted"}
	case CodeFutureRev:
		return codeText{"FutureRev", "etcdserver: mvcc: required revision is a future revision"}
	case CodeNoSpace:
		return codeText{"NoSpace", "etcdserver: mvcc: database space exceeded"}
	case CodeRequestTooLarge:
		return codeText{"RequestTooLarge", "etcdserver: request is too large"}
	case CodeTooManyRequests:
		return codeText{"TooManyRequests", "etcdserver: too many requests"}
	case CodeWatchCanceled:
		return codeText{"WatchCanceled", "etcdserver: watch canceled"}

	case CodeLeaseNotFound:
		return codeText{"LeaseNotFound", "etcdserver: requested lease not found"}
	case CodeLeaseExist:
		return codeText{"LeaseExist", "etcdserver: lease already exists"}
	case CodeLeaseTTLTooLarge:
		return codeText{"LeaseTTLTooLarge", "etcdserver: too large lease TTL"}

	case CodeMemberExist:
		return codeText{"MemberExist", "etcdserver: member ID already exist"}
	case CodePeerURLExist:
		return codeText{"PeerURLExist", "etcdserver: Peer URLs already exists"}
	case CodeMemberNotEnoughStarted:
		return codeText{"MemberNotEnoughStarted", "etcdserver: re-configuration failed due to not enough started members"}
	case CodeMemberBadURLs:
		return codeText{"MemberBadURLs", "etcdserver: given member URLs are invalid"}
	case CodeMemberNotFound:
		return codeText{"MemberNotFound", "etcdserver: member not found"}
	case CodeMemberNotLearner:
		return codeText{"MemberNotLearner", "etcdserver: can only promote a learner member"}
	case CodeLearnerNotReady:
		return codeText{"LearnerNotReady", "etcdserver: can only promote a learner member which is in sync with leader"}
	case CodeTooManyLearners:
		return codeText{"TooManyLearners", "etcdserver: too many learner members in cluster"}
	case CodeMemberIDMismatch:
		return codeText{"MemberIDMismatch", "etcdserver: member ID mismatch"}
	case CodeClusterIDMismatch:
		return codeText{"ClusterIDMismatch", "etcdserver: cluster ID mismatch"}
	case CodeMemberRemoved:
		return codeText{"MemberRemoved", "etcdserver: the member has been permanently removed from the cluster"}

	case CodeRootUserNotExist:
		return codeText{"RootUserNotExist", "etcdserver: root user does not exist"}
	case CodeRootRoleNotExist:
		return codeText{"RootRoleNotExist", "etcdserver: root user does not have root role"}
	case CodeUserAlreadyExist:
		return codeText{"UserAlreadyExist", "etcdserver: user name already exists"}
	case CodeUserEmpty:
		return codeText{"UserEmpty", "etcdserver: user name is empty"}
	case CodeUserNotFound:
		return codeText{"UserNotFound", "etcdserver: user name not found"}
	case CodeRoleAlreadyExist:
		return codeText{"RoleAlreadyExist", "etcdserver: role name already exists"}
	case CodeRoleNotFound:
		return codeText{"RoleNotFound", "etcdserver: role name not found"}
	case CodeRoleEmpty:
		return codeText{"RoleEmpty", "etcdserver: role name is empty"}
	case CodeAuthFailed:
		return codeText{"AuthFailed", "etcdserver: authentication failed, invalid user ID or password"}
	case CodePermissionNotGiven:
		return codeText{"PermissionNotGiven", "etcdserver: permission not given"}
	case CodePermissionDenied:
		return codeText{"PermissionDenied", "etcdserver: permission denied"}
	case CodeRoleNotGranted:
		return codeText{"RoleNotGranted", "etcdserver: role is not granted to the user"}
	case CodePermissionNotGranted:
		return codeText{"PermissionNotGranted", "etcdserver: permission is not granted to the role"}
	case CodeAuthNotEnabled:
		return codeText{"AuthNotEnabled", "etcdserver: authentication is not enabled"}
	case CodeInvalidAuthToken:
		return codeText{"InvalidAuthToken", "etcdserver: invalid auth token"}
	case CodeInvalidAuthMgmt:
		return codeText{"InvalidAuthMgmt", "etcdserver: invalid auth management"}
	case CodeAuthOldRevision:
		return codeText{"AuthOldRevision", "etcdserver: revision of auth store is old"}
	case CodePasswordTooLong:
		return codeText{"PasswordTooLong", "bcrypt: password length exceeds 72 bytes"}
	case CodeNoPasswordUser:
		return codeText{"NoPasswordUser", "auth: authentication failed, password was given for no password user"}

	case CodeNoLeader:
		return codeText{"NoLeader", "etcdserver: no leader"}
	case CodeNotLeader:
		return codeText{"NotLeader", "etcdserver: not leader"}
	case CodeLeaderChanged:
		return codeText{"LeaderChanged", "etcdserver: leader changed"}
	case CodeNotCapable:
		return codeText{"NotCapable", "etcdserver: not capable"}
	case CodeStopped:
		return codeText{"Stopped", "etcdserver: server stopped"}
	case CodeTimeout:
		return codeText{"Timeout", "etcdserver: request timed out"}
	case CodeTimeoutDueToLeaderFail:
		return codeText{"TimeoutDueToLeaderFail", "etcdserver: request timed out, possibly due to previous leader failure"}
	case CodeTimeoutDueToConnectionLost:
		return codeText{"TimeoutDueToConnectionLost", "etcdserver: request timed out, possibly due to connection lost"}
	case CodeUnhealthy:
		return codeText{"Unhealthy", "etcdserver: unhealthy cluster"}
	case CodeCorrupt:
		return codeText{"Corrupt", "etcdserver: corrupt cluster"}
	case CodeBadLeaderTransferee:
		return codeText{"BadLeaderTransferee", "etcdserver: bad leader transferee"}
	}
	return codeText{}
}
