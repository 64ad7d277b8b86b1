package etcdapi_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	"github.com/cairndb/cairn/auth"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"golang.org/x/crypto/bcrypt"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// bcryptOf is a bcrypt hash of password at bcrypt's lowest cost, as
// bcrypt writes it ("$2a$04$...").
func bcryptOf(t *testing.T, password string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

// hashedPasswordSteps are the auth calls of TestHashedPasswordsMatchEtcd:
// each gives a line saying what the member answered (the error of call,
// or what look saw). They run as root once auth is on (a step with
// noToken runs without a token).
type hashedPasswordStep struct {
	name    string
	noToken bool
	call    func(ctx context.Context, a pb.AuthClient) error
	look    func(ctx context.Context, a pb.AuthClient) string
}

// TestHashedPasswordsMatchEtcd: a bcrypt hash sent by the client
// (hashedPassword) is used by UserChangePassword when no password comes
// with it, and ignored by UserAdd (etcd hashes the password field
// whatever comes beside it); a hash that is not base64 gets etcd's error
// (gRPC Unknown, its auth store's message), after the caller's permission
// and the user's existence are checked, as etcd checks them. base64 of
// something that is not a bcrypt hash is kept as etcd keeps it: the
// change is applied (the revision moves, the user's token ends) and no
// password logs the user in, unless golang.org/x/crypto/bcrypt, etcd's
// check, reads the bytes as a hash (it takes other versions, and ignores
// what follows 60 bytes). Every answer, and which passwords then log in,
// are a real etcd 3.6's.
func TestHashedPasswordsMatchEtcd(t *testing.T) {
	etcd := startRealEtcd(t)
	c := startCluster(t, 1)
	b64 := base64.StdEncoding.EncodeToString
	hashed := func(pw string) string { return b64([]byte(bcryptOf(t, pw))) }
	changePassword := func(name, password, hash string) func(ctx context.Context, a pb.AuthClient) error {
		return func(ctx context.Context, a pb.AuthClient) error {
			_, err := a.UserChangePassword(ctx, &pb.AuthUserChangePasswordRequest{Name: name, Password: password, HashedPassword: hash})
			return err
		}
	}
	login := func(name, password string) hashedPasswordStep {
		return hashedPasswordStep{name: fmt.Sprintf("authenticate %s with %q", name, password), call: func(ctx context.Context, a pb.AuthClient) error {
			_, err := a.Authenticate(ctx, &pb.AuthenticateRequest{Name: name, Password: password})
			return err
		}}
	}
	// bob's token, and the auth revision, before a change to a hash no
	// password matches (run sets them for the member it runs on).
	var bobToken string
	var revision uint64
	asBob := func(call func(ctx context.Context, a pb.AuthClient) error) func(ctx context.Context, a pb.AuthClient) error {
		return func(ctx context.Context, a pb.AuthClient) error {
			return call(metadata.AppendToOutgoingContext(ctx, "token", bobToken), a)
		}
	}
	getBob := func(ctx context.Context, a pb.AuthClient) error {
		_, err := a.UserGet(ctx, &pb.AuthUserGetRequest{Name: "bob"})
		return err
	}
	pbkdf2, err := auth.HashPBKDF2("pbkdf2-pw", 1, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	steps := []hashedPasswordStep{
		{name: "user add with a password and a hash", call: func(ctx context.Context, a pb.AuthClient) error {
			_, err := a.UserAdd(ctx, &pb.AuthUserAddRequest{Name: "bob", Password: "bob-pw", HashedPassword: hashed("not-bob-pw")})
			return err
		}},
		login("bob", "bob-pw"),
		login("bob", "not-bob-pw"),
		{name: "change to a hash", call: changePassword("bob", "", hashed("hashed-pw"))},
		login("bob", "hashed-pw"),
		login("bob", "bob-pw"),
		{name: "change to a password and a hash", call: changePassword("bob", "plain-pw", hashed("other-pw"))},
		login("bob", "plain-pw"),
		login("bob", "other-pw"),
		{name: "change to a hash that is not base64", call: changePassword("bob", "", "not base64!")},
		{name: "change to a hash not in base64", call: changePassword("bob", "", bcryptOf(t, "raw-pw"))},
		login("bob", "plain-pw"),
		login("bob", "raw-pw"),
		{name: "change an unknown user's to a hash that is not base64", call: changePassword("nobody", "", "not base64!")},
		{name: "change to a hash without a token", noToken: true, call: changePassword("bob", "", hashed("anon-pw"))},
		{name: "change to a hash that is not base64 without a token", noToken: true, call: changePassword("bob", "", "not base64!")},
		login("bob", "plain-pw"),
		{name: "bob's token", noToken: true, call: func(ctx context.Context, a pb.AuthClient) error {
			r, err := a.Authenticate(ctx, &pb.AuthenticateRequest{Name: "bob", Password: "plain-pw"})
			if err == nil {
				bobToken = r.Token
			}
			return err
		}},
		{name: "bob gets itself with its token", noToken: true, call: asBob(getBob)},
		{name: "auth revision", call: func(ctx context.Context, a pb.AuthClient) error {
			r, err := a.AuthStatus(ctx, &pb.AuthStatusRequest{})
			if err == nil {
				revision = r.AuthRevision
			}
			return err
		}},
		{name: "change to base64 of what is not a bcrypt hash", call: changePassword("bob", "", b64([]byte("not a bcrypt hash")))},
		{name: "auth revision moves", look: func(ctx context.Context, a pb.AuthClient) string {
			r, err := a.AuthStatus(ctx, &pb.AuthStatusRequest{})
			if err != nil {
				return err.Error()
			}
			return fmt.Sprintf("by %d", int64(r.AuthRevision)-int64(revision))
		}},
		{name: "bob gets itself with its token after the change", noToken: true, call: asBob(getBob)},
		login("bob", "plain-pw"),
		login("bob", "not a bcrypt hash"),
		login("bob", ""),
		{name: "change to base64 of a cairn PBKDF2 hash", call: changePassword("bob", "", b64([]byte(pbkdf2.String())))},
		login("bob", "pbkdf2-pw"),
		{name: "change to base64 of a bcrypt hash of version 2x", call: changePassword("bob", "", b64([]byte("$2x$"+bcryptOf(t, "2x-pw")[4:])))},
		login("bob", "2x-pw"),
		{name: "change to base64 of a bcrypt hash and more", call: changePassword("bob", "", b64([]byte(bcryptOf(t, "long-pw")+"more")))},
		login("bob", "long-pw"),
		{name: "change to base64 of a bcrypt hash cut short", call: changePassword("bob", "", b64([]byte(bcryptOf(t, "short-pw")[:59])))},
		login("bob", "short-pw"),
		{name: "change to base64 of nothing", call: changePassword("bob", "", "\n")},
		login("bob", ""),
	}
	run := func(endpoint string) []string {
		ctx := ctxT(t)
		a := pb.NewAuthClient(concurrencyConn(t, endpoint))
		must[*pb.AuthUserAddResponse](t, "user add root")(a.UserAdd(ctx, &pb.AuthUserAddRequest{Name: "root", Password: "root-pw"}))
		must[*pb.AuthUserGrantRoleResponse](t, "grant root")(a.UserGrantRole(ctx, &pb.AuthUserGrantRoleRequest{User: "root", Role: "root"}))
		must[*pb.AuthEnableResponse](t, "auth enable")(a.AuthEnable(ctx, &pb.AuthEnableRequest{}))
		tok := must[*pb.AuthenticateResponse](t, "authenticate root")(a.Authenticate(ctx, &pb.AuthenticateRequest{Name: "root", Password: "root-pw"}))
		asRoot := metadata.AppendToOutgoingContext(ctx, "token", tok.Token)
		var lines []string
		for _, s := range steps {
			callCtx := asRoot
			if s.noToken {
				callCtx = ctx
			}
			if s.look != nil {
				lines = append(lines, fmt.Sprintf("%s: %s", s.name, s.look(callCtx, a)))
				continue
			}
			st := status.Convert(s.call(callCtx, a))
			lines = append(lines, fmt.Sprintf("%s: %v %q", s.name, st.Code(), st.Message()))
		}
		return lines
	}
	want, got := run(etcd), run(c.Endpoint(0))
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("cairn: %s\n etcd: %s", got[i], want[i])
		}
	}
	if t.Failed() {
		t.Logf("etcd's answers:\n%s", strings.Join(want, "\n"))
	}
}

