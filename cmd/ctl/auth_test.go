package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/cairndb/cairn/api"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

func TestAuthUsageErrors(t *testing.T) {
	tests := []struct {
		args    []string
		message string
		usage   string
	}{
		{[]string{"auth"}, "no auth command given", "ctl auth {enable|disable|status}"},
		{[]string{"auth", "enable", "now"}, "auth enable takes no arguments, got 1", "ctl auth enable [flags]"},
		{[]string{"user", "add"}, "user add takes 1 argument, got 0", "ctl user add NAME[:PASSWORD]"},
		{[]string{"user", "add", ":pw"}, "the user name is empty", "ctl user add"},
		{[]string{"user", "add", "u:pw", "--no-password"}, "a password was given with --no-password", "ctl user add"},
		{[]string{"user", "grant-role", "u"}, "user grant-role takes 2 arguments, got 1", "ctl user grant-role NAME ROLE"},
		{[]string{"role", "grant-permission", "r", "admin", "k"}, `permission type "admin": want read, write or readwrite`, "ctl role grant-permission NAME TYPE KEY [END]"},
		{[]string{"role", "grant-permission", "r", "read", "k", "--prefix", "--from-key"}, "--prefix and --from-key cannot be set at the same time", ""},
		{[]string{"role", "grant-permission", "r", "read", "a", "z", "--prefix"}, "an END cannot be given with --prefix or --from-key", ""},
		{[]string{"role", "revoke-permission", "r", "a", "z", "--from-key"}, "an END cannot be given with --prefix or --from-key", "ctl role revoke-permission NAME KEY [END]"},
		{[]string{"--user=:pw", "get", "a"}, `--user ":pw": the user name is empty`, "ctl [global flags]"},
	}
	for _, tt := range tests {
		code, stdout, stderr := runOffline(tt.args...)
		lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
		if code != exitUsage || stdout != "" || len(lines) != 2 || !strings.Contains(lines[0], tt.message) ||
			!strings.Contains(lines[1], "Usage: "+tt.usage) {
			t.Errorf("ctl %q: exit %d, stdout %q, stderr %q; want exit 2, an error containing %q and usage %q",
				tt.args, code, stdout, stderr, tt.message, tt.usage)
		}
	}
}

// TestCredentials checks where --user's password comes from: the flag,
// --password, or a line of stdin.
func TestCredentials(t *testing.T) {
	tests := []struct {
		user, password, stdin string
		wantUser, wantPass    string
		wantErr               string
	}{
		{"", "", "", "", "", ""},
		{"root:secret", "", "", "root", "secret", ""},
		{"root:a:b", "", "", "root", "a:b", ""},
		{"we:ird", "pw", "", "we:ird", "pw", ""},
		{"root", "", "typed\nnext\n", "root", "typed", ""},
		{"root", "", "no newline", "root", "no newline", ""},
		{"root", "", "crlf\r\n", "root", "crlf", ""},
		{"root", "", "", "", "", "reading the password of --user root from stdin: no line left"},
	}
	for _, tt := range tests {
		g := defaultGlobals()
		g.user, g.password = tt.user, tt.password
		e := &env{g: g, stdin: strings.NewReader(tt.stdin), stderr: &bytes.Buffer{}}
		user, pw, err := e.credentials()
		if tt.wantErr != "" {
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("--user %q: error %v, want %q", tt.user, err, tt.wantErr)
			}
			continue
		}
		if err != nil || user != tt.wantUser || pw != tt.wantPass {
			t.Errorf("--user %q --password %q stdin %q: %q, %q, %v; want %q, %q", tt.user, tt.password, tt.stdin, user, pw, err, tt.wantUser, tt.wantPass)
		}
		if u2, p2, _ := e.credentials(); u2 != user || p2 != pw {
			t.Errorf("--user %q: a second read gave %q, %q", tt.user, u2, p2)
		}
	}
}

// TestPasswordsAreReadInTurn checks --user's password and a new user's
// come from successive lines of stdin.
func TestPasswordsAreReadInTurn(t *testing.T) {
	g := defaultGlobals()
	g.user = "root"
	e := &env{g: g, stdin: strings.NewReader("rootpw\nalicepw\n"), stderr: &bytes.Buffer{}}
	if _, pw, err := e.credentials(); err != nil || pw != "rootpw" {
		t.Fatalf("credentials: %q, %v", pw, err)
	}
	if pw, err := e.newPassword("alice", true); err != nil || pw != "alicepw" {
		t.Fatalf("newPassword: %q, %v", pw, err)
	}
	if _, err := e.newPassword("bob", false); err == nil || !strings.Contains(err.Error(), "the password of user bob") {
		t.Fatalf("newPassword with stdin used up: %v", err)
	}
}

