package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/authpb"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// TestAuthThroughCtl is etcd's authentication walk-through with ctl: add
// root, enable auth, add a role with a prefix permission and a user
// holding it; the user reads inside the prefix and is refused outside it
// (reads, writes, watches, a range overlapping a forbidden key); then the
// management commands' outputs, password changes, and auth disable.
func TestAuthThroughCtl(t *testing.T) {
	c := startCluster(t, 3, nil)
	root := "--user=root:rootpw"
	alice := "--user=alice:alicepw"

	c.ctl(t, "rootpw\n", "user", "add", "root", "--interactive=false").ok(t, "user add root", "User root created\n")
	// etcd's auth revision starts at 1; adding root moved it once.
	c.ctl(t, "", "auth", "status").ok(t, "auth status before", "Authentication Status: false\nAuthRevision: 2\n")
	c.ctl(t, "", "auth", "enable").ok(t, "auth enable", "Authentication Enabled\n")
	c.ctl(t, "", "get", "app/x").fails(t, "get without a user", exitError, "user name is empty")
	c.ctl(t, "", "--user=root:wrong", "get", "app/x").fails(t, "a wrong password", exitError, "authentication failed")

	c.ctl(t, "", root, "role", "add", "app-reader").ok(t, "role add", "Role app-reader created\n")
	c.ctl(t, "", root, "role", "grant-permission", "app-reader", "read", "app/", "--prefix").ok(t, "grant-permission", "Role app-reader updated\n")
	c.ctl(t, "", root, "user", "add", "alice:alicepw").ok(t, "user add alice", "User alice created\n")
	c.ctl(t, "", root, "user", "grant-role", "alice", "app-reader").ok(t, "grant-role", "Role app-reader is granted to user alice\n")
	c.ctl(t, "", root, "put", "app/x", "1").ok(t, "root put", "OK\n")
	c.ctl(t, "", root, "put", "app0", "beyond").ok(t, "root put", "OK\n")
	c.ctl(t, "", root, "put", "secret", "s").ok(t, "root put", "OK\n")

	c.ctl(t, "", alice, "get", "app/x").ok(t, "alice get inside the prefix", "app/x\n1\n")
	c.ctl(t, "", alice, "get", "app/", "--prefix", "--keys-only").ok(t, "alice get the prefix", "app/x\n")
	c.ctl(t, "", alice, "get", "secret").fails(t, "alice get secret", exitError, "permission denied")
	c.ctl(t, "", alice, "get", "app/", "app1").fails(t, "alice get a range reaching past the prefix", exitError, "permission denied")
	c.ctl(t, "", alice, "put", "app/x", "2").fails(t, "alice put (read only)", exitError, "permission denied")
	c.ctl(t, "", alice, "role", "add", "mine").fails(t, "alice role add (not root)", exitError, "permission denied")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c.ctlContext(t, ctx, "", alice, "watch", "secret", "--prefix").fails(t, "alice watch secret", exitError, "permission denied")

	// Listing and showing, in each format; the password of --user from stdin.
	c.ctl(t, "rootpw\n", "--user=root", "user", "list").ok(t, "user list", "alice\nroot\n")
	c.ctl(t, "", root, "role", "list", "-w", "table").ok(t, "role list -w table",
		roleTable("app-reader")) // root is built in, not listed (as etcd)
	c.ctl(t, "", root, "user", "get", "alice").ok(t, "user get", "User: alice\nRoles: app-reader\n")
	c.ctl(t, "", root, "user", "get", "alice", "--detail").ok(t, "user get --detail",
		"User: alice\nRole app-reader\nKV Read:\n\t[app/, app0) (prefix app/)\nKV Write:\n")
	c.ctl(t, "", root, "role", "get", "app-reader").ok(t, "role get", "Role app-reader\nKV Read:\n\t[app/, app0) (prefix app/)\nKV Write:\n")
	r := c.ctl(t, "", root, "role", "get", "app-reader", "-w", "json")
	var rg pb.AuthRoleGetResponse
	if err := json.Unmarshal([]byte(r.stdout), &rg); err != nil || len(rg.Perm) != 1 || string(rg.Perm[0].Key) != "app/" || rg.Perm[0].PermType != authpb.READ {
		t.Errorf("role get -w json: %q (%v)", r.stdout, err)
	}
	r = c.ctl(t, "", root, "auth", "status", "-w", "json")
	var st pb.AuthStatusResponse
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil || !st.Enabled || st.AuthRevision < 5 {
		t.Errorf("auth status -w json: %q (%v)", r.stdout, err)
	}

	// A permission change is in force at once; a changed password too.
	c.ctl(t, "", root, "role", "grant-permission", "app-reader", "readwrite", "app/x").ok(t, "grant write on one key", "Role app-reader updated\n")
	c.ctl(t, "", alice, "put", "app/x", "2").ok(t, "alice put once granted", "OK\n")
	c.ctl(t, "", root, "role", "revoke-permission", "app-reader", "app/x").ok(t, "revoke-permission",
		"Permission of key app/x is revoked from role app-reader\n")
	c.ctl(t, "", alice, "put", "app/x", "3").fails(t, "alice put once revoked", exitError, "permission denied")
	c.ctl(t, "", root, "role", "revoke-permission", "app-reader", "nope").fails(t, "revoking a permission never granted", exitError, "permission is not granted")
	c.ctl(t, strings.Repeat("p", 73)+"\n", root, "user", "passwd", "alice", "--interactive=false").fails(t, "a password past bcrypt's 72 bytes",
		exitError, "bcrypt: password length exceeds 72 bytes")
	c.ctl(t, "", root, "user", "add", "carol:"+strings.Repeat("p", 73)).fails(t, "user add with a password past 72 bytes",
		exitError, "bcrypt: password length exceeds 72 bytes")
	c.ctl(t, "newpw\n", root, "user", "passwd", "alice", "--interactive=false").ok(t, "user passwd", "Password updated\n")
	c.ctl(t, "", alice, "get", "app/x").fails(t, "the old password", exitError, "authentication failed")
	c.ctl(t, "", "--user=alice:newpw", "get", "app/x", "--print-value-only").ok(t, "the new password", "2\n")
	c.ctl(t, "", root, "user", "revoke-role", "alice", "app-reader").ok(t, "revoke-role", "Role app-reader is revoked from user alice\n")
	c.ctl(t, "", "--user=alice:newpw", "get", "app/x").fails(t, "alice without a role", exitError, "permission denied")
	c.ctl(t, "", root, "user", "add", "bob", "--no-password").ok(t, "user add --no-password", "User bob created\n")
	c.ctl(t, "", "--user=bob:anything", "get", "app/x").fails(t, "bob has no password", exitError, "authentication failed")
	c.ctl(t, "", root, "user", "delete", "bob").ok(t, "user delete", "User bob deleted\n")
	c.ctl(t, "", root, "role", "delete", "app-reader").ok(t, "role delete", "Role app-reader deleted\n")
	c.ctl(t, "", root, "user", "get", "bob").fails(t, "user get a deleted user", exitError, "user name not found")

	c.ctl(t, "", root, "auth", "disable").ok(t, "auth disable", "Authentication Disabled\n")
	c.ctl(t, "", "get", "secret", "--print-value-only").ok(t, "get after disable", "s\n")
}

// roleTable is the table role list -w table prints for roles.
func roleTable(roles ...string) string {
	rows := make([][]string, len(roles))
	for i, r := range roles {
		rows[i] = []string{r}
	}
	return renderTable([]string{"ROLE"}, rows)
}

// TestAuthUserFlagNeedsAPassword checks --user without a password and
// with nothing on stdin fails before any request, naming what is
// missing.
func TestAuthUserFlagNeedsAPassword(t *testing.T) {
	code, _, stderr := runOffline("--user=root", "get", "k")
	if code != exitError || !strings.Contains(stderr, "reading the password of --user root from stdin: no line left") {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
}
