package node

import (
	"errors"
	"fmt"
	"testing"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/node/replica"
)

// A proposal's outcome is either certain (the server may propose it
// again) or not (it must not): toAPIError keeps that apart on the wire,
// and untilLeader retries only the certain ones (certainlyNotProposed).
func TestProposalOutcomesOnTheWire(t *testing.T) {
	for _, tc := range []struct {
		err    error
		code   api.Code
		retry  bool
		reason string
	}{
		{replica.ErrNoLeader, api.CodeNoLeader, true, "nothing was proposed"},
		{replica.ErrProposalNotApplied, 0, true, "refused by the duplicate filter: certainly not applied"},
		{fmt.Errorf("member 3: %w", replica.ErrOutcomeUnknown), api.CodeTimeout, false, "a snapshot may hold it"},
		{replica.ErrStopped, api.CodeStopped, false, "the member stopped before it took it: the client may try another member, not this one"},
		{ErrStoppedInFlight, api.CodeTimeout, false, "the member stopped with it in flight"},
	} {
		if retry := certainlyNotProposed(tc.err); retry != tc.retry {
			t.Errorf("%v: retried %v, want %v (%s)", tc.err, retry, tc.retry, tc.reason)
		}
		if tc.code == 0 {
			continue
		}
		var apiErr *api.Error
		if got := toAPIError(tc.err); !errors.As(got, &apiErr) || apiErr.Code != tc.code {
			t.Errorf("%v: on the wire %v, want code %v (%s)", tc.err, got, tc.code, tc.reason)
		}
	}
}
