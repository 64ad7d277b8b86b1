package replica

import (
	"bytes"
	"crypto/rand"
	"errors"
	"testing"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/auth"
	"github.com/cairndb/cairn/internal/fsx"
)

// applier applies commands to a KVState at increasing indexes.
type applier struct {
	t     *testing.T
	k     *KVState
	index uint64
}

func (a *applier) apply(cmd []byte) ApplyResult {
	a.t.Helper()
	a.index++
	out, err := a.k.Apply(a.index, 1, cmd)
	if err != nil {
		a.t.Fatalf("apply at %d: storage failure %v", a.index, err)
	}
	res, ok := out.(ApplyResult)
	if !ok {
		a.t.Fatalf("apply at %d: result %T", a.index, out)
	}
	return res
}

func (a *applier) must(cmd []byte) {
	a.t.Helper()
	if r := a.apply(cmd); r.Err != nil {
		a.t.Fatalf("apply at %d: %v", a.index, r.Err)
	}
}

func authCmd(c *auth.Command) []byte { return body(AuthCommand(c)) }

// stamped is e as member 1 proposes it in term 1 (the applier's term).
func stamped(e Envelope) []byte {
	e.stamp(1, 1)
	return body(e)
}

// enableAuth sets up root, a role "app" with readwrite on [app/, app0)
// and a user alice holding it, then turns auth on.
func enableAuth(t *testing.T, a *applier) {
	t.Helper()
	h, err := auth.HashPBKDF2("pw", 1, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []*auth.Command{
		{Op: auth.OpUserAdd, Name: auth.RootUser, Password: h},
		{Op: auth.OpUserGrantRole, Name: auth.RootUser, Role: auth.RootRole},
		{Op: auth.OpRoleAdd, Name: "app"},
		{Op: auth.OpRoleGrantPermission, Name: "app", Perm: api.Permission{PermType: api.PermReadWrite, Key: []byte("app/"), RangeEnd: []byte("app0")}},
		{Op: auth.OpUserAdd, Name: "alice", Password: h},
		{Op: auth.OpUserGrantRole, Name: "alice", Role: "app"},
		{Op: auth.OpEnable, SigningKey: bytes.Repeat([]byte{1}, 32)},
	} {
		a.must(authCmd(c))
	}
}

// Writes are checked when applied, against the auth state as of their
// entry: a permission revoked by an earlier entry refuses a write
// proposed before the revocation. The refused entry's index is recorded.
func TestAppliedWritesAreChecked(t *testing.T) {
	k, err := OpenKVState(fsx.NewMem(), "/db")
	if err != nil {
		t.Fatal(err)
	}
	a := &applier{t: t, k: k}
	enableAuth(t, a)
	st := k.Auth()
	alice := auth.Identity{User: "alice", Revision: st.Revision()}
	put := func(key string) Envelope {
		return mustCommand(t, &api.PutRequest{Key: []byte(key), Value: []byte("v")})
	}

	a.must(body(put("app/1").By(alice)))
	if r := a.apply(body(put("other").By(alice))); !errors.Is(r.Err, api.ErrPermissionDenied) {
		t.Fatalf("put outside alice's range: %v", r.Err)
	}
	if r := a.apply(body(put("app/2"))); !errors.Is(r.Err, api.ErrUserEmpty) {
		t.Fatalf("a put with no user while auth is on: %v", r.Err)
	}
	if got := k.Store().AppliedIndex(); got != a.index {
		t.Fatalf("refused entries left the applied index at %d, want %d", got, a.index)
	}
	// The revocation applies first: alice's next write, made with her
	// old token, is refused on every member the same way.
	root := auth.Identity{User: auth.RootUser, Revision: st.Revision()}
	a.must(body(AuthCommand(&auth.Command{Op: auth.OpUserRevokeRole, Name: "alice", Role: "app"}).By(root)))
	if r := a.apply(body(put("app/1").By(alice))); !errors.Is(r.Err, api.ErrAuthOldRevision) {
		t.Fatalf("put with a token older than the revocation: %v", r.Err)
	}
	alice.Revision = st.Revision()
	if r := a.apply(body(put("app/1").By(alice))); !errors.Is(r.Err, api.ErrPermissionDenied) {
		t.Fatalf("put after the revocation: %v", r.Err)
	}
	// Only root administers, even through a wrapped command.
	if r := a.apply(body(AuthCommand(&auth.Command{Op: auth.OpRoleAdd, Name: "x"}).By(alice))); !errors.Is(r.Err, api.ErrPermissionDenied) {
		t.Fatalf("alice adding a role: %v", r.Err)
	}
	if r := a.apply(authCmd(&auth.Command{Op: auth.OpRoleAdd, Name: "x"})); !errors.Is(r.Err, api.ErrUserEmpty) {
		t.Fatalf("a role added with no user while auth is on: %v", r.Err)
	}
	// The store holds only the write that was allowed.
	resp, err := k.Store().RangeRequest(&api.RangeRequest{Key: []byte{0}, RangeEnd: []byte{0}}, 0)
	if err != nil || len(resp.Kvs) != 1 || string(resp.Kvs[0].Key) != "app/1" {
		t.Fatalf("store: %+v %v", resp, err)
	}
}

// Revoking a lease deletes its keys: it needs write on every one.
func TestAppliedLeaseRevokeNeedsWriteOnItsKeys(t *testing.T) {
	k, err := OpenKVState(fsx.NewMem(), "/db")
	if err != nil {
		t.Fatal(err)
	}
	a := &applier{t: t, k: k}
	enableAuth(t, a)
	rev := k.Auth().Revision()
	root, alice := auth.Identity{User: auth.RootUser, Revision: rev}, auth.Identity{User: "alice", Revision: rev}
	a.must(body(mustCommand(t, &api.LeaseGrantRequest{ID: 7, TTL: 60}).By(alice)))
	a.must(body(mustCommand(t, &api.PutRequest{Key: []byte("app/a"), Lease: 7}).By(alice)))
	a.must(body(mustCommand(t, &api.PutRequest{Key: []byte("secret"), Lease: 7}).By(root)))
	revoke := mustCommand(t, &api.LeaseRevokeRequest{ID: 7})
	if r := a.apply(body(revoke.By(alice))); !errors.Is(r.Err, api.ErrPermissionDenied) {
		t.Fatalf("alice revoking a lease holding a key she may not write: %v", r.Err)
	}
	a.must(body(revoke.By(root)))
}

// While auth is on, a lease revoke, compaction or alarm that carries no
// user is a client's made where auth still looked off: refused. The
// member's own (lease expiry, auto-compaction, alarms it raises) are
// marked internal and apply.
func TestUnauthenticatedAndInternalCommands(t *testing.T) {
	k, err := OpenKVState(fsx.NewMem(), "/db")
	if err != nil {
		t.Fatal(err)
	}
	a := &applier{t: t, k: k}
	enableAuth(t, a)
	alice := auth.Identity{User: "alice", Revision: k.Auth().Revision()}
	a.must(body(mustCommand(t, &api.LeaseGrantRequest{ID: 7, TTL: 60}).By(alice)))
	a.must(body(mustCommand(t, &api.PutRequest{Key: []byte("app/a"), Lease: 7}).By(alice)))
	internal := func(req api.Message) []byte {
		cmd, err := Internal(req)
		if err != nil {
			t.Fatal(err)
		}
		return stamped(cmd)
	}
	for _, req := range []api.Message{
		&api.LeaseRevokeRequest{ID: 7},
		&api.LeaseGrantRequest{ID: 8, TTL: 60},
		&api.CompactionRequest{Revision: 1},
		&api.AlarmRequest{Action: api.AlarmActivate, MemberID: 1, Alarm: api.AlarmNoSpace},
	} {
		if r := a.apply(mustEncode(t, req)); !errors.Is(r.Err, api.ErrUserEmpty) {
			t.Errorf("%T with no user while auth is on: %v", req, r.Err)
		}
	}
	if got, err := k.Store().RangeRequest(&api.RangeRequest{Key: []byte("app/a")}, 0); err != nil || len(got.Kvs) != 1 {
		t.Fatalf("the lease's key after a refused revoke: %+v, %v", got, err)
	}
	a.must(internal(&api.LeaseRevokeRequest{ID: 7}))
	a.must(internal(&api.CompactionRequest{Revision: 1}))
	a.must(internal(&api.AlarmRequest{Action: api.AlarmActivate, MemberID: 1, Alarm: api.AlarmNoSpace}))
	if got, err := k.Store().RangeRequest(&api.RangeRequest{Key: []byte("app/a")}, 0); err != nil || len(got.Kvs) != 0 {
		t.Fatalf("the lease's key after the member's own revoke: %+v, %v", got, err)
	}
	if !k.HasAlarm(api.AlarmNoSpace) {
		t.Fatal("the member's own alarm was not raised")
	}
	// An internal envelope holds one plain command, and names the term
	// it was made in: the entry's.
	unstamped, err := Internal(&api.CompactionRequest{Revision: 2})
	if err != nil {
		t.Fatal(err)
	}
	otherTerm := unstamped
	otherTerm.stamp(1, 2)
	inner := internal(&api.CompactionRequest{Revision: 1})
	nested := stamped(Envelope{Who: WhoMember, Kind: Kind(inner[0]), Payload: inner[1:]})
	for name, bad := range map[string][]byte{
		"empty":                   {markMember},
		"too short for an origin": {markMember, 0, 0, 0, 0, 0, 0, 0, 1},
		"nested":                  nested,
		"unstamped":               body(unstamped),
		"stamped in another term": body(otherTerm),
	} {
		if r := a.apply(bad); r.Err == nil {
			t.Errorf("internal envelope %s (%x) applied", name, bad)
		}
	}
	if k.Store().CompactRev() >= 2 {
		t.Fatal("a refused compaction was applied")
	}
}

// A simple token is issued only by a command that names its origin,
// stamped in the entry's term; an auth command issuing one is refused.
func TestIssueTokenNeedsItsOrigin(t *testing.T) {
	k, err := OpenKVState(fsx.NewMem(), "/db")
	if err != nil {
		t.Fatal(err)
	}
	a := &applier{t: t, k: k}
	enableAuth(t, a)
	var told []string
	k.OnAuthToken(func(hash string, id auth.Identity) { told = append(told, hash) })
	issue := func(hash string) *auth.Command {
		return &auth.Command{Op: auth.OpIssueToken, Name: auth.RootUser, Token: hash, Revision: k.Auth().Revision()}
	}
	root := auth.Identity{User: auth.RootUser, Revision: k.Auth().Revision()}
	otherTerm := IssueToken(issue("other term"))
	otherTerm.stamp(1, 7)
	for name, bad := range map[string][]byte{
		"as an auth command":          authCmd(issue("auth")),
		"as root's auth command":      body(AuthCommand(issue("authed")).By(root)),
		"unstamped":                   body(IssueToken(issue("unstamped"))),
		"stamped in another term":     body(otherTerm),
		"another command in its kind": stamped(IssueToken(&auth.Command{Op: auth.OpDisable})),
	} {
		if r := a.apply(bad); r.Err == nil {
			t.Errorf("token issued %s", name)
		}
	}
	if len(told) != 0 || !k.Auth().Enabled() {
		t.Fatalf("refused commands took effect: tokens %q, auth enabled %v", told, k.Auth().Enabled())
	}
	a.must(stamped(IssueToken(issue("good"))))
	if len(told) != 1 || told[0] != "good" {
		t.Fatalf("tokens told: %q", told)
	}
}

// The auth state is in the store: reopened, it is all there.
func TestAuthStateSurvivesReopen(t *testing.T) {
	disk := fsx.NewMem()
	k, err := OpenKVState(disk, "/db")
	if err != nil {
		t.Fatal(err)
	}
	a := &applier{t: t, k: k}
	enableAuth(t, a)
	rev := k.Auth().Revision()
	var tokens []string
	k.OnAuthToken(func(tok string, id auth.Identity) { tokens = append(tokens, tok) })
	a.must(stamped(IssueToken(&auth.Command{Op: auth.OpIssueToken, Name: "alice", Token: "t1", Revision: rev})))
	if len(tokens) != 1 || tokens[0] != "t1" {
		t.Fatalf("tokens told: %q", tokens)
	}
	if err := k.Store().Commit(); err != nil {
		t.Fatal(err)
	}
	if err := k.Close(); err != nil {
		t.Fatal(err)
	}
	k, err = OpenKVState(disk, "/db")
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	st := k.Auth()
	if !st.Enabled() || st.Revision() != rev || len(st.SigningKey()) != 32 {
		t.Fatalf("reopened: enabled %v revision %d (want %d)", st.Enabled(), st.Revision(), rev)
	}
	if err := st.CheckRange(auth.Identity{User: "alice", Revision: rev}, api.PermWrite, []byte("app/x"), nil); err != nil {
		t.Fatalf("reopened state lost alice's permission: %v", err)
	}
}
