package client_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/client"
	"github.com/cairndb/cairn/client/concurrency"
	"github.com/cairndb/cairn/node"
	"github.com/cairndb/cairn/node/nodetest"
)

// The client against real members with authentication on: tokens that
// go stale on a permission change or vanish on a member's restart are
// renewed without the caller seeing it; refusals arrive as the typed
// errors of package api.

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// newAuthCluster starts n members with cheap password hashes.
func newAuthCluster(t *testing.T, n int) *nodetest.Cluster {
	return nodetest.Start(t, n, nodetest.Options{Configure: func(i int, cfg *node.Config) { cfg.BcryptCost = 4 }}) // bcrypt's lowest cost
}

// userClient is a client acting as user, closed when the test ends.
func userClient(t *testing.T, eps []string, user, password string) *client.Client {
	t.Helper()
	c, err := client.New(client.Config{Endpoints: eps, DialTimeout: time.Second, Username: user, Password: password})
	if err != nil {
		t.Fatalf("client as %s: %v", user, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func must[T any](t *testing.T, what string) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return v
	}
}

func TestAuthWithRealMembers(t *testing.T) {
	c := newAuthCluster(t, 3)
	ctx := ctxFor(t)

	// Root's client starts while auth is off (it sends no token), enables
	// it, and goes on working: the cluster now asks for a token.
	root := userClient(t, c.Endpoints(), "root", "rootpw")
	must[*api.UserAddResponse](t, "UserAdd root")(root.UserAdd(ctx, "root", "rootpw"))
	must[*api.UserGrantRoleResponse](t, "UserGrantRole root")(root.UserGrantRole(ctx, "root", "root"))
	must[*api.AuthEnableResponse](t, "AuthEnable")(root.AuthEnable(ctx))
	must[*api.RoleAddResponse](t, "RoleAdd after enabling")(root.RoleAdd(ctx, "app"))
	if _, err := c.Client().Get(ctx, "k"); !errors.Is(err, api.ErrUserEmpty) {
		t.Fatalf("Get without a user: %v, want ErrUserEmpty", err)
	}
	if _, err := client.New(client.Config{Endpoints: c.Endpoints(), Username: "root", Password: "nope"}); !errors.Is(err, api.ErrAuthFailed) {
		t.Fatalf("New with a wrong password: %v, want ErrAuthFailed", err)
	}

	must[*api.RoleGrantPermissionResponse](t, "grant")(root.RoleGrantPermission(ctx, "app", "app/", client.PrefixRangeEnd("app/"), api.PermReadWrite))
	must[*api.UserAddResponse](t, "UserAdd alice")(root.UserAdd(ctx, "alice", "alicepw"))
	must[*api.UserGrantRoleResponse](t, "UserGrantRole alice")(root.UserGrantRole(ctx, "alice", "app"))
	st := must[*api.AuthStatusResponse](t, "AuthStatus")(root.AuthStatus(ctx))
	if !st.Enabled || st.AuthRevision == 0 {
		t.Fatalf("AuthStatus %+v", st)
	}
	roles := must[*api.UserGetResponse](t, "UserGet")(root.UserGet(ctx, "alice"))
	if len(roles.Roles) != 1 || roles.Roles[0] != "app" {
		t.Fatalf("alice's roles %q", roles.Roles)
	}

	alice := userClient(t, c.Endpoints(), "alice", "alicepw")
	must[*api.PutResponse](t, "alice Put")(alice.Put(ctx, "app/a", "1"))
	if _, err := alice.Put(ctx, "other", "x"); !errors.Is(err, api.ErrPermissionDenied) {
		t.Fatalf("alice Put outside her prefix: %v, want ErrPermissionDenied", err)
	}
	if _, err := alice.Txn(ctx).If(client.Compare(client.Value("other"), "=", "")).Then(client.OpPut("app/b", "2")).Commit(); !errors.Is(err, api.ErrPermissionDenied) {
		t.Fatalf("alice Txn comparing a forbidden key: %v, want ErrPermissionDenied", err)
	}

	// A permission change makes alice's token stale: her next write is
	// refused by the members, renewed and made again, and applied once.
	before := must[*api.RangeResponse](t, "Get")(root.Get(ctx, "app/a")).Kvs[0].Version
	must[*api.RoleAddResponse](t, "RoleAdd")(root.RoleAdd(ctx, "unrelated"))
	must[*api.PutResponse](t, "alice Put after an auth change")(alice.Put(ctx, "app/a", "2"))
	if after := must[*api.RangeResponse](t, "Get")(root.Get(ctx, "app/a")).Kvs[0].Version; after != before+1 {
		t.Fatalf("version %d after one Put from %d: the retried write applied %d times", after, before, after-before)
	}

	// A revoked permission is in force for her at once.
	must[*api.RoleRevokePermissionResponse](t, "revoke")(root.RoleRevokePermission(ctx, "app", "app/", client.PrefixRangeEnd("app/")))
	if _, err := alice.Get(ctx, "app/a"); !errors.Is(err, api.ErrPermissionDenied) {
		t.Fatalf("alice Get after the revoke: %v, want ErrPermissionDenied", err)
	}
	wch := alice.Watch(ctx, "app/", client.WithPrefix())
	resp, ok := <-wch
	if !ok || !resp.Canceled || !errors.Is(resp.Err(), api.ErrPermissionDenied) {
		t.Fatalf("alice Watch of a forbidden prefix: %+v (err %v), want canceled with ErrPermissionDenied", resp, resp.Err())
	}
	if _, ok := <-wch; ok {
		t.Fatal("the refused watch's channel stays open")
	}
}

// TestTokensLostOnRestartAreRenewed restarts the member a client talks
// to: it forgets its simple tokens, and the client's calls and its watch
// carry on with a new one.
func TestTokensLostOnRestartAreRenewed(t *testing.T) {
	c := newAuthCluster(t, 3)
	ctx := ctxFor(t)
	admin := userClient(t, c.Endpoints(), "root", "rootpw")
	must[*api.UserAddResponse](t, "UserAdd")(admin.UserAdd(ctx, "root", "rootpw"))
	must[*api.UserGrantRoleResponse](t, "UserGrantRole")(admin.UserGrantRole(ctx, "root", "root"))
	must[*api.AuthEnableResponse](t, "AuthEnable")(admin.AuthEnable(ctx))

	const m = 1
	one := userClient(t, []string{c.Endpoint(m)}, "root", "rootpw")
	must[*api.PutResponse](t, "Put")(one.Put(ctx, "w/a", "1"))
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	wch := one.Watch(wctx, "w/", client.WithPrefix())
	if r := <-wch; !r.Created {
		t.Fatalf("first watch response %+v, want the creation", r)
	}

	c.StopMember(m)
	c.StartMember(m)
	must[*api.PutResponse](t, "Put after the member restarted")(one.Put(ctx, "w/b", "2"))
	must[*api.PutResponse](t, "Put by another member")(admin.Put(ctx, "w/c", "3"))

	var keys []string
	for len(keys) < 2 {
		select {
		case r, ok := <-wch:
			if !ok || r.Canceled {
				t.Fatalf("the watch ended: %v", r.Err())
			}
			for _, ev := range r.Events {
				keys = append(keys, string(ev.Kv.Key))
			}
		case <-ctx.Done():
			t.Fatalf("the watch saw %q, want w/b and w/c", keys)
		}
	}
	if keys[0] != "w/b" || keys[1] != "w/c" {
		t.Fatalf("the watch saw %q, want [w/b w/c]", keys)
	}
}

// TestRecipesAsAUser runs a session and a mutex as a user who may write
// only under the lock's prefix: the recipes need nothing more.
func TestRecipesAsAUser(t *testing.T) {
	c := newAuthCluster(t, 1)
	ctx := ctxFor(t)
	root := userClient(t, c.Endpoints(), "root", "rootpw")
	must[*api.UserAddResponse](t, "UserAdd root")(root.UserAdd(ctx, "root", "rootpw"))
	must[*api.UserGrantRoleResponse](t, "grant root")(root.UserGrantRole(ctx, "root", "root"))
	must[*api.AuthEnableResponse](t, "AuthEnable")(root.AuthEnable(ctx))
	must[*api.RoleAddResponse](t, "RoleAdd")(root.RoleAdd(ctx, "locker"))
	must[*api.RoleGrantPermissionResponse](t, "grant")(root.RoleGrantPermission(ctx, "locker", "locks/", client.PrefixRangeEnd("locks/"), api.PermReadWrite))
	must[*api.UserAddResponse](t, "UserAdd bob")(root.UserAdd(ctx, "bob", "bobpw"))
	must[*api.UserGrantRoleResponse](t, "grant bob")(root.UserGrantRole(ctx, "bob", "locker"))

	bob := userClient(t, c.Endpoints(), "bob", "bobpw")
	s, err := concurrency.NewSession(bob, concurrency.WithTTL(5))
	if err != nil {
		t.Fatalf("session as bob: %v", err)
	}
	defer s.Close()
	mu := concurrency.NewMutex(s, "locks/job")
	if err := mu.Lock(ctx); err != nil {
		t.Fatalf("Lock as bob: %v", err)
	}
	if err := mu.Unlock(ctx); err != nil {
		t.Fatalf("Unlock as bob: %v", err)
	}
	if err := concurrency.NewMutex(s, "elsewhere/job").Lock(ctx); !errors.Is(err, api.ErrPermissionDenied) {
		t.Fatalf("Lock outside bob's prefix: %v, want ErrPermissionDenied", err)
	}
}
