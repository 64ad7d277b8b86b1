package node

import (
	"context"
	"testing"
	"time"
)

// withDeadline bounds only a call without a deadline, and releasing no
// bound is allowed.
func TestWithDeadlineOnlyWithoutOne(t *testing.T) {
	s := &Server{}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	got, bound := s.withDeadline(ctx)
	if got != ctx || bound != nil {
		t.Fatalf("a context with a deadline was bounded again: %v, %v", got, bound)
	}
	bound.Release()
	got, bound = s.withDeadline(context.Background())
	defer bound.Release()
	if dl, ok := got.Deadline(); !ok || time.Until(dl) > s.requestTimeout() || !memberSetDeadline(got) {
		t.Fatalf("unbounded call: deadline %v, %v, member's %v", dl, ok, memberSetDeadline(got))
	}
}

func memberSetDeadline(ctx context.Context) bool { return ctx.Value(memberDeadlineKey{}) != nil }
