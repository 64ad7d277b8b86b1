package bench

import (
	"context"
	"errors"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/rpc"
)

// ErrorKinder is implemented by a Target that can say what kind of error
// an operation met (its code in the store's protocol), so that a run's
// report counts errors by kind rather than by message, whose details (an
// address, a size) differ from one error to the next.
type ErrorKinder interface {
	ErrorKind(err error) string
}

// errorKind is the kind of err for target: the target's, if it can tell
// (an error that came over the wire), else one of the client-side kinds
// every target shares.
func errorKind(target Target, err error) string {
	if k, ok := target.(ErrorKinder); ok {
		if kind := k.ErrorKind(err); kind != "" {
			return kind
		}
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "client deadline"
	case errors.Is(err, context.Canceled):
		return "canceled"
	}
	return "other"
}

// ErrorKind implements ErrorKinder: the API code's name (Timeout,
// TimeoutDueToLeaderFail, RequestTooLarge...), or for a failure of the
// connection itself "rpc " and the rpc code's name (rpc Unavailable).
func (Cairn) ErrorKind(err error) string {
	if c := api.CodeOf(err); c != 0 {
		return c.String()
	}
	var re *rpc.Error
	if errors.As(err, &re) {
		return "rpc " + re.Code.String()
	}
	return ""
}
