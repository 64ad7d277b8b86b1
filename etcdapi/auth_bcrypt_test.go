package etcdapi_test

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.etcd.io/bbolt"
	"go.etcd.io/etcd/api/v3/authpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"golang.org/x/crypto/bcrypt"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// snapshotPasswords takes an etcd snapshot through cli and returns the
// password hash of each user in it ("" for none), as etcd would read
// them from its authUsers bucket.
func snapshotPasswords(t *testing.T, cli *clientv3.Client) map[string]string {
	t.Helper()
	rc, err := cli.Snapshot(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	path := filepath.Join(t.TempDir(), "snapshot.db")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.Copy(f, rc)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	db, err := bbolt.Open(path, 0o400, &bbolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	out := map[string]string{}
	err = db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket([]byte("authUsers")).ForEach(func(k, v []byte) error {
			var u authpb.User
			if err := u.Unmarshal(v); err != nil {
				return err
			}
			out[string(k)] = string(u.Password)
			return nil
		})
	})
	if err != nil {
		t.Fatalf("authUsers of the snapshot: %v", err)
	}
	return out
}

// TestPasswordsThroughEtcdClients: a user clientv3 adds, or whose
// password it changes, gets a bcrypt hash of the member's cost, as etcd
// keeps it (bcrypt's own check accepts it in the etcd snapshot), and
// logs in with the password; a password past bcrypt's 72 bytes gets
// etcd's answer: gRPC Unknown with the bcrypt library's message.
func TestPasswordsThroughEtcdClients(t *testing.T) {
	c := startCluster(t, 1) // bcrypt cost 4
	ctx := ctxT(t)
	admin := etcdClient(t, c.Endpoints()...)
	long := strings.Repeat("p", 72)
	must[*clientv3.AuthUserAddResponse](t, "user add root")(admin.UserAdd(ctx, "root", "root-pw"))
	must[*clientv3.AuthUserGrantRoleResponse](t, "grant root")(admin.UserGrantRole(ctx, "root", "root"))
	must[*clientv3.AuthUserAddResponse](t, "user add alice")(admin.UserAdd(ctx, "alice", long))
	must[*clientv3.AuthUserAddResponse](t, "user add bob")(admin.UserAdd(ctx, "bob", "bob-pw"))
	must[*clientv3.AuthUserChangePasswordResponse](t, "passwd bob")(admin.UserChangePassword(ctx, "bob", "bob-pw2"))

	tooLong := long + "!"
	_, addErr := admin.UserAdd(ctx, "carol", tooLong)
	_, passwdErr := admin.UserChangePassword(ctx, "alice", tooLong)
	for _, tc := range []struct {
		what string
		err  error
	}{{"user add", addErr}, {"user passwd", passwdErr}} {
		if st := status.Convert(tc.err); st.Code() != codes.Unknown || st.Message() != bcrypt.ErrPasswordTooLong.Error() {
			t.Errorf("%s with a password of 73 bytes: %v, want Unknown: %q as etcd", tc.what, tc.err, bcrypt.ErrPasswordTooLong)
		}
	}

	hashes := snapshotPasswords(t, admin)
	if _, ok := hashes["carol"]; ok || len(hashes) != 3 {
		t.Fatalf("users in the snapshot: %q", hashes)
	}
	for user, pw := range map[string]string{"root": "root-pw", "alice": long, "bob": "bob-pw2"} {
		h := hashes[user]
		if cost, err := bcrypt.Cost([]byte(h)); err != nil || cost != 4 || !strings.HasPrefix(h, "$2a$04$") {
			t.Errorf("%s's hash %q: cost %d, %v; want bcrypt of cost 4", user, h, cost, err)
		}
		if err := bcrypt.CompareHashAndPassword([]byte(h), []byte(pw)); err != nil {
			t.Errorf("%s's hash %q does not take the password: %v", user, h, err)
		}
	}

	must[*clientv3.AuthEnableResponse](t, "auth enable")(admin.AuthEnable(ctx))
	for user, pw := range map[string]string{"root": "root-pw", "alice": long, "bob": "bob-pw2"} {
		cli := etcdClientWith(t, clientv3.Config{Endpoints: c.Endpoints(), Username: user, Password: pw})
		if _, err := cli.AuthStatus(ctx); err != nil {
			t.Errorf("%s logging in: %v", user, err)
		}
	}
	old, err := clientv3.New(clientv3.Config{Endpoints: c.Endpoints(), Username: "bob", Password: "bob-pw", Logger: zap.NewNop()})
	if err == nil {
		old.Close()
		t.Error("bob logs in with his old password")
	}
}
