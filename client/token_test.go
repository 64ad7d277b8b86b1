package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cairndb/cairn/api"
	"pgregory.net/rapid"
)

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestNewAuthenticatesAndRefusesAWrongPassword(t *testing.T) {
	f := newFakeCluster(t)
	_, err := New(Config{Endpoints: []string{f.addr}, Username: "root", Password: "wrong"})
	if !errors.Is(err, api.ErrAuthFailed) {
		t.Fatalf("New with a wrong password: %v, want ErrAuthFailed", err)
	}
	f.client(t, "root", "rootpw")
	if n := f.count(api.MethodAuthenticate); n != 2 {
		t.Fatalf("%d Authenticate calls, want 2 (one per New)", n)
	}
}

func TestNewWithoutAReachableClusterAuthenticatesLater(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there
	c, err := New(Config{Endpoints: []string{addr}, Username: "root", Password: "rootpw", DialTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatalf("New with the cluster down: %v, want a client that authenticates later", err)
	}
	defer c.Close()
	if _, err := c.Put(testContext(t), "k", "v"); err == nil || api.CodeOf(err) != 0 {
		t.Fatalf("Put with the cluster down: %v, want a transport error", err)
	}
}

func TestWithoutCredentialsNoTokenIsSent(t *testing.T) {
	f := newFakeCluster(t)
	c := f.client(t, "", "")
	if _, err := c.Put(testContext(t), "k", "v"); !errors.Is(err, api.ErrUserEmpty) {
		t.Fatalf("Put without credentials on an auth cluster: %v, want ErrUserEmpty", err)
	}
	if n := f.count(api.MethodAuthenticate); n != 0 {
		t.Fatalf("%d Authenticate calls, want none", n)
	}
}

// TestStaleTokensAreRenewedOnce covers the ways a token stops working:
// each refused write is made again, once, with a new token, and applied
// once.
func TestStaleTokensAreRenewedOnce(t *testing.T) {
	for _, tc := range []struct {
		name    string
		disturb func(f *fakeCluster)
	}{
		{"member forgot the token", (*fakeCluster).forgetTokens},
		{"auth revision moved on", (*fakeCluster).staleTokens},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeCluster(t)
			c := f.client(t, "root", "rootpw")
			ctx := testContext(t)
			if _, err := c.Put(ctx, "a", "1"); err != nil {
				t.Fatal(err)
			}
			tc.disturb(f)
			if _, err := c.Put(ctx, "b", "2"); err != nil {
				t.Fatalf("Put after the token went stale: %v", err)
			}
			if got := f.appliedKeys(); !slices.Equal(got, []string{"a", "b"}) {
				t.Fatalf("applied %q, want [a b]", got)
			}
			if a, p := f.count(api.MethodAuthenticate), f.count(api.MethodPut); a != 2 || p != 3 {
				t.Fatalf("%d Authenticate and %d Put calls, want 2 and 3", a, p)
			}
		})
	}
}

func TestAuthTurnedOnLaterAsksForAToken(t *testing.T) {
	f := newFakeCluster(t)
	f.setEnabled(false)
	c := f.client(t, "root", "rootpw") // finds auth off: sends no token
	ctx := testContext(t)
	if _, err := c.Put(ctx, "a", "1"); err != nil {
		t.Fatal(err)
	}
	f.setEnabled(true)
	if _, err := c.Put(ctx, "b", "2"); err != nil {
		t.Fatalf("Put once auth is on: %v", err)
	}
	if got := f.appliedKeys(); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("applied %q, want [a b]", got)
	}
}

func TestRefusalsOtherThanStaleTokensAreNotRetried(t *testing.T) {
	f := newFakeCluster(t)
	c := f.client(t, "root", "rootpw")
	f.deny("secret")
	_, err := c.Put(testContext(t), "secret", "x")
	if !errors.Is(err, api.ErrPermissionDenied) {
		t.Fatalf("Put on a denied key: %v, want ErrPermissionDenied", err)
	}
	if a, p := f.count(api.MethodAuthenticate), f.count(api.MethodPut); a != 1 || p != 1 {
		t.Fatalf("%d Authenticate and %d Put calls, want 1 and 1", a, p)
	}
}

func TestAWrongPasswordAfterAStaleTokenIsReported(t *testing.T) {
	f := newFakeCluster(t)
	c := f.client(t, "root", "rootpw")
	f.mu.Lock()
	f.password["root"] = "changed"
	f.mu.Unlock()
	f.staleTokens()
	_, err := c.Get(testContext(t), "k")
	if !errors.Is(err, api.ErrAuthFailed) {
		t.Fatalf("Get after the password changed: %v, want ErrAuthFailed", err)
	}
}

