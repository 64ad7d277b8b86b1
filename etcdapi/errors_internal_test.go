package etcdapi

import (
	"testing"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/node"
	"google.golang.org/grpc/status"
)

// The native rpc's calls are counted under the gRPC code the etcd face
// answers the same error with (node.GRPCCode): for every error code of
// the API, the two agree.
func TestNativeCodesMatchTheFace(t *testing.T) {
	for c := api.Code(100); c < 600; c++ {
		err := api.Errorf(c, "test")
		face := status.Code(toGRPCError(err))
		if native := node.GRPCCode(err); native != face {
			t.Errorf("code %d: native rpc counts %v, the etcd face answers %v", c, native, face)
		}
	}
}
