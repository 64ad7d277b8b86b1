package etcdapi

import (
	"testing"

	"github.com/cairndb/cairn/api"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

// A watch's cancel reason is worded as etcd's: a refusal by auth as the
// whole gRPC error, a compaction by its message, a reason without a code
// as it is.
func TestCancelReasonIsEtcds(t *testing.T) {
	tests := []struct {
		code   api.Code
		reason string
		want   string
	}{
		{api.CodePermissionDenied, api.ErrPermissionDenied.Error(), rpctypes.ErrGRPCPermissionDenied.Error()},
		{api.CodeUserEmpty, api.ErrUserEmpty.Error(), rpctypes.ErrGRPCUserEmpty.Error()},
		{api.CodeInvalidAuthToken, api.ErrInvalidAuthToken.Error(), rpctypes.ErrGRPCInvalidAuthToken.Error()},
		{api.CodeAuthOldRevision, api.ErrAuthOldRevision.Error(), rpctypes.ErrGRPCAuthOldRevision.Error()},
		{api.CodeCompacted, api.ErrCompacted.Error(), rpctypes.ErrCompacted.Error()},
		{0, "a reason of its own", "a reason of its own"},
	}
	for _, tt := range tests {
		got := cancelReason(&api.WatchResponse{Canceled: true, CancelCode: tt.code, CancelReason: tt.reason})
		if got != tt.want {
			t.Errorf("code %d: cancel reason %q, want %q", tt.code, got, tt.want)
		}
	}
}
