package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.etcd.io/bbolt"
	"go.etcd.io/etcd/api/v3/authpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"golang.org/x/crypto/bcrypt"
)

// etcd 3.6's etcdutl, built once per test binary from tools/etcd like
// etcd and etcdctl (etcd_test.go).
var (
	etcdutlBuildOnce sync.Once
	etcdutlBinDir    string
	etcdutlBuildErr  error
)

// etcdutlBin returns the path of etcdutl; the test is skipped, saying
// why, if it cannot be built.
func etcdutlBin(t *testing.T) string {
	t.Helper()
	etcdutlBuildOnce.Do(func() {
		etcdutlBinDir, etcdutlBuildErr = os.MkdirTemp("", "cairn-e2e-etcdutl")
		if etcdutlBuildErr != nil {
			return
		}
		const pkg = "go.etcd.io/etcd/etcdutl/v3"
		out, err := exec.Command("go", "-C", "../tools/etcd", "build", "-o", filepath.Join(etcdutlBinDir, "etcdutl"), pkg).CombinedOutput()
		if err != nil {
			etcdutlBuildErr = fmt.Errorf("go -C tools/etcd build %s: %v\n%s", pkg, err, out)
		}
	})
	if etcdutlBuildErr != nil {
		t.Skipf("etcd's etcdutl is needed and could not be built: %v", etcdutlBuildErr)
	}
	return filepath.Join(etcdutlBinDir, "etcdutl")
}

// etcdutl runs etcdutl and returns its stdout, failing the test unless
// it exits 0.
func etcdutl(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, etcdutlBin(t), args...)
	var out, errOut syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("etcdutl %s: %v\n%s%s", strings.Join(args, " "), err, out.String(), errOut.String())
	}
	return out.String()
}

