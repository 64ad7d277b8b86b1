package etcdapi_test

import (
	"context"
	"strings"
	"time"

	"crypto/tls"
	"crypto/x509"
	"errors"
	"go.uber.org/zap"
	"testing"

	"github.com/cairndb/cairn/etcdapi"
	"github.com/cairndb/cairn/internal/testcerts"
	"github.com/cairndb/cairn/node"
	"github.com/cairndb/cairn/node/nodetest"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// enableAuthWithAlice makes root (password root-pw) and alice (alice-pw,
// read and write on app/ through the role app), then turns auth on.
func enableAuthWithAlice(ctx context.Context, t *testing.T, admin *clientv3.Client) {
	t.Helper()
	must[*clientv3.AuthUserAddResponse](t, "user add root")(admin.UserAdd(ctx, "root", "root-pw"))
	must[*clientv3.AuthUserGrantRoleResponse](t, "grant root")(admin.UserGrantRole(ctx, "root", "root"))
	must[*clientv3.AuthRoleAddResponse](t, "role add")(admin.RoleAdd(ctx, "app"))
	must[*clientv3.AuthRoleGrantPermissionResponse](t, "grant permission")(
		admin.RoleGrantPermission(ctx, "app", "app/", clientv3.GetPrefixRangeEnd("app/"), clientv3.PermissionType(clientv3.PermReadWrite)))
	must[*clientv3.AuthUserAddResponse](t, "user add alice")(admin.UserAdd(ctx, "alice", "alice-pw"))
	must[*clientv3.AuthUserGrantRoleResponse](t, "grant app")(admin.UserGrantRole(ctx, "alice", "app"))
	must[*clientv3.AuthEnableResponse](t, "auth enable")(admin.AuthEnable(ctx))
}

// TestAuthWithTokens: users, roles and permissions made through
// clientv3, then clients that log in get what their roles allow, through
// any member, and nothing else.
func TestAuthWithTokens(t *testing.T) {
	c := startCluster(t, 3)
	ctx := ctxT(t)
	admin := etcdClient(t, c.Endpoints()...)
	enableAuthWithAlice(ctx, t, admin)

	if _, err := admin.Put(ctx, "app/x", "anonymous"); !errors.Is(err, rpctypes.ErrUserEmpty) && !errors.Is(err, rpctypes.ErrPermissionDenied) {
		t.Fatalf("anonymous put with auth on: %v", err)
	}
	for i := range 3 {
		alice := etcdClientWith(t, clientv3.Config{Endpoints: []string{c.Endpoint(i)}, Username: "alice", Password: "alice-pw"})
		must[*clientv3.PutResponse](t, "alice put")(alice.Put(ctx, "app/x", "from alice"))
		if r := must[*clientv3.GetResponse](t, "alice get")(alice.Get(ctx, "app/x")); string(r.Kvs[0].Value) != "from alice" {
			t.Fatalf("alice reads %q", r.Kvs[0].Value)
		}
		if _, err := alice.Put(ctx, "secret", "x"); !errors.Is(err, rpctypes.ErrPermissionDenied) {
			t.Fatalf("alice writing outside her role at member %d: %v", i, err)
		}
		if _, err := alice.Get(ctx, "", clientv3.WithPrefix()); !errors.Is(err, rpctypes.ErrPermissionDenied) {
			t.Fatalf("alice reading everything at member %d: %v", i, err)
		}
		if _, err := alice.UserList(ctx); !errors.Is(err, rpctypes.ErrPermissionDenied) {
			t.Fatalf("alice administering at member %d: %v", i, err)
		}
	}
	if _, err := clientv3.New(clientv3.Config{Endpoints: c.Endpoints(), Username: "alice", Password: "wrong", Logger: zap.NewNop()}); !errors.Is(err, rpctypes.ErrAuthFailed) {
		t.Fatalf("login with a wrong password: %v", err)
	}
	root := etcdClientWith(t, clientv3.Config{Endpoints: c.Endpoints(), Username: "root", Password: "root-pw"})
	st := must[*clientv3.AuthStatusResponse](t, "auth status")(root.AuthStatus(ctx))
	if !st.Enabled || st.AuthRevision == 0 {
		t.Fatalf("auth status %+v", st)
	}
	users := must[*clientv3.AuthUserListResponse](t, "user list")(root.UserList(ctx))
	if len(users.Users) != 2 {
		t.Fatalf("users %v", users.Users)
	}
	role := must[*clientv3.AuthRoleGetResponse](t, "role get")(root.RoleGet(ctx, "app"))
	if len(role.Perm) != 1 || string(role.Perm[0].Key) != "app/" || role.Perm[0].PermType != clientv3.PermReadWrite {
		t.Fatalf("role app: %+v", role.Perm)
	}
	// A revoked permission is refused at once, also to a client logged in
	// before (its token is older than the change).
	alice := etcdClientWith(t, clientv3.Config{Endpoints: c.Endpoints(), Username: "alice", Password: "alice-pw"})
	must[*clientv3.AuthRoleRevokePermissionResponse](t, "revoke")(root.RoleRevokePermission(ctx, "app", "app/", clientv3.GetPrefixRangeEnd("app/")))
	if _, err := alice.Put(ctx, "app/x", "after"); !errors.Is(err, rpctypes.ErrPermissionDenied) {
		t.Fatalf("put after the permission was revoked: %v", err)
	}
	must[*clientv3.AuthDisableResponse](t, "auth disable")(root.AuthDisable(ctx))
	must[*clientv3.PutResponse](t, "anonymous put")(admin.Put(ctx, "open", "again"))
}

// TestAuthWithClientCertificates: over TLS with client certificates
// required, the certificate's common name is the user, as in etcd.
func TestAuthWithClientCertificates(t *testing.T) {
	ca := testcerts.NewCA(t, "ca")
	serverCert := ca.Issue(t, "127.0.0.1", x509.ExtKeyUsageServerAuth)
	serverTLS := &tls.Config{Certificates: []tls.Certificate{serverCert}, ClientCAs: ca.Pool(), ClientAuth: tls.RequireAndVerifyClientCert}
	c := nodetest.Start(t, 1, nodetest.Options{ClientTLS: serverTLS, ClientFace: etcdapi.New,
		Configure: func(i int, cfg *node.Config) { cfg.BcryptCost = 4 }}) // bcrypt's lowest cost
	ctx := ctxT(t)
	clientAs := func(user string) *clientv3.Client {
		cert := ca.Issue(t, user, x509.ExtKeyUsageClientAuth)
		return etcdClientWith(t, clientv3.Config{Endpoints: []string{c.Endpoint(0)},
			TLS: &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: ca.Pool()}})
	}
	root := clientAs("root")
	must[*clientv3.AuthUserAddResponse](t, "user add root")(root.UserAdd(ctx, "root", "root-pw"))
	must[*clientv3.AuthUserGrantRoleResponse](t, "grant root")(root.UserGrantRole(ctx, "root", "root"))
	must[*clientv3.AuthUserAddResponse](t, "user add bob")(root.UserAddWithOptions(ctx, "bob", "", &clientv3.UserAddOptions{NoPassword: true}))
	must[*clientv3.AuthEnableResponse](t, "auth enable")(root.AuthEnable(ctx))
	must[*clientv3.PutResponse](t, "root put")(root.Put(ctx, "k", "by root's certificate"))
	bob := clientAs("bob")
	if _, err := bob.Get(ctx, "k"); !errors.Is(err, rpctypes.ErrPermissionDenied) {
		t.Fatalf("bob, with no role, reads: %v", err)
	}
	stranger := clientAs("stranger")
	if _, err := stranger.Get(ctx, "k"); err == nil {
		t.Fatal("a certificate naming no user reads")
	}
	// Without a client certificate the TLS handshake fails.
	noCert, err := clientv3.New(clientv3.Config{Endpoints: []string{c.Endpoint(0)},
		TLS: &tls.Config{RootCAs: ca.Pool()}, DialTimeout: 2 * time.Second, Logger: zap.NewNop()})
	if err == nil {
		defer noCert.Close()
		short, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		if _, err := noCert.Get(short, "k"); err == nil {
			t.Fatal("a client without a certificate read over client-cert TLS")
		}
	}
}

