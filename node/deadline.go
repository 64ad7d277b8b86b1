package node

import (
	"context"
	"time"

	"github.com/cairndb/cairn/internal/lazydeadline"
)

// withDeadline bounds a call whose caller gave no deadline by the
// request timeout, and marks the deadline as the member's own
// (memberDeadlineKey). The caller releases the bound when the call ends
// (nil when ctx had a deadline already; Release is nil-safe). The bound
// starts its timer only if the call waits (lazydeadline).
func (s *Server) withDeadline(ctx context.Context) (context.Context, *lazydeadline.Context) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, nil
	}
	bound := lazydeadline.New(ctx, time.Now().Add(s.requestTimeout()), memberDeadlineKey{})
	return bound, bound
}
