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

func authCmd(c *auth.Command) []byte { return EncodeAuthCommand(c) }

// stamped is cmd as member 1 proposes it in term 1 (the applier's term).
func stamped(k *KVState, cmd []byte) []byte {
	k.StampOrigin(cmd, 1, 1)
	return cmd
}

// enableAuth sets up root, a role "app" with readwrite on [app/, app0)
// and a user alice holding it, then turns auth on.
func enableAuth(t *testing.T, a *applier) {
	t.Helper()
	h, err := auth.HashPassword("pw", 1, rand.Reader)
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
	put := func(key string) []byte { return mustEncode(t, &api.PutRequest{Key: []byte(key), Value: []byte("v")}) }

	a.must(EncodeAuthed(alice, put("app/1")))
	if r := a.apply(EncodeAuthed(alice, put("other"))); !errors.Is(r.Err, api.ErrPermissionDenied) {
		t.Fatalf("put outside alice's range: %v", r.Err)
	}
	if r := a.apply(put("app/2")); !errors.Is(r.Err, api.ErrUserEmpty) {
		t.Fatalf("a put with no user while auth is on: %v", r.Err)
	}
	if got := k.Store().AppliedIndex(); got != a.index {
		t.Fatalf("refused entries left the applied index at %d, want %d", got, a.index)
	}
	// The revocation applies first: alice's next write, made with her
	// old token, is refused on every member the same way.
	root := auth.Identity{User: auth.RootUser, Revision: st.Revision()}
	a.must(EncodeAuthed(root, authCmd(&auth.Command{Op: auth.OpUserRevokeRole, Name: "alice", Role: "app"})))
	if r := a.apply(EncodeAuthed(alice, put("app/1"))); !errors.Is(r.Err, api.ErrAuthOldRevision) {
		t.Fatalf("put with a token older than the revocation: %v", r.Err)
	}
	alice.Revision = st.Revision()
	if r := a.apply(EncodeAuthed(alice, put("app/1"))); !errors.Is(r.Err, api.ErrPermissionDenied) {
		t.Fatalf("put after the revocation: %v", r.Err)
	}
	// Only root administers, even through a wrapped command.
	if r := a.apply(EncodeAuthed(alice, authCmd(&auth.Command{Op: auth.OpRoleAdd, Name: "x"}))); !errors.Is(r.Err, api.ErrPermissionDenied) {
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
	a.must(EncodeAuthed(alice, mustEncode(t, &api.LeaseGrantRequest{ID: 7, TTL: 60})))
	a.must(EncodeAuthed(alice, mustEncode(t, &api.PutRequest{Key: []byte("app/a"), Lease: 7})))
	a.must(EncodeAuthed(root, mustEncode(t, &api.PutRequest{Key: []byte("secret"), Lease: 7})))
	revoke := mustEncode(t, &api.LeaseRevokeRequest{ID: 7})
	if r := a.apply(EncodeAuthed(alice, revoke)); !errors.Is(r.Err, api.ErrPermissionDenied) {
		t.Fatalf("alice revoking a lease holding a key she may not write: %v", r.Err)
	}
	a.must(EncodeAuthed(root, revoke))
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
	a.must(EncodeAuthed(alice, mustEncode(t, &api.LeaseGrantRequest{ID: 7, TTL: 60})))
	a.must(EncodeAuthed(alice, mustEncode(t, &api.PutRequest{Key: []byte("app/a"), Lease: 7})))
	internal := func(req api.Message) []byte {
		cmd, err := EncodeInternal(req)
		if err != nil {
			t.Fatal(err)
		}
		return stamped(k, cmd)
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
	unstamped, err := EncodeInternal(&api.CompactionRequest{Revision: 2})
	if err != nil {
		t.Fatal(err)
	}
	otherTerm := bytes.Clone(unstamped)
	k.StampOrigin(otherTerm, 1, 2)
	nested := stamped(k, append(append([]byte{byte(kindInternal)}, make([]byte, originSize)...), internal(&api.CompactionRequest{Revision: 1})...))
	for name, bad := range map[string][]byte{
		"empty":                   {byte(kindInternal)},
		"too short for an origin": {byte(kindInternal), 0, 0, 0, 0, 0, 0, 0, 1},
		"nested":                  nested,
		"unstamped":               unstamped,
		"stamped in another term": otherTerm,
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
	otherTerm := EncodeIssueToken(issue("other term"))
	k.StampOrigin(otherTerm, 1, 7)
	for name, bad := range map[string][]byte{
		"as an auth command":          authCmd(issue("auth")),
		"as root's auth command":      EncodeAuthed(root, authCmd(issue("authed"))),
		"unstamped":                   EncodeIssueToken(issue("unstamped")),
		"stamped in another term":     otherTerm,
		"another command in its kind": stamped(k, EncodeIssueToken(&auth.Command{Op: auth.OpDisable})),
	} {
		if r := a.apply(bad); r.Err == nil {
			t.Errorf("token issued %s", name)
		}
	}
	if len(told) != 0 || !k.Auth().Enabled() {
		t.Fatalf("refused commands took effect: tokens %q, auth enabled %v", told, k.Auth().Enabled())
	}
	a.must(stamped(k, EncodeIssueToken(issue("good"))))
	if len(told) != 1 || told[0] != "good" {
		t.Fatalf("tokens told: %q", told)
	}
}

// A leader takes a forwarded command that names its origin only from
// the member that stamped it, in the leader's term.
func TestCheckOrigin(t *testing.T) {
	k, err := OpenKVState(fsx.NewMem(), "/db")
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	cmd, err := EncodeInternal(&api.CompactionRequest{Revision: 1})
	if err != nil {
		t.Fatal(err)
	}
	k.StampOrigin(cmd, 5, 3)
	token := EncodeIssueToken(&auth.Command{Op: auth.OpIssueToken, Name: "root", Token: "h"})
	k.StampOrigin(token, 5, 3)
	plain := mustEncode(t, &api.PutRequest{Key: []byte("k")})
	k.StampOrigin(plain, 5, 3) // no origin to stamp: unchanged
	for _, tc := range []struct {
		name       string
		cmd        []byte
		from, term uint64
		ok         bool
	}{
		{"its maker, its term", cmd, 5, 3, true},
		{"a token, its maker, its term", token, 5, 3, true},
		{"forwarded by another member", cmd, 6, 3, false},
		{"a token forwarded by another member", token, 6, 3, false},
		{"in a later term", cmd, 5, 4, false},
		{"unstamped", EncodeIssueToken(&auth.Command{Op: auth.OpIssueToken}), 5, 3, false},
		{"too short", []byte{byte(kindInternal), 1}, 5, 3, false},
		{"a client's command", plain, 6, 9, true},
	} {
		if err := k.CheckOrigin(tc.cmd, tc.from, tc.term); (err == nil) != tc.ok {
			t.Errorf("%s: CheckOrigin = %v", tc.name, err)
		}
	}
	if !bytes.Equal(plain, mustEncode(t, &api.PutRequest{Key: []byte("k")})) {
		t.Fatal("StampOrigin changed a command without an origin")
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
	a.must(stamped(k, EncodeIssueToken(&auth.Command{Op: auth.OpIssueToken, Name: "alice", Token: "t1", Revision: rev})))
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

func TestAuthedEnvelopeDecoding(t *testing.T) {
	id := auth.Identity{User: "al/ice", Revision: 1 << 40}
	inner := []byte{byte(kindPut), 1, 2, 3}
	got, in, err := decodeAuthed(EncodeAuthed(id, inner)[1:])
	if err != nil || got != id || !bytes.Equal(in, inner) {
		t.Fatalf("round trip: %+v %v %v", got, in, err)
	}
	for _, bad := range [][]byte{nil, {5, 'a'}, {1, 'a'}, {1, 'a', 1}, append([]byte{1, 'a', 1}, byte(kindAuthed), 0)} {
		if _, _, err := decodeAuthed(bad); err == nil {
			t.Errorf("decodeAuthed(%v) accepted", bad)
		}
	}
}
