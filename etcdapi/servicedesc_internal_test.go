package etcdapi

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/grpc"
)

// The face's KV service is etcd's, method for method: registered on a
// server, it describes itself as etcd's generated registration does (a
// method etcd adds in a later version would be missing from the face's).
func TestKVServiceDescIsEtcds(t *testing.T) {
	generated := grpc.NewServer()
	pb.RegisterKVServer(generated, kvServer{})
	own := grpc.NewServer()
	own.RegisterService((&Face{}).kvServiceDesc(), kvServer{})
	want, got := generated.GetServiceInfo(), own.GetServiceInfo()
	// gRPC lists a service's methods in no fixed order (from a map).
	for _, info := range []map[string]grpc.ServiceInfo{want, got} {
		for _, si := range info {
			slices.SortFunc(si.Methods, func(a, b grpc.MethodInfo) int { return strings.Compare(a.Name, b.Name) })
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("the face's KV service is described as\n%+v\netcd's as\n%+v", got, want)
	}
	if _, ok := got[kvServiceName]; !ok {
		t.Fatalf("no service %s in %+v", kvServiceName, got)
	}
}
