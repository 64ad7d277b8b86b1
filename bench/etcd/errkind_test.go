package etcd

import (
	"errors"
	"testing"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestErrorKindNamesEtcdsErrors(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{rpctypes.ErrGRPCTimeout, "gRPC Unavailable: etcdserver: request timed out"},
		{rpctypes.ErrGRPCRequestTooLarge, "gRPC InvalidArgument: etcdserver: request is too large"},
		{status.Error(codes.ResourceExhausted, "grpc: received message larger than max (5 vs. 4)"), "gRPC ResourceExhausted"},
		{errors.New("local"), ""},
	}
	for _, tt := range tests {
		if got := (Target{}).ErrorKind(tt.err); got != tt.want {
			t.Errorf("ErrorKind(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
}
