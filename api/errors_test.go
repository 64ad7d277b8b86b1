package api

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// allErrors lists every sentinel; a new one must be added here so the
// tests below cover it.
var allErrors = []error{
	ErrInvalidArgument, ErrEmptyKey, ErrKeyNotFound, ErrValueProvided, ErrLeaseProvided, ErrTooManyOps,
	ErrDuplicateKey, ErrCompacted, ErrFutureRev, ErrNoSpace, ErrRequestTooLarge, ErrTooManyRequests,
	ErrWatchCanceled,
	ErrLeaseNotFound, ErrLeaseExist, ErrLeaseTTLTooLarge,
	ErrMemberExist, ErrPeerURLExist, ErrMemberNotEnoughStarted, ErrMemberBadURLs, ErrMemberNotFound,
	ErrMemberNotLearner, ErrLearnerNotReady, ErrTooManyLearners, ErrMemberIDMismatch, ErrClusterIDMismatch,
	ErrRootUserNotExist, ErrRootRoleNotExist, ErrUserAlreadyExist, ErrUserEmpty, ErrUserNotFound,
	ErrRoleAlreadyExist, ErrRoleNotFound, ErrRoleEmpty, ErrAuthFailed, ErrPermissionNotGiven,
	ErrPermissionDenied, ErrRoleNotGranted, ErrPermissionNotGranted, ErrAuthNotEnabled, ErrInvalidAuthToken,
	ErrInvalidAuthMgmt, ErrAuthOldRevision, ErrPasswordTooLong, ErrNoPasswordUser,
	ErrNoLeader, ErrNotLeader, ErrLeaderChanged, ErrNotCapable, ErrStopped, ErrTimeout,
	ErrTimeoutDueToLeaderFail, ErrTimeoutDueToConnectionLost, ErrUnhealthy, ErrCorrupt, ErrBadLeaderTransferee,
}

// rpcCoder is the interface the rpc layer looks for.
type rpcCoder interface{ RPCCode() uint16 }

func TestErrorsSurviveTheWire(t *testing.T) {
	seen := map[uint16]error{}
	for _, want := range allErrors {
		var rc rpcCoder
		if !errors.As(want, &rc) {
			t.Fatalf("%v has no RPCCode", want)
		}
		code := rc.RPCCode()
		if code < 100 {
			t.Errorf("%v: code %d is in the transport's range", want, code)
		}
		if prev, dup := seen[code]; dup {
			t.Errorf("code %d used by both %v and %v", code, prev, want)
		}
		seen[code] = want
		// etcd's words: etcdserver's, but for the bcrypt library's error
		// etcd passes through as it is, and its auth store's for a hash
		// it cannot decode.
		if !strings.HasPrefix(want.Error(), "etcdserver: ") && want != ErrPasswordTooLong && want != ErrNoPasswordUser {
			t.Errorf("code %d: message %q not in etcd's words", code, want.Error())
		}
		if name := Code(code).String(); strings.HasPrefix(name, "Code(") {
			t.Errorf("code %d has no name", code)
		}

		got := ErrorFromCode(code, want.Error())
		if !errors.Is(got, want) || got.Error() != want.Error() {
			t.Errorf("ErrorFromCode(%d) = %v, does not match %v", code, got, want)
		}
		if got := ErrorFromCode(code, ""); got.Error() != want.Error() {
			t.Errorf("ErrorFromCode(%d, \"\") = %q, want the standard message %q", code, got, want)
		}
		wrapped := fmt.Errorf("range: %w", ErrorFromCode(code, "other words"))
		if !errors.Is(wrapped, want) || CodeOf(wrapped) != Code(code) {
			t.Errorf("wrapped code %d: Is %v, CodeOf %v", code, errors.Is(wrapped, want), CodeOf(wrapped))
		}
		for _, other := range allErrors {
			if other != want && errors.Is(got, other) {
				t.Errorf("code %d matches %v", code, other)
			}
		}
	}
}

func TestErrorf(t *testing.T) {
	err := Errorf(CodeInvalidArgument, "range: limit %d is negative", -1)
	if err.Error() != "range: limit -1 is negative" {
		t.Errorf("message %q", err)
	}
	if !errors.Is(err, ErrInvalidArgument) || errors.Is(err, ErrEmptyKey) {
		t.Errorf("Errorf result matches the wrong sentinels")
	}
	var rc rpcCoder
	if !errors.As(err, &rc) {
		t.Fatal("Errorf result has no RPCCode")
	}
	back := ErrorFromCode(rc.RPCCode(), err.Error())
	if !errors.Is(back, ErrInvalidArgument) || back.Error() != err.Error() {
		t.Errorf("after the wire: %v", back)
	}
}

func TestUnknownCode(t *testing.T) {
	err := ErrorFromCode(999, "")
	if errors.Is(err, ErrCompacted) || CodeOf(err) != 999 {
		t.Errorf("unknown code: %v", err)
	}
	if err.Error() != "api: error Code(999)" {
		t.Errorf("message %q", err)
	}
	if CodeOf(errors.New("plain")) != 0 || CodeOf(nil) != 0 {
		t.Error("CodeOf of a plain error is not 0")
	}
	if CodeCompacted.String() != "Compacted" {
		t.Errorf("String = %q", CodeCompacted.String())
	}
}
