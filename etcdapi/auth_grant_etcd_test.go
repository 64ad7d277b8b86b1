package etcdapi_test

import (
	"fmt"
	"strings"
	"testing"

	"go.etcd.io/etcd/api/v3/authpb"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/grpc/status"
)

// TestGrantPermissionRangesMatchEtcd grants permissions on ranges etcd
// 3.6 takes and refuses (an empty key, with any end; an end at or before
// the key; "\x00", every key from the key on), to a role that exists and
// to one that does not (etcd checks the range first), then revokes some,
// and compares each answer (gRPC code and message) and the role's
// permissions at the end with a real etcd 3.6's.
func TestGrantPermissionRangesMatchEtcd(t *testing.T) {
	etcd := startRealEtcd(t)
	c := startCluster(t, 1)
	type grant struct{ role, key, end string }
	grants := []grant{
		{"r", "a", ""},
		{"r", "a", "b"},
		{"r", "a", "\x00"},
		{"r", "\x00", "\x00"},
		{"r", "b", "a"},
		{"r", "c", "c"},
		{"r", "", ""},
		{"r", "", "\x00"},
		{"r", "", "z"},
		{"nobody", "b", "a"},
		{"nobody", "", ""},
		{"nobody", "a", "b"},
	}
	revokes := []grant{
		{"r", "a", "b"},
		{"r", "b", "a"},
		{"r", "", ""},
		{"nobody", "b", "a"},
	}
	run := func(endpoint string) []string {
		ctx := ctxT(t)
		a := pb.NewAuthClient(concurrencyConn(t, endpoint))
		must[*pb.AuthRoleAddResponse](t, "role add")(a.RoleAdd(ctx, &pb.AuthRoleAddRequest{Name: "r"}))
		var lines []string
		for _, g := range grants {
			_, err := a.RoleGrantPermission(ctx, &pb.AuthRoleGrantPermissionRequest{Name: g.role,
				Perm: &authpb.Permission{PermType: authpb.READ, Key: []byte(g.key), RangeEnd: []byte(g.end)}})
			st := status.Convert(err)
			lines = append(lines, fmt.Sprintf("grant %s [%q, %q): %v %q", g.role, g.key, g.end, st.Code(), st.Message()))
		}
		for _, g := range revokes {
			_, err := a.RoleRevokePermission(ctx, &pb.AuthRoleRevokePermissionRequest{Role: g.role, Key: []byte(g.key), RangeEnd: []byte(g.end)})
			st := status.Convert(err)
			lines = append(lines, fmt.Sprintf("revoke %s [%q, %q): %v %q", g.role, g.key, g.end, st.Code(), st.Message()))
		}
		r := must[*pb.AuthRoleGetResponse](t, "role get")(a.RoleGet(ctx, &pb.AuthRoleGetRequest{Role: "r"}))
		for _, p := range r.Perm {
			lines = append(lines, fmt.Sprintf("holds %v [%q, %q)", p.PermType, p.Key, p.RangeEnd))
		}
		return lines
	}
	want, got := run(etcd), run(c.Endpoint(0))
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("cairn:\n%s\netcd:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