// TestHashedPasswordNotBcryptReplicated: a change to bytes that are not a
// bcrypt hash, sent to one member, is applied by every member: each then
// refuses the user's old password, and the bytes themselves, with etcd's
// answer for a wrong password, while the other users log in as before.
func TestHashedPasswordNotBcryptReplicated(t *testing.T) {
	c := startCluster(t, 3)
	ctx := ctxT(t)
	conns := make([]pb.AuthClient, 3)
	for i := range conns {
		conns[i] = pb.NewAuthClient(concurrencyConn(t, c.Endpoint(i)))
	}
	a := conns[0]
	must[*pb.AuthUserAddResponse](t, "user add root")(a.UserAdd(ctx, &pb.AuthUserAddRequest{Name: "root", Password: "root-pw"}))
	must[*pb.AuthUserGrantRoleResponse](t, "grant root")(a.UserGrantRole(ctx, &pb.AuthUserGrantRoleRequest{User: "root", Role: "root"}))
	must[*pb.AuthUserAddResponse](t, "user add bob")(a.UserAdd(ctx, &pb.AuthUserAddRequest{Name: "bob", Password: "bob-pw"}))
	must[*pb.AuthEnableResponse](t, "auth enable")(a.AuthEnable(ctx, &pb.AuthEnableRequest{}))
	tok := must[*pb.AuthenticateResponse](t, "authenticate root")(a.Authenticate(ctx, &pb.AuthenticateRequest{Name: "root", Password: "root-pw"}))
	asRoot := metadata.AppendToOutgoingContext(ctx, "token", tok.Token)
	const notBcrypt = "$2a$04$not a bcrypt hash"
	must[*pb.AuthUserChangePasswordResponse](t, "change bob's to a hash that is not bcrypt")(a.UserChangePassword(asRoot,
		&pb.AuthUserChangePasswordRequest{Name: "bob", HashedPassword: base64.StdEncoding.EncodeToString([]byte(notBcrypt))}))
	for i, m := range conns {
		for _, pw := range []string{"bob-pw", notBcrypt, ""} {
			_, err := m.Authenticate(ctx, &pb.AuthenticateRequest{Name: "bob", Password: pw})
			if st := status.Convert(err); st.Code() != codes.InvalidArgument || st.Message() != "etcdserver: authentication failed, invalid user ID or password" {
				t.Errorf("member %d: bob with %q: %v, want etcd's answer for a wrong password", i, pw, err)
			}
		}
		if _, err := m.Authenticate(ctx, &pb.AuthenticateRequest{Name: "root", Password: "root-pw"}); err != nil {
			t.Errorf("member %d: root: %v", i, err)
		}
	}
}
