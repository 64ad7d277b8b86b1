package rpc

import (
	"context"
	"errors"
	"fmt"
)

// Code classifies an error that crossed the wire. Codes 1..99 belong to
// this package (the transport); codes from 100 up belong to applications
// (package api defines them) and pass through rpc untouched.
type Code uint16

// Transport codes. The values are part of the wire format: never renumber.
const (
	// CodeUnknown is a handler error that carried no code of its own.
	CodeUnknown Code = 1
	// CodeCanceled means the call was canceled (by the caller, or because
	// its stream was reset).
	CodeCanceled Code = 2
	// CodeDeadlineExceeded means the call's deadline passed.
	CodeDeadlineExceeded Code = 3
	// CodeUnavailable means the connection could not be made or died before
	// a response arrived; trying another endpoint may help.
	CodeUnavailable Code = 4
	// CodeUnimplemented means the server has no handler for the method.
	CodeUnimplemented Code = 5
	// CodeResourceExhausted means a limit was hit: too many concurrent
	// calls on the connection, or a message larger than MaxFrameSize.
	CodeResourceExhausted Code = 6
	// CodeInvalidArgument means the request itself was malformed.
	CodeInvalidArgument Code = 7
	// CodeInternal means the server failed in a way it did not expect
	// (a handler panicked, say).
	CodeInternal Code = 8
)

// firstAppCode is the lowest code owned by applications.
const firstAppCode Code = 100

var codeNames = map[Code]string{
	CodeUnknown:           "Unknown",
	CodeCanceled:          "Canceled",
	CodeDeadlineExceeded:  "DeadlineExceeded",
	CodeUnavailable:       "Unavailable",
	CodeUnimplemented:     "Unimplemented",
	CodeResourceExhausted: "ResourceExhausted",
	CodeInvalidArgument:   "InvalidArgument",
	CodeInternal:          "Internal",
}

// String names a transport code, or prints an application code as "code(N)".
func (c Code) String() string {
	if n, ok := codeNames[c]; ok {
		return n
	}
	return fmt.Sprintf("code(%d)", uint16(c))
}

// Error is an error that crossed the wire (or a local transport failure
// shaped like one, such as CodeUnavailable for a dead connection).
type Error struct {
	Code    Code
	Message string
	// cause is the local error behind a locally made *Error (a dial or
	// TLS failure); it is reachable through errors.As/Is but never sent.
	cause error
	// unsent marks a local failure that happened before the request
	// was queued on a connection: the server cannot have seen it.
	unsent bool
}

// NotSent reports whether err is a failure from before the request left
// this process (no connection, connection already closing): the server
// cannot have run it, so it is safe to make the call elsewhere.
func NotSent(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.unsent
}

// Error returns the message; transport codes are prefixed with their name
// so logs show what kind of failure it was, application codes are not
// (their messages are written for users).
func (e *Error) Error() string {
	if e.Code >= firstAppCode {
		if e.Message == "" {
			return e.Code.String()
		}
		return e.Message
	}
	if e.Message == "" {
		return "rpc " + e.Code.String()
	}
	return "rpc " + e.Code.String() + ": " + e.Message
}

// Is matches another *Error with the same Code (whatever the message), and
// also the standard context errors: an *Error with CodeCanceled is
// context.Canceled, one with CodeDeadlineExceeded is
// context.DeadlineExceeded, so errors.Is works the same for local and
// remote deadline failures.
func (e *Error) Is(target error) bool {
	var t *Error
	switch {
	case errors.As(target, &t):
		return t.Code == e.Code
	case target == context.Canceled:
		return e.Code == CodeCanceled
	case target == context.DeadlineExceeded:
		return e.Code == CodeDeadlineExceeded
	}
	return false
}

// Unwrap returns the local cause of a locally made error, if any.
func (e *Error) Unwrap() error { return e.cause }

// RPCCode lets a handler return an *Error it received from another call
// and have the same code travel on.
func (e *Error) RPCCode() uint16 { return uint16(e.Code) }

// ErrorCode returns the Code of err if it is (or wraps) an *Error, and 0
// otherwise.
func ErrorCode(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return 0
}

// errorf builds a local *Error.
func errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// unavailable builds a CodeUnavailable error around a local cause.
func unavailable(cause error, format string, args ...any) *Error {
	msg := fmt.Sprintf(format, args...)
	if cause != nil {
		msg += ": " + cause.Error()
	}
	return &Error{Code: CodeUnavailable, Message: msg, cause: cause}
}

// maxErrorMessage bounds the message of an error frame; longer handler
// messages are cut (the code is what programs look at).
const maxErrorMessage = 16 << 10

// wireError turns a handler's error into what goes on the wire: the code
// from RPCCode() if the error has one, the context codes for context
// errors, CodeUnknown otherwise; the message is err.Error().
func wireError(err error) (Code, string) {
	code := CodeUnknown
	var coded interface{ RPCCode() uint16 }
	switch {
	case errors.As(err, &coded):
		code = Code(coded.RPCCode())
		if code == 0 {
			code = CodeUnknown
		}
	case errors.Is(err, context.Canceled):
		code = CodeCanceled
	case errors.Is(err, context.DeadlineExceeded):
		code = CodeDeadlineExceeded
	}
	msg := err.Error()
	if e, ok := err.(*Error); ok {
		msg = e.Message // forwarded as is, without the local "rpc Code:" prefix
	}
	if len(msg) > maxErrorMessage {
		msg = msg[:maxErrorMessage]
	}
	return code, msg
}

// ErrServerClosed is returned by Serve after Close.
var ErrServerClosed = errors.New("rpc: server closed")

// ErrClientClosed is returned by Client methods after Close.
var ErrClientClosed = errors.New("rpc: client closed")
