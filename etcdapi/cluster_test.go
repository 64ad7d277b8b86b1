package etcdapi_test

import (
	"cmp"
	"slices"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// TestClusterAnswersAsEtcd: the Cluster service's answers carry no
// revision in their header and list the members in the order of their
// ids, as etcd's do.
func TestClusterAnswersAsEtcd(t *testing.T) {
	c := startCluster(t, 1)
	ctx := ctxT(t)
	cli := etcdClient(t, c.Endpoints()...)
	must[*clientv3.PutResponse](t, "put")(cli.Put(ctx, "k", "v")) // a revision to leave out
	sorted := func(what string, h *pb.ResponseHeader, ms []*pb.Member, n int) {
		t.Helper()
		if h.Revision != 0 || h.ClusterId == 0 || h.MemberId == 0 {
			t.Fatalf("%s: header %+v, want ids and no revision", what, h)
		}
		if len(ms) != n || !slices.IsSortedFunc(ms, func(a, b *pb.Member) int { return cmp.Compare(a.ID, b.ID) }) {
			t.Fatalf("%s: members %+v, want %d in the order of their ids", what, ms, n)
		}
	}
	// Learners with random ids: in about half the tries, one's id is
	// below the first member's.
	for _, url := range []string{"http://127.0.0.1:1", "http://127.0.0.1:2", "http://127.0.0.1:3"} {
		resp := must[*clientv3.MemberAddResponse](t, "member add")(cli.MemberAddAsLearner(ctx, []string{url}))
		sorted("member add", resp.Header, resp.Members, 2)
		list := must[*clientv3.MemberListResponse](t, "member list")(cli.MemberList(ctx))
		sorted("member list", list.Header, list.Members, 2)
		upd := must[*clientv3.MemberUpdateResponse](t, "member update")(cli.MemberUpdate(ctx, resp.Member.ID, []string{url + "0"}))
		sorted("member update", upd.Header, upd.Members, 2)
		rm := must[*clientv3.MemberRemoveResponse](t, "member remove")(cli.MemberRemove(ctx, resp.Member.ID))
		sorted("member remove", rm.Header, rm.Members, 1)
	}
}