func TestConcurrentCallsRenewAStaleTokenTogether(t *testing.T) {
	f := newFakeCluster(t)
	c := f.client(t, "root", "rootpw")
	f.forgetTokens()
	ctx := testContext(t)
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 20 {
		wg.Go(func() {
			_, err := c.Put(ctx, fmt.Sprintf("k%d", i), "v")
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := f.count(api.MethodAuthenticate); n != 2 {
		t.Fatalf("%d Authenticate calls, want 2: one at New, one renewal shared by every caller", n)
	}
	if n := len(f.appliedKeys()); n != 20 {
		t.Fatalf("%d Puts applied, want 20", n)
	}
}

func TestStreamsCarryAndRenewTheToken(t *testing.T) {
	f := newFakeCluster(t)
	c := f.client(t, "root", "rootpw")
	ctx := testContext(t)

	f.forgetTokens()
	if resp, err := c.KeepAliveOnce(ctx, 5); err != nil || resp.TTL != 10 {
		t.Fatalf("KeepAliveOnce after the token was forgotten: %v, %v", resp, err)
	}
	f.staleTokens()
	var buf bytes.Buffer
	if n, err := c.Snapshot(ctx, "", &buf); err != nil || n != int64(len("the store's pages")) || buf.String() != "the store's pages" {
		t.Fatalf("Snapshot after the token went stale: %d bytes %q, %v", n, buf.String(), err)
	}
	if n := f.count(api.MethodAuthenticate); n != 3 {
		t.Fatalf("%d Authenticate calls, want 3", n)
	}
}

func TestWatchResumesWithAFreshToken(t *testing.T) {
	f := newFakeCluster(t)
	c := f.client(t, "root", "rootpw")
	f.mu.Lock()
	f.watchBreaks = 1
	f.mu.Unlock()
	ctx, cancel := context.WithCancel(testContext(t))
	defer cancel()
	wch := c.Watch(ctx, "k", WithRev(1))
	var revs []int64
	for resp := range wch {
		if err := resp.Err(); err != nil {
			t.Fatalf("watch ended: %v", err)
		}
		for _, ev := range resp.Events {
			revs = append(revs, ev.Kv.ModRevision)
			if len(revs) == 1 {
				f.forgetTokens() // before the stream breaks and the watch resumes
			}
		}
		if len(revs) == 2 {
			break
		}
	}
	if !slices.Equal(revs, []int64{1, 2}) {
		t.Fatalf("events at revisions %v, want [1 2]", revs)
	}
	if n := f.count(api.MethodAuthenticate); n != 2 {
		t.Fatalf("%d Authenticate calls, want 2", n)
	}
}

func TestWatchOnADeniedKeyEndsWithTheRefusal(t *testing.T) {
	f := newFakeCluster(t)
	c := f.client(t, "root", "rootpw")
	f.deny("secret")
	var last WatchResponse
	n := 0
	for resp := range c.Watch(testContext(t), "secret") {
		last = resp
		n++
	}
	if n != 1 || !last.Canceled || !errors.Is(last.Err(), api.ErrPermissionDenied) {
		t.Fatalf("%d responses, last %+v (err %v); want one canceled with ErrPermissionDenied", n, last, last.Err())
	}
}

// TestRenewalProperty runs random sequences of calls and token troubles:
// every call succeeds, each write is applied exactly once, and the client
// authenticates again at most once per trouble.
func TestRenewalProperty(t *testing.T) {
	f := newFakeCluster(t)
	rapid.Check(t, func(rt *rapid.T) {
		c, err := New(Config{Endpoints: []string{f.addr}, Username: "root", Password: "rootpw"})
		if err != nil {
			rt.Fatal(err)
		}
		defer c.Close()
		ctx := testContext(t)
		auths, puts := f.count(api.MethodAuthenticate), len(f.appliedKeys())
		troubles, writes := 0, 0
		for _, step := range rapid.SliceOfN(rapid.IntRange(0, 3), 1, 20).Draw(rt, "steps") {
			switch step {
			case 0:
				f.forgetTokens()
				troubles++
			case 1:
				f.staleTokens()
				troubles++
			case 2:
				if _, err := c.Put(ctx, "k", "v"); err != nil {
					rt.Fatalf("Put: %v", err)
				}
				writes++
			case 3:
				if _, err := c.Get(ctx, "k"); err != nil {
					rt.Fatalf("Get: %v", err)
				}
			}
		}
		if got := len(f.appliedKeys()) - puts; got != writes {
			rt.Fatalf("%d writes applied, want %d", got, writes)
		}
		if got := f.count(api.MethodAuthenticate) - auths; got > troubles {
			rt.Fatalf("%d authentications for %d troubles", got, troubles)
		}
	})
}

func TestReasonError(t *testing.T) {
	for _, tc := range []struct {
		code   api.Code
		reason string
		want   error // nil: no typed error
	}{
		{api.CodePermissionDenied, "etcdserver: permission denied", api.ErrPermissionDenied},
		{api.CodePermissionDenied, `etcdserver: permission denied: user "alice" may not read [a, b)`, api.ErrPermissionDenied},
		{api.CodeInvalidAuthToken, "etcdserver: invalid auth token: token expired", api.ErrInvalidAuthToken},
		{api.CodeAuthOldRevision, "", api.ErrAuthOldRevision},
		{api.CodeNoLeader, "etcdserver: no leader", api.ErrNoLeader},
		{0, "etcdserver: permission denied", nil},
		{0, "", nil},
	} {
		got := reasonError(&api.WatchResponse{Canceled: true, CancelCode: tc.code, CancelReason: tc.reason})
		if (tc.want == nil) != (got == nil) || (tc.want != nil && !errors.Is(got, tc.want)) {
			t.Errorf("reasonError(%d, %q) = %v, want %v", tc.code, tc.reason, got, tc.want)
		}
		if got != nil && tc.reason != "" && got.Error() != tc.reason {
			t.Errorf("reasonError(%d, %q) says %q", tc.code, tc.reason, got.Error())
		}
	}
}