func TestPrintAuth(t *testing.T) {
	perms := []api.Permission{
		{PermType: api.PermRead, Key: []byte("app/"), RangeEnd: []byte("app0")},
		{PermType: api.PermWrite, Key: []byte("k")},
		{PermType: api.PermReadWrite, Key: []byte("a"), RangeEnd: []byte("c")},
		{PermType: api.PermRead, Key: []byte("m"), RangeEnd: []byte{0}},
	}
	tests := []struct {
		name, format string
		print        func(p *printer)
		want         string
	}{
		{"status", formatSimple, func(p *printer) { p.authStatus(&api.AuthStatusResponse{Enabled: true, AuthRevision: 4}) },
			"Authentication Status: true\nAuthRevision: 4\n"},
		{"status table", formatTable, func(p *printer) { p.authStatus(&api.AuthStatusResponse{AuthRevision: 1}) },
			"+---------+---------------+\n| ENABLED | AUTH REVISION |\n+---------+---------------+\n| false   | 1             |\n+---------+---------------+\n"},
		{"done", formatSimple, func(p *printer) { p.done(&pb.AuthRoleAddResponse{}, "Role r created") }, "Role r created\n"},
		{"done json", formatJSON, func(p *printer) {
			p.done(&pb.AuthRoleAddResponse{Header: &pb.ResponseHeader{Revision: 3}}, "Role r created")
		},
			`{"header":{"revision":3}}` + "\n"},
		{"user list", formatSimple, func(p *printer) { p.names(nil, "USER", []string{"alice", "root"}) }, "alice\nroot\n"},
		{"role list table", formatTable, func(p *printer) { p.names(nil, "ROLE", []string{"root"}) },
			"+------+\n| ROLE |\n+------+\n| root |\n+------+\n"},
		{"user get", formatSimple, func(p *printer) { p.userGet("alice", &api.UserGetResponse{Roles: []string{"r1", "r2"}}, false, nil) },
			"User: alice\nRoles: r1 r2\n"},
		{"user get detail", formatSimple, func(p *printer) {
			p.userGet("alice", &api.UserGetResponse{Roles: []string{"r1"}}, true, []roleDetail{{Role: "r1", Resp: &api.RoleGetResponse{Perm: perms[1:2]}}})
		}, "User: alice\nRole r1\nKV Read:\nKV Write:\n\tk\n"},
		{"role get", formatSimple, func(p *printer) { p.roleGet("r", &api.RoleGetResponse{Perm: perms}) },
			"Role r\nKV Read:\n\t[app/, app0) (prefix app/)\n\t[a, c)\n\t[m, <open ended>\nKV Write:\n\tk\n\t[a, c)\n"},
		{"role get table", formatTable, func(p *printer) { p.roleGet("r", &api.RoleGetResponse{Perm: perms[:2]}) },
			"+------+------------+----------------------------+\n| ROLE | PERMISSION | KEYS                       |\n+------+------------+----------------------------+\n" +
				"| r    | read       | [app/, app0) (prefix app/) |\n| r    | write      | k                          |\n+------+------------+----------------------------+\n"},
	}
	for _, tt := range tests {
		p, out := newTestPrinter(tt.format)
		tt.print(p)
		if out.String() != tt.want {
			t.Errorf("%s: printed\n%s\nwant\n%s", tt.name, out.String(), tt.want)
		}
	}
}

// permRange sends the empty KEY with --prefix or --from-key (every key)
// as etcdctl does, from "\x00": members refuse a permission on the empty
// key.
func TestPermRange(t *testing.T) {
	for _, tt := range []struct {
		prefix, fromKey bool
		args            []string
		key, end        string
	}{
		{false, false, []string{"a"}, "a", ""},
		{false, false, []string{"a", "c"}, "a", "c"},
		{true, false, []string{"a"}, "a", "b"},
		{false, true, []string{"a"}, "a", "\x00"},
		{true, false, []string{""}, "\x00", "\x00"},
		{false, true, []string{""}, "\x00", "\x00"},
	} {
		key, end, err := permRange(tt.prefix, tt.fromKey, tt.args)
		if err != nil || key != tt.key || end != tt.end {
			t.Errorf("permRange(%v, %v, %q) = %q, %q, %v; want %q, %q", tt.prefix, tt.fromKey, tt.args, key, end, err, tt.key, tt.end)
		}
	}
}