// TestWithdrawnMeansWithdrawn: a watch ends when its user may no longer
// read what it watches, and a lease is kept alive only by root or by a
// user who may write every key it holds.
func TestWithdrawnMeansWithdrawn(t *testing.T) {
	c := startCluster(t, 3)
	ctx := ctxT(t)
	admin := etcdClient(t, c.Endpoints()...)
	enableAuthWithAlice(ctx, t, admin)
	root := etcdClientWith(t, clientv3.Config{Endpoints: c.Endpoints(), Username: "root", Password: "root-pw"})
	alice := etcdClientWith(t, clientv3.Config{Endpoints: c.Endpoints(), Username: "alice", Password: "alice-pw"})

	// Leases: root's lease on a key alice may not write is not hers to
	// keep alive; her own is, until her permission goes.
	rootLease := must[*clientv3.LeaseGrantResponse](t, "grant")(root.Grant(ctx, 60))
	must[*clientv3.PutResponse](t, "put")(root.Put(ctx, "sys/k", "v", clientv3.WithLease(rootLease.ID)))
	if _, err := alice.KeepAliveOnce(ctx, rootLease.ID); !errors.Is(err, rpctypes.ErrPermissionDenied) {
		t.Fatalf("alice keeping root's lease alive: %v", err)
	}
	hers := must[*clientv3.LeaseGrantResponse](t, "grant")(alice.Grant(ctx, 60))
	must[*clientv3.PutResponse](t, "put")(alice.Put(ctx, "app/k", "v", clientv3.WithLease(hers.ID)))
	must[*clientv3.LeaseKeepAliveResponse](t, "keep alive")(alice.KeepAliveOnce(ctx, hers.ID))

	// A watch she may not make is refused in etcd's words.
	if r, ok := <-alice.Watch(ctx, "sys/k"); !ok || !r.Canceled || r.Err() == nil ||
		!strings.Contains(r.Err().Error(), "rpc error: code = PermissionDenied desc = etcdserver: permission denied") {
		t.Fatalf("alice watching sys/k: %+v (err %v), want refused with etcd's reason", r, r.Err())
	}
	wch := alice.Watch(ctx, "app/", clientv3.WithPrefix())
	must[*clientv3.PutResponse](t, "put")(root.Put(ctx, "app/x", "1"))
	nextEvents(t, wch)
	must[*clientv3.AuthRoleRevokePermissionResponse](t, "revoke")(root.RoleRevokePermission(ctx, "app", "app/", clientv3.GetPrefixRangeEnd("app/")))
	select {
	case r, ok := <-wch:
		if ok && (!r.Canceled || !strings.Contains(r.Err().Error(), "permission denied")) {
			t.Fatalf("watch after its permission was revoked: %+v (err %v)", r, r.Err())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the watch went on after its permission was revoked")
	}
	if _, err := alice.KeepAliveOnce(ctx, hers.ID); !errors.Is(err, rpctypes.ErrPermissionDenied) {
		t.Fatalf("keep-alive after the permission was revoked: %v", err)
	}
	must[*clientv3.LeaseKeepAliveResponse](t, "root keeps it alive")(root.KeepAliveOnce(ctx, hers.ID))
}
