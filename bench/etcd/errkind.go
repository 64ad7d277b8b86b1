package etcd

import (
	"errors"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// ErrorKind implements bench.ErrorKinder: etcd's error, by the name of its
// gRPC code and its description when it is one of etcd's
// ("gRPC Unavailable: etcdserver: request timed out"), or the gRPC code
// alone. Errors of the client's own context are left to the bench.
func (Target) ErrorKind(err error) string {
	st, ok := status.FromError(err)
	if !ok || st.Code() == codes.OK {
		return ""
	}
	kind := "gRPC " + st.Code().String()
	var known rpctypes.EtcdError
	if errors.As(rpctypes.Error(err), &known) {
		kind += ": " + known.Error()
	}
	return kind
}
