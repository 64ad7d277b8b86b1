package bench

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/rpc"
)

// Errors are counted by kind, each kind with the message it first came
// with; the kinds past maxErrorSamples count as "other".
func TestRecorderCountsErrorsByKind(t *testing.T) {
	r := recorder{kind: func(err error) string { return errorKind(Cairn{}, err) }}
	errs := []error{
		fmt.Errorf("put: %w", api.Errorf(api.CodeTimeout, "request timed out")),
		api.ErrTimeout,
		api.ErrTimeoutDueToLeaderFail,
		&rpc.Error{Code: rpc.CodeUnavailable, Message: "handshake with 127.0.0.1:1: i/o timeout"},
		&rpc.Error{Code: rpc.CodeUnavailable, Message: "handshake with 127.0.0.1:2: i/o timeout"},
		context.DeadlineExceeded,
		errors.New("something else"),
	}
	for _, err := range errs {
		r.record(0, 0, err)
	}
	n, samples := r.errorSamples()
	got := map[string]int64{}
	for _, s := range samples {
		got[s.Kind] = s.Count
	}
	want := map[string]int64{"Timeout": 2, "TimeoutDueToLeaderFail": 1, "rpc Unavailable": 2, "client deadline": 1, "other": 1}
	if n != int64(len(errs)) || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("%d errors by kind %v, want %d, %v", n, got, len(errs), want)
	}
	if samples[0].Kind != "Timeout" && samples[0].Kind != "rpc Unavailable" || samples[0].Count != 2 {
		t.Fatalf("most frequent first: %+v", samples)
	}

	var many recorder
	for i := range maxErrorSamples + 5 {
		many.record(0, 0, fmt.Errorf("error %d", i))
	}
	if _, s := many.errorSamples(); len(s) != maxErrorSamples+1 || s[0].Kind != "other" || s[0].Count != 5 {
		t.Fatalf("past %d kinds: %+v", maxErrorSamples, s)
	}
}
