package client

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/rpc"
)

// fakeCluster is one rpc server playing a cluster with authentication, for
// the client's token handling: it issues simple tokens, forgets them on
// demand (as a restarted member does), makes them stale (as an auth
// change does), and checks the token of each Put, Range, Watch,
// LeaseKeepAlive and Snapshot the way a member does: before doing
// anything.
type fakeCluster struct {
	addr string

	mu       sync.Mutex
	enabled  bool
	password map[string]string // user → password
	tokens   map[string]bool   // issued token → still current (false: stale)
	issued   int
	calls    map[uint16]int // handler runs per method
	applied  []string       // keys of the Puts that were applied
	denied   map[string]bool
	requests map[uint16][]byte // the last request of each auth method
	// watchBreaks is how many watch streams still end with an error right
	// after their first event.
	watchBreaks int
	rev         int64
}

// newFakeCluster serves a fake cluster with auth on and user root
// (password "rootpw") on a loopback port.
func newFakeCluster(t *testing.T) *fakeCluster {
	t.Helper()
	f := &fakeCluster{enabled: true, password: map[string]string{"root": "rootpw"}, tokens: map[string]bool{},
		calls: map[uint16]int{}, denied: map[string]bool{}, requests: map[uint16][]byte{}}
	srv := rpc.NewServer(rpc.ServerOptions{})
	f.register(srv)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { srv.Close() })
	f.addr = l.Addr().String()
	return f
}

// client returns a client of f acting as user:password ("" user: none).
func (f *fakeCluster) client(t *testing.T, user, password string) *Client {
	t.Helper()
	c, err := New(Config{Endpoints: []string{f.addr}, Username: user, Password: password})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// forgetTokens forgets every token, as a member restarting does.
func (f *fakeCluster) forgetTokens() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tokens = map[string]bool{}
}

// staleTokens makes every token stale, as a change of users, roles or
// permissions does.
func (f *fakeCluster) staleTokens() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for tok := range f.tokens {
		f.tokens[tok] = false
	}
}

func (f *fakeCluster) setEnabled(on bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.enabled = on
}

// deny refuses every request on key with ErrPermissionDenied.
func (f *fakeCluster) deny(key string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.denied[key] = true
}

func (f *fakeCluster) count(method uint16) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[method]
}

func (f *fakeCluster) appliedKeys() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.applied...)
}

// check counts a handler run and says whether the call's token may act
// on key, as a member would, before doing anything.
func (f *fakeCluster) check(ctx context.Context, method uint16, key string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[method]++
	if !f.enabled {
		return nil
	}
	tok := rpc.Token(ctx)
	current, ok := f.tokens[tok]
	switch {
	case tok == "":
		return api.ErrUserEmpty
	case !ok:
		return api.ErrInvalidAuthToken
	case !current:
		return api.ErrAuthOldRevision
	case f.denied[key]:
		return api.ErrPermissionDenied
	}
	return nil
}

