package etcdapi_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cairndb/cairn/etcdapi/concurrencypb"
	"go.etcd.io/etcd/api/v3/authpb"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// concurrencyAuthCaller is one caller of TestLockAndElectionUnderAuth: a
// user's token (none for an anonymous caller) and the lease it holds.
type concurrencyAuthCaller struct {
	token string
	lease int64
}

// ctx is ctx with the caller's token.
func (c concurrencyAuthCaller) ctx(ctx context.Context) context.Context {
	if c.token == "" {
		return ctx
	}
	return metadata.AppendToOutgoingContext(ctx, "token", c.token)
}

// answer is how a test line shows a call's outcome: OK and what it
// returned, or the gRPC code and message of its error.
func answer(err error, ok string) string {
	if err != nil {
		st := status.Convert(err)
		return fmt.Sprintf("%v %q", st.Code(), st.Message())
	}
	return "OK " + ok
}

// TestLockAndElectionUnderAuth: with auth on, the Lock and Election
// services act as their caller: alice, whose role may read and write
// under the lock's and the election's names, locks, unlocks, campaigns,
// proclaims, reads and observes the leader and resigns; bob, whose role
// may do nothing there, and a caller without a token are refused. Every
// answer (code and message) is a real etcd 3.6's, given the same users
// and roles.
func TestLockAndElectionUnderAuth(t *testing.T) {
	etcd := startRealEtcd(t)
	c := startCluster(t, 1)
	run := func(endpoint string) []string {
		ctx := ctxT(t)
		conn := concurrencyConn(t, endpoint)
		a := pb.NewAuthClient(conn)
		for _, step := range []struct {
			what string
			call func() error
		}{
			{"user add root", func() error {
				_, err := a.UserAdd(ctx, &pb.AuthUserAddRequest{Name: "root", Password: "root-pw"})
				return err
			}},
			{"grant root", func() error {
				_, err := a.UserGrantRole(ctx, &pb.AuthUserGrantRoleRequest{User: "root", Role: "root"})
				return err
			}},
			{"role add", func() error {
				_, err := a.RoleAdd(ctx, &pb.AuthRoleAddRequest{Name: "contender"})
				return err
			}},
			{"role grant", func() error {
				for _, prefix := range []string{"lk/", "el/"} {
					_, err := a.RoleGrantPermission(ctx, &pb.AuthRoleGrantPermissionRequest{Name: "contender", Perm: &authpb.Permission{
						PermType: authpb.READWRITE, Key: []byte(prefix), RangeEnd: []byte(clientv3.GetPrefixRangeEnd(prefix))}})
					if err != nil {
						return err
					}
				}
				return nil
			}},
			{"role add bob's", func() error {
				_, err := a.RoleAdd(ctx, &pb.AuthRoleAddRequest{Name: "other"})
				return err
			}},
			{"role grant bob's", func() error {
				_, err := a.RoleGrantPermission(ctx, &pb.AuthRoleGrantPermissionRequest{Name: "other", Perm: &authpb.Permission{
					PermType: authpb.READWRITE, Key: []byte("other/"), RangeEnd: []byte("other0")}})
				return err
			}},
			{"user add alice", func() error {
				_, err := a.UserAdd(ctx, &pb.AuthUserAddRequest{Name: "alice", Password: "alice-pw"})
				return err
			}},
			{"grant alice", func() error {
				_, err := a.UserGrantRole(ctx, &pb.AuthUserGrantRoleRequest{User: "alice", Role: "contender"})
				return err
			}},
			{"user add bob", func() error {
				_, err := a.UserAdd(ctx, &pb.AuthUserAddRequest{Name: "bob", Password: "bob-pw"})
				return err
			}},
			{"grant bob", func() error {
				_, err := a.UserGrantRole(ctx, &pb.AuthUserGrantRoleRequest{User: "bob", Role: "other"})
				return err
			}},
			{"auth enable", func() error {
				_, err := a.AuthEnable(ctx, &pb.AuthEnableRequest{})
				return err
			}},
		} {
			if err := step.call(); err != nil {
				t.Fatalf("%s: %s: %v", endpoint, step.what, err)
			}
		}
		login := func(name, password string) concurrencyAuthCaller {
			tok := must[*pb.AuthenticateResponse](t, "authenticate "+name)(a.Authenticate(ctx, &pb.AuthenticateRequest{Name: name, Password: password}))
			caller := concurrencyAuthCaller{token: tok.Token}
			g := must[*pb.LeaseGrantResponse](t, "lease grant as "+name)(pb.NewLeaseClient(conn).LeaseGrant(caller.ctx(ctx), &pb.LeaseGrantRequest{TTL: 60}))
			caller.lease = g.ID
			return caller
		}
		alice, bob := login("alice", "alice-pw"), login("bob", "bob-pw")
		nobody := concurrencyAuthCaller{lease: alice.lease}
		var lines []string
		say := func(what, got string) { lines = append(lines, what+": "+got) }

		lockAs := func(who string, c concurrencyAuthCaller) []byte {
			r, err := lock(c.ctx(ctx), conn, "lk", clientv3.LeaseID(c.lease))
			say("lock as "+who, answer(err, ""))
			if err != nil {
				return nil
			}
			return r.Key
		}
		key := lockAs("alice", alice)
		lockAs("bob", bob)
		lockAs("nobody", nobody)
		say("unlock as bob", answer(unlock(bob.ctx(ctx), conn, key), ""))
		say("unlock as nobody", answer(unlock(nobody.ctx(ctx), conn, key), ""))
		say("unlock as alice", answer(unlock(alice.ctx(ctx), conn, key), ""))
		bobLease, err := lock(bob.ctx(ctx), conn, "other", 0) // a session lease granted for bob
		say("lock under bob's own prefix with a new lease", answer(err, fmt.Sprint(bobLease != nil)))

		campaignAs := func(who string, c concurrencyAuthCaller, value string) *concurrencypb.LeaderKey {
			r, err := campaign(c.ctx(ctx), conn, "el", clientv3.LeaseID(c.lease), value)
			say("campaign as "+who, answer(err, ""))
			if err != nil {
				return nil
			}
			return r.Leader
		}
		campaignAs("bob", bob, "b")
		campaignAs("nobody", nobody, "n")
		lead := campaignAs("alice", alice, "v1")
		if lead == nil {
			return lines
		}
		proclaim := func(who string, c concurrencyAuthCaller, value string) {
			_, err := invoke[concurrencypb.ProclaimResponse](c.ctx(ctx), conn, concurrencypb.ProclaimMethod,
				&concurrencypb.ProclaimRequest{Leader: lead, Value: []byte(value)})
			say("proclaim as "+who, answer(err, ""))
		}
		proclaim("alice", alice, "v2")
		proclaim("bob", bob, "b")
		proclaim("nobody", nobody, "n")
		for _, who := range []struct {
			name string
			c    concurrencyAuthCaller
		}{{"alice", alice}, {"bob", bob}, {"nobody", nobody}} {
			r, err := leader(who.c.ctx(ctx), conn, "el")
			v := ""
			if err == nil {
				v = string(r.Kv.Value)
			}
			say("leader as "+who.name, answer(err, v))
			say("observe as "+who.name, observeFirst(who.c.ctx(ctx), conn, "el"))
		}
		resign := func(who string, c concurrencyAuthCaller) {
			_, err := invoke[concurrencypb.ResignResponse](c.ctx(ctx), conn, concurrencypb.ResignMethod, &concurrencypb.ResignRequest{Leader: lead})
			say("resign as "+who, answer(err, ""))
		}
		resign("bob", bob)
		resign("nobody", nobody)
		resign("alice", alice)
		r, err := leader(alice.ctx(ctx), conn, "el")
		say("leader after the resign", answer(err, fmt.Sprint(r != nil)))
		return lines
	}
	want, got := run(etcd), run(c.Endpoint(0))
	for i := range max(len(want), len(got)) {
		w, g := "", ""
		if i < len(want) {
			w = want[i]
		}
		if i < len(got) {
			g = got[i]
		}
		if w != g {
			t.Errorf("cairn: %s\n etcd: %s", g, w)
		}
	}
	if t.Failed() {
		t.Logf("etcd's answers:\n%s", strings.Join(want, "\n"))
	}
}

// observeFirst is the first answer of an Observe stream of the election
// name (its first leader value, or its error; how it ends if it ends
// without one), waiting at most two seconds.
func observeFirst(ctx context.Context, conn *grpc.ClientConn, name string) string {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	st, err := conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true}, concurrencypb.ObserveMethod)
	if err == nil {
		err = st.SendMsg(&concurrencypb.LeaderRequest{Name: []byte(name)})
	}
	if err == nil {
		err = st.CloseSend()
	}
	resp := new(concurrencypb.LeaderResponse)
	if err == nil {
		err = st.RecvMsg(resp)
	}
	if err != nil {
		return answer(err, "")
	}
	return answer(nil, string(resp.Kv.Value))
}
