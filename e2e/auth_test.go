package e2e

import (
	"fmt"
	"strings"
	"testing"
)

// The README's authentication walk-through with real processes: a root
// user, auth enable, a role that may read one prefix, a user holding it;
// that user reads inside the prefix and is refused outside it, and
// anyone without credentials is refused everything until auth is
// disabled again.
func TestAuthWalkthroughThroughCLI(t *testing.T) {
	dir := t.TempDir()
	peer := fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
	clientURL := fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
	startNode(t, dir, "--name", "a", "--data-dir", "a.node", "--listen-peer-urls", peer,
		"--initial-advertise-peer-urls", peer, "--initial-cluster", "a="+peer, "--listen-client-urls", clientURL)
	eps := "--endpoints=" + strings.TrimPrefix(clientURL, "http://")
	root := "--user=root:rootpw"

	want := func(what, got, want string) {
		t.Helper()
		if got != want {
			t.Fatalf("%s printed %q, want %q", what, got, want)
		}
	}
	refused := func(what, msg string, stdin string, args ...string) {
		t.Helper()
		out, code := ctlCode(t, stdin, append([]string{eps}, args...)...)
		if code != 1 || !strings.Contains(out, msg) {
			t.Fatalf("%s: exit %d, output %q; want exit 1 and %q", what, code, out, msg)
		}
	}

	want("user add root", ctl(t, "rootpw\n", eps, "user", "add", "root", "--interactive=false"), "User root created\n")
	want("auth enable", ctl(t, "", eps, "auth", "enable"), "Authentication Enabled\n")
	refused("get without a user", "user name is empty", "", "get", "app/x")

	want("role add", ctl(t, "", eps, root, "role", "add", "app-reader"), "Role app-reader created\n")
	want("grant-permission", ctl(t, "", eps, root, "role", "grant-permission", "app-reader", "read", "app/", "--prefix"), "Role app-reader updated\n")
	want("user add alice", ctl(t, "", eps, root, "user", "add", "alice:alicepw"), "User alice created\n")
	want("grant-role", ctl(t, "", eps, root, "user", "grant-role", "alice", "app-reader"), "Role app-reader is granted to user alice\n")
	ctl(t, "", eps, root, "put", "app/x", "1")
	ctl(t, "", eps, root, "put", "secret", "s")

	// The password of --user from stdin when it is not in the flag.
	want("role get", ctl(t, "rootpw\n", eps, "--user=root", "role", "get", "app-reader"),
		"Role app-reader\nKV Read:\n\t[app/, app0) (prefix app/)\nKV Write:\n")
	alice := "--user=alice:alicepw"
	want("alice get app/x", ctl(t, "", eps, alice, "get", "app/x"), "app/x\n1\n")
	refused("alice get secret", "permission denied", "", alice, "get", "secret")
	refused("alice put app/x", "permission denied", "", alice, "put", "app/x", "2")
	refused("a wrong password", "authentication failed", "", "--user=alice:nope", "get", "app/x")

	want("auth disable", ctl(t, "", eps, root, "auth", "disable"), "Authentication Disabled\n")
	want("get after disable", ctl(t, "", eps, "get", "secret", "--print-value-only"), "s\n")
}