func (f *fakeCluster) register(srv *rpc.Server) {
	srv.HandleUnary(rpc.Method(api.MethodAuthenticate), func(ctx context.Context, b []byte) ([]byte, error) {
		var req api.AuthenticateRequest
		if err := api.Unmarshal(b, &req); err != nil {
			return nil, err
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		f.calls[api.MethodAuthenticate]++
		switch pw, ok := f.password[req.Name]; {
		case !f.enabled:
			return nil, api.ErrAuthNotEnabled
		case !ok || pw != req.Password:
			return nil, api.ErrAuthFailed
		}
		f.issued++
		tok := fmt.Sprintf("%s.%d", req.Name, f.issued)
		f.tokens[tok] = true
		return api.Marshal(&api.AuthenticateResponse{Token: tok}), nil
	})
	srv.HandleUnary(rpc.Method(api.MethodPut), func(ctx context.Context, b []byte) ([]byte, error) {
		var req api.PutRequest
		if err := api.Unmarshal(b, &req); err != nil {
			return nil, err
		}
		if err := f.check(ctx, api.MethodPut, string(req.Key)); err != nil {
			return nil, err
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		f.applied = append(f.applied, string(req.Key))
		f.rev++
		return api.Marshal(&api.PutResponse{Header: api.ResponseHeader{Revision: f.rev}}), nil
	})
	srv.HandleUnary(rpc.Method(api.MethodRange), func(ctx context.Context, b []byte) ([]byte, error) {
		var req api.RangeRequest
		if err := api.Unmarshal(b, &req); err != nil {
			return nil, err
		}
		if err := f.check(ctx, api.MethodRange, string(req.Key)); err != nil {
			return nil, err
		}
		return api.Marshal(&api.RangeResponse{}), nil
	})
	srv.HandleStream(rpc.Method(api.MethodWatch), f.serveWatch)
	srv.HandleStream(rpc.Method(api.MethodLeaseKeepAlive), func(ctx context.Context, st *rpc.Stream) error {
		if err := f.check(ctx, api.MethodLeaseKeepAlive, ""); err != nil {
			return err
		}
		b, err := st.Recv()
		if err != nil {
			return err
		}
		var req api.LeaseKeepAliveRequest
		if err := api.Unmarshal(b, &req); err != nil {
			return err
		}
		return st.Send(api.Marshal(&api.LeaseKeepAliveResponse{ID: req.ID, TTL: 10}))
	})
	srv.HandleStream(rpc.Method(api.MethodSnapshot), func(ctx context.Context, st *rpc.Stream) error {
		if err := f.check(ctx, api.MethodSnapshot, ""); err != nil {
			return err
		}
		data := []byte("the store's pages")
		sum := sha256.Sum256(data)
		return st.Send(api.Marshal(&api.SnapshotResponse{Blob: append(data, sum[:]...)}))
	})
	for m := api.MethodAuthEnable; m <= api.MethodRoleRevokePermission; m++ {
		if m == api.MethodAuthenticate {
			continue
		}
		srv.HandleUnary(rpc.Method(m), func(ctx context.Context, b []byte) ([]byte, error) {
			if err := f.check(ctx, m, ""); err != nil {
				return nil, err
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			f.requests[m] = b
			return api.Marshal(authResponse(m)), nil
		})
	}
}

// serveWatch sends the creation and then one event per stream, at the
// next revision; while watchBreaks lasts, the stream then fails.
func (f *fakeCluster) serveWatch(ctx context.Context, st *rpc.Stream) error {
	b, err := st.Recv()
	if err != nil {
		return err
	}
	var req api.WatchRequest
	if err := api.Unmarshal(b, &req); err != nil || req.Create == nil {
		return errors.New("fake: want a create request")
	}
	if err := f.check(ctx, api.MethodWatch, string(req.Create.Key)); err != nil {
		// As a member refuses a watch: created and canceled, the
		// error and its code.
		return st.Send(api.Marshal(&api.WatchResponse{WatchID: -1, Created: true, Canceled: true, CancelReason: err.Error() + ": user root may not read it", CancelCode: api.CodeOf(err)}))
	}
	f.mu.Lock()
	rev := max(req.Create.StartRevision, 1)
	brk := f.watchBreaks > 0
	f.watchBreaks--
	f.mu.Unlock()
	if err := st.Send(api.Marshal(&api.WatchResponse{Header: api.ResponseHeader{Revision: rev - 1}, Created: true})); err != nil {
		return err
	}
	ev := api.Event{Type: api.EventPut, Kv: api.KeyValue{Key: req.Create.Key, ModRevision: rev}}
	if err := st.Send(api.Marshal(&api.WatchResponse{Header: api.ResponseHeader{Revision: rev}, Events: []api.Event{ev}})); err != nil {
		return err
	}
	if brk {
		return api.ErrStopped // the member goes away: the client resumes
	}
	<-ctx.Done()
	return nil
}

// authResponse is an empty response of auth method m.
func authResponse(m uint16) api.Message {
	switch m {
	case api.MethodAuthEnable:
		return &api.AuthEnableResponse{}
	case api.MethodAuthDisable:
		return &api.AuthDisableResponse{}
	case api.MethodAuthStatus:
		return &api.AuthStatusResponse{Enabled: true, AuthRevision: 7}
	case api.MethodUserAdd:
		return &api.UserAddResponse{}
	case api.MethodUserGet:
		return &api.UserGetResponse{Roles: []string{"root"}}
	case api.MethodUserList:
		return &api.UserListResponse{Users: []string{"root"}}
	case api.MethodUserDelete:
		return &api.UserDeleteResponse{}
	case api.MethodUserChangePassword:
		return &api.UserChangePasswordResponse{}
	case api.MethodUserGrantRole:
		return &api.UserGrantRoleResponse{}
	case api.MethodUserRevokeRole:
		return &api.UserRevokeRoleResponse{}
	case api.MethodRoleAdd:
		return &api.RoleAddResponse{}
	case api.MethodRoleGet:
		return &api.RoleGetResponse{}
	case api.MethodRoleList:
		return &api.RoleListResponse{Roles: []string{"root"}}
	case api.MethodRoleDelete:
		return &api.RoleDeleteResponse{}
	case api.MethodRoleGrantPermission:
		return &api.RoleGrantPermissionResponse{}
	case api.MethodRoleRevokePermission:
		return &api.RoleRevokePermissionResponse{}
	}
	panic(fmt.Sprintf("fake: no auth method %d", m))
}