// TestEtcdToolsReadCairnsEtcdSnapshot is the backup and the way back to
// etcd: a cairn cluster gets a history with writes, deletions, a
// compaction, leases with keys, users and roles with auth on, and a
// member added and removed; `etcdctl snapshot save` against it writes a
// file that etcd's own tools read: `etcdutl snapshot status` gives the
// revision and the number of keys, `etcdutl snapshot restore` makes a
// data dir on which a real etcd 3.6 serves the same history at every
// revision from the compacted one on, the same leases with their keys,
// users and roles, and every user logs in to it with the password set in
// cairn (by etcdctl or ctl, user add or user passwd): cairn hashes
// passwords as etcd does, bcrypt at etcd's default cost. `ctl snapshot
// restore` of the same file gives a cairn member with the same state and
// the same passwords (the round trip).
func TestEtcdToolsReadCairnsEtcdSnapshot(t *testing.T) {
	etcdutlBin(t)
	etcdBinaries(t)
	c := startCluster3(t)
	cli, err := clientv3.New(clientv3.Config{Endpoints: c.eps, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// A learner that never starts, added then removed: the snapshot
	// holds a removed member beside the three.
	added, err := cli.MemberAddAsLearner(ctx, []string{fmt.Sprintf("http://127.0.0.1:%d", freePort(t))})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.MemberRemove(ctx, added.Member.ID); err != nil {
		t.Fatal(err)
	}
	compacted := fillThrough(t, cli) // ends with auth on
	// Passwords set through each tool and each member: etcdctl's user
	// add and user passwd, ctl's.
	asRoot := []string{"--user", "root:root-pw"}
	wantOutput(t, "etcdctl user passwd", etcdctl(t, "alice-pw2\n", append(asRoot, "--endpoints="+c.eps[1], "user", "passwd", "alice", "--interactive=false")...),
		"Password updated\n")
	wantOutput(t, "ctl user add", ctl(t, "", append(asRoot, "--endpoints="+c.eps[2], "user", "add", "carol:carol-pw")...), "User carol created\n")
	wantOutput(t, "etcdctl user add", etcdctl(t, "", append(asRoot, "--endpoints="+c.eps[0], "user", "add", "dave:dave-pw")...), "User dave created\n")
	wantOutput(t, "ctl user passwd", ctl(t, "dave-pw2\n", append(asRoot, "--endpoints="+c.eps[1], "user", "passwd", "dave", "--interactive=false")...),
		"Password updated\n")
	passwords := map[string]string{"root": "root-pw", "alice": "alice-pw2", "carol": "carol-pw", "dave": "dave-pw2"}
	oldPasswords := map[string]string{"alice": "alice-pw", "dave": "dave-pw"}
	want := viewCairn(t, c.eps[0], compacted)
	if len(want.leases) != 2 || len(want.users) != 5 || len(want.at[want.rev]) < 20 || compacted < 2 {
		t.Fatalf("cairn's state is not what the test meant to make: %d leases, %d users, %d keys, compacted at %d",
			len(want.leases), len(want.users), len(want.at[want.rev]), compacted)
	}

	dir := t.TempDir()
	snap := filepath.Join(dir, "cairn.etcd-snapshot")
	wantOutput(t, "snapshot save", etcdctl(t, "", "--endpoints="+c.eps[0], "--user", "root:root-pw", "snapshot", "save", snap),
		"Snapshot saved at "+snap+"\nServer version 3.6.0\n")
	if matches, _ := filepath.Glob(filepath.Join(c.dir, "m1.node", "member", "etcd-snapshot-*")); len(matches) != 0 {
		t.Errorf("the snapshot's work files are left in the data dir: %v", matches)
	}

	// The membership as etcd keeps it (etcdutl restore replaces it, so
	// it is read here): the three members, and the removed learner.
	ms, err := cli.MemberList(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wantMembers := map[string]string{}
	for _, m := range ms.Members {
		j, _ := json.Marshal(struct {
			ID         uint64   `json:"id"`
			PeerURLs   []string `json:"peerURLs"`
			Name       string   `json:"name,omitempty"`
			ClientURLs []string `json:"clientURLs,omitempty"`
		}{m.ID, m.PeerURLs, m.Name, m.ClientURLs})
		wantMembers[strconv.FormatUint(m.ID, 16)] = string(j)
	}
	gotMembers, removed := snapshotMembers(t, snap)
	if len(wantMembers) != 3 || !reflect.DeepEqual(gotMembers, wantMembers) {
		t.Errorf("members in the snapshot:\n%v\nmember list:\n%v", gotMembers, wantMembers)
	}
	if want := []string{strconv.FormatUint(added.Member.ID, 16)}; !reflect.DeepEqual(removed, want) {
		t.Errorf("removed members in the snapshot: %v, want %v", removed, want)
	}

	// The users' hashes are etcd's kind at etcd's default cost; svc has
	// no password.
	hashes := snapshotPasswords(t, snap)
	if h, ok := hashes["svc"]; !ok || h != "" || len(hashes) != len(passwords)+1 {
		t.Errorf("users in the snapshot: %q, want svc without a password and %d with one", hashes, len(passwords))
	}
	for user, pw := range passwords {
		if cost, err := bcrypt.Cost([]byte(hashes[user])); err != nil || cost != bcrypt.DefaultCost {
			t.Errorf("%s's hash %q: cost %d, %v; want bcrypt of cost %d", user, hashes[user], cost, err, bcrypt.DefaultCost)
		} else if err := bcrypt.CompareHashAndPassword([]byte(hashes[user]), []byte(pw)); err != nil {
			t.Errorf("%s's hash does not take the password: %v", user, err)
		}
	}

	var status struct {
		Revision int64  `json:"revision"`
		TotalKey int    `json:"totalKey"`
		Version  string `json:"version"`
	}
	decodeJSON(t, "etcdutl snapshot status", etcdutl(t, "snapshot", "status", snap, "-w", "json"), &status)
	if status.Revision != want.rev || status.TotalKey != len(want.at[want.rev]) || status.Version != "3.6.0" {
		t.Errorf("etcdutl snapshot status: %+v; cairn is at revision %d with %d keys", status, want.rev, len(want.at[want.rev]))
	}

	t.Run("restored into etcd", func(t *testing.T) {
		ep := startRestoredEtcd(t, snap)
		loginWithPasswords(t, "etcd", ep, passwords, oldPasswords)
		e := etcdClientAs(t, ep, "root", "root-pw")
		got := viewThrough(t, e, compacted)
		compareViews(t, "etcd", got, want)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if st, err := e.AuthStatus(ctx); err != nil || !st.Enabled {
			t.Errorf("etcd's auth status: %+v, %v; want enabled", st, err)
		}
		if _, err := e.Get(ctx, "a", clientv3.WithRev(compacted-1)); err == nil || !strings.Contains(err.Error(), "compacted") {
			t.Errorf("etcd read below the compacted revision %d: %v, want it refused", compacted, err)
		}
	})

	t.Run("restored into cairn", func(t *testing.T) {
		dir := t.TempDir()
		peer := fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
		clientURL := fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
		out := ctl(t, "", "snapshot", "restore", snap, "--name", "solo", "--data-dir", filepath.Join(dir, "solo.node"),
			"--initial-advertise-peer-urls", peer)
		if !strings.Contains(out, "restored etcd snapshot") {
			t.Errorf("ctl snapshot restore printed %q", out)
		}
		startNode(t, dir, "--name", "solo", "--data-dir", "solo.node", "--listen-peer-urls", peer, "--listen-client-urls", clientURL)
		got := viewCairn(t, strings.TrimPrefix(clientURL, "http://"), compacted) // as root
		compareViews(t, "cairn", got, want)
		loginWithPasswords(t, "cairn", clientURL, passwords, oldPasswords)
	})
}

// compareViews fails the test where got, read from a restored server,
// differs from want.
func compareViews(t *testing.T, server string, got, want etcdView) {
	t.Helper()
	if got.rev != want.rev {
		t.Errorf("%s is at revision %d, cairn was at %d", server, got.rev, want.rev)
	}
	for rev := want.compacted; rev <= want.rev; rev++ {
		if !reflect.DeepEqual(got.at[rev], want.at[rev]) {
			t.Errorf("at revision %d %s has\n%+v\ncairn had\n%+v", rev, server, got.at[rev], want.at[rev])
		}
	}
	for _, part := range []struct {
		name      string
		got, want any
	}{{"leases", got.leases, want.leases}, {"users", got.users, want.users}, {"roles", got.roles, want.roles}} {
		if !reflect.DeepEqual(part.got, part.want) {
			t.Errorf("%s: %s has\n%v\ncairn had\n%v", part.name, server, part.got, part.want)
		}
	}
}

// startRestoredEtcd restores the etcd snapshot at snap with etcdutl into
// a new data dir, starts a single etcd 3.6 member on it, and returns its
// client URL once it answers.
func startRestoredEtcd(t *testing.T, snap string) string {
	t.Helper()
	etcdBin, _ := etcdBinaries(t)
	dir := t.TempDir()
	peer := fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
	client := fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
	dataDir := filepath.Join(dir, "e1.etcd")
	etcdutl(t, "snapshot", "restore", snap, "--name", "e1", "--data-dir", dataDir,
		"--initial-cluster", "e1="+peer, "--initial-advertise-peer-urls", peer)

	stderr := &syncBuffer{}
	cmd := exec.Command(etcdBin, "--name", "e1", "--data-dir", dataDir,
		"--listen-client-urls", client, "--advertise-client-urls", client,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer, "--initial-cluster", "e1="+peer,
		"--log-level", "warn", "--unsafe-no-fsync")
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
	})

	// Auth is on: etcd that serves refuses a read without a user.
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{client}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := cli.Get(ctx, "a")
		cancel()
		if errors.Is(err, rpctypes.ErrUserEmpty) {
			return client
		}
		select {
		case err := <-done:
			done <- err
			t.Fatalf("etcd exited: %v\n%s", err, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("etcd restored from cairn's snapshot did not answer: %v\n%s", err, stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// etcdClientAs is a client of endpoint that logs in as user with
// password, closed when the test ends.
func etcdClientAs(t *testing.T, endpoint, user, password string) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, DialTimeout: 5 * time.Second, Logger: zap.NewNop(),
		Username: user, Password: password})
	if err != nil {
		t.Fatalf("%s logging in to %s: %v", user, endpoint, err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// loginWithPasswords checks that each user logs in to the server at
// endpoint (Authenticate gives a token) with its password, and not with
// its old one.
func loginWithPasswords(t *testing.T, server, endpoint string, passwords, oldPasswords map[string]string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	for user, pw := range passwords {
		if resp, err := cli.Authenticate(ctx, user, pw); err != nil || resp.Token == "" {
			t.Errorf("%s: %s does not log in with the password set in cairn: %v", server, user, err)
		}
	}
	for user, pw := range oldPasswords {
		if _, err := cli.Authenticate(ctx, user, pw); !errors.Is(err, rpctypes.ErrAuthFailed) {
			t.Errorf("%s: %s with the password it had before user passwd: %v, want %v", server, user, err, rpctypes.ErrAuthFailed)
		}
	}
}

// snapshotPasswords reads the users' password hashes ("" for none) from
// the "authUsers" bucket of the etcd snapshot at path.
func snapshotPasswords(t *testing.T, path string) map[string]string {
	t.Helper()
	db, err := bbolt.Open(path, 0o400, &bbolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	out := map[string]string{}
	err = db.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket([]byte("authUsers"))
		if b == nil {
			return fmt.Errorf("no authUsers bucket")
		}
		return b.ForEach(func(k, v []byte) error {
			var u authpb.User
			if err := u.Unmarshal(v); err != nil {
				return fmt.Errorf("user %s: %w", k, err)
			}
			out[string(k)] = string(u.Password)
			return nil
		})
	})
	if err != nil {
		t.Fatalf("users of the snapshot: %v", err)
	}
	return out
}

// snapshotMembers reads the "members" and "members_removed" buckets of
// the etcd snapshot at path.
func snapshotMembers(t *testing.T, path string) (members map[string]string, removed []string) {
	t.Helper()
	db, err := bbolt.Open(path, 0o400, &bbolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	members = map[string]string{}
	err = db.View(func(tx *bbolt.Tx) error {
		b, rb := tx.Bucket([]byte("members")), tx.Bucket([]byte("members_removed"))
		if b == nil || rb == nil {
			return fmt.Errorf("no members or members_removed bucket")
		}
		if err := b.ForEach(func(k, v []byte) error { members[string(k)] = string(v); return nil }); err != nil {
			return err
		}
		return rb.ForEach(func(k, v []byte) error {
			if string(v) != "removed" {
				return fmt.Errorf("removed member %s: value %q", k, v)
			}
			removed = append(removed, string(k))
			return nil
		})
	})
	if err != nil {
		t.Fatalf("members of the snapshot: %v", err)
	}
	return members, removed
}
