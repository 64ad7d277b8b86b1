package replica

import (
	"errors"
	"testing"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/auth"
)

// What a member's services refuse of a caller before serving or proposing,
// with auth off and on: alice holds readwrite on [app/, app0) only
// (enableAuth).
func TestAuthAdmission(t *testing.T) {
	r := openTestReplica(t)
	a := &applier{t: t, k: r.State}
	root := &auth.Identity{User: auth.RootUser}
	alice := &auth.Identity{User: "alice"}
	nobody := &auth.Identity{User: "mallory"}
	inApp := &api.RangeRequest{Key: []byte("app/x")}
	outside := &api.RangeRequest{Key: []byte("secret")}
	readTxn := func(key string) *api.TxnRequest {
		return &api.TxnRequest{Compare: []api.Compare{{Key: []byte("app/x"), Target: api.CompareVersion}},
			Success: []api.RequestOp{{Range: &api.RangeRequest{Key: []byte(key)}}}}
	}
	a.must(body(mustCommand(t, &api.LeaseGrantRequest{ID: 7, TTL: 60})))
	a.must(body(mustCommand(t, &api.PutRequest{Key: []byte("secret"), Lease: 7})))
	grant := &auth.Command{Op: auth.OpRoleAdd, Name: "ops"}
	denied := api.ErrPermissionDenied
	checks := func() map[string]struct {
		err, want error
	} {
		type tc = struct{ err, want error }
		return map[string]tc{
			"alice ranges in her range":         {r.AuthorizeRead(inApp, alice), nil},
			"alice ranges outside it":           {r.AuthorizeRead(outside, alice), denied},
			"alice's txn reading in her range":  {r.AuthorizeRead(readTxn("app/y"), alice), nil},
			"alice's txn reading outside it":    {r.AuthorizeRead(readTxn("secret"), alice), denied},
			"alice watches her range":           {r.AuthorizeRange([]byte("app/"), []byte("app0"), alice), nil},
			"alice watches every key":           {r.AuthorizeRange([]byte{0}, []byte{0}, alice), denied},
			"root reads anything":               {r.AuthorizeRead(outside, root), nil},
			"a user that does not exist":        {r.AuthorizeRead(inApp, nobody), denied},
			"no caller":                         {r.AuthorizeRead(inApp, nil), api.ErrUserEmpty},
			"alice keeps a lease on secret":     {r.AuthorizeKeepAlive(7, alice), denied},
			"root keeps it":                     {r.AuthorizeKeepAlive(7, root), nil},
			"alice asks for the lease's keys":   {r.AuthorizeLeaseKeys(7, alice), denied},
			"alice keeps a lease that is gone":  {r.AuthorizeKeepAlive(8, alice), nil},
			"alice adds a role":                 {r.AuthorizeAuthChange(grant, alice), denied},
			"root adds a role":                  {r.AuthorizeAuthChange(grant, root), nil},
			"an old token keeps a lease":        {r.AuthorizeKeepAlive(8, &auth.Identity{User: "alice", Revision: 1}), nil},
			"an old token reads in alice's set": {r.AuthorizeRead(inApp, &auth.Identity{User: "alice", Revision: 1}), api.ErrAuthOldRevision},
		}
	}
	off := checks()
	if r.AuthOn() {
		t.Fatal("auth on in a new store")
	}
	for name, c := range off {
		if c.err != nil {
			t.Errorf("auth off: %s: %v, want nil", name, c.err)
		}
	}
	cmd, err := r.AuthChange(grant, alice, Limits{MaxRequestBytes: 1 << 10})
	if err != nil || cmd.Who != WhoAnyone {
		t.Errorf("auth off: AuthChange = %+v, %v; want a command with no user", cmd, err)
	}

	enableAuth(t, a)
	if !r.AuthOn() {
		t.Fatal("auth still off after enableAuth")
	}
	for name, c := range checks() {
		if !errors.Is(c.err, c.want) || c.want == nil && c.err != nil {
			t.Errorf("auth on: %s: %v, want %v", name, c.err, c.want)
		}
	}
	if _, err := r.AuthChange(grant, alice, Limits{MaxRequestBytes: 1 << 10}); !errors.Is(err, denied) {
		t.Errorf("auth on: alice's AuthChange = %v, want %v", err, denied)
	}
	cmd, err = r.AuthChange(grant, root, Limits{MaxRequestBytes: 1 << 10})
	if err != nil || cmd.Who != WhoUser || cmd.User != *root || cmd.Kind != KindAuth {
		t.Errorf("auth on: root's AuthChange = %+v, %v; want root's auth command", cmd, err)
	}
}
