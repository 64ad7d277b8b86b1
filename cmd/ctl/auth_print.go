package main

import (
	"fmt"
	"strings"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/client"
	"github.com/cairndb/cairn/internal/etcdconv"
)

// done prints the one line that says a change was made ("User alice
// created"), or m, etcd's message for the response.
func (p *printer) done(m any, line string) {
	if p.etcd() {
		p.message(m)
		return
	}
	p.printf("%s\n", line)
}

// authStatus prints whether auth is on and the auth revision.
func (p *printer) authStatus(resp *api.AuthStatusResponse) {
	switch {
	case p.etcd():
		p.message(etcdconv.ToAuthStatus(resp))
	case p.format == formatTable:
		p.table([]string{"ENABLED", "AUTH REVISION"}, [][]string{{fmt.Sprint(resp.Enabled), fmt.Sprint(resp.AuthRevision)}})
	default:
		p.printf("Authentication Status: %t\nAuthRevision: %d\n", resp.Enabled, resp.AuthRevision)
	}
}

// names prints a list of users or roles: one a line, or a one-column
// table headed header; m is etcd's message for the response.
func (p *printer) names(m any, header string, names []string) {
	switch {
	case p.etcd():
		p.message(m)
	case p.format == formatTable:
		rows := make([][]string, len(names))
		for i, n := range names {
			rows[i] = []string{n}
		}
		p.table([]string{header}, rows)
	default:
		for _, n := range names {
			p.printf("%s\n", n)
		}
	}
}

// roleDetail is a role and its permissions, as user get --detail shows
// them.
type roleDetail struct {
	Role string
	Resp *api.RoleGetResponse
}

// userGet prints a user's roles ("User: alice", "Roles: r1 r2"), with
// detail each role's permissions too. In the etcd formats the detail is
// etcdctl's: the line "User: NAME", then for each role a blank line and
// its role get response.
func (p *printer) userGet(name string, resp *api.UserGetResponse, detail bool, roles []roleDetail) {
	switch {
	case p.etcd() && detail:
		p.printf("User: %s\n", name)
		for _, r := range roles {
			p.printf("\n")
			p.message(etcdconv.ToRoleGet(r.Resp))
		}
	case p.etcd():
		p.message(etcdconv.ToUserGet(resp))
	case p.format == formatTable && detail:
		var rows [][]string
		for _, r := range roles {
			rows = append(rows, p.permRows(r.Role, r.Resp.Perm)...)
		}
		p.table([]string{"ROLE", "PERMISSION", "KEYS"}, rows)
	case detail:
		p.printf("User: %s\n", name)
		for _, r := range roles {
			p.permLines(r.Role, r.Resp.Perm)
		}
	default:
		p.printf("User: %s\nRoles: %s\n", name, strings.Join(resp.Roles, " "))
	}
}

// roleGet prints a role's permissions: the ranges it may read, then the
// ranges it may write, as etcdctl does; or a table of them.
func (p *printer) roleGet(name string, resp *api.RoleGetResponse) {
	switch {
	case p.etcd():
		p.message(etcdconv.ToRoleGet(resp))
	case p.format == formatTable:
		p.table([]string{"ROLE", "PERMISSION", "KEYS"}, p.permRows(name, resp.Perm))
	default:
		p.permLines(name, resp.Perm)
	}
}

// permLines prints "Role NAME", then "KV Read:" and "KV Write:" each
// followed by its ranges, one a line (a readwrite permission is in both).
func (p *printer) permLines(role string, perms []api.Permission) {
	p.printf("Role %s\n", role)
	for _, want := range []api.PermType{api.PermRead, api.PermWrite} {
		if want == api.PermRead {
			p.printf("KV Read:\n")
		} else {
			p.printf("KV Write:\n")
		}
		for _, pm := range perms {
			if pm.PermType == want || pm.PermType == api.PermReadWrite {
				p.printf("\t%s\n", p.keyRange(string(pm.Key), string(pm.RangeEnd)))
			}
		}
	}
}

// permRows is a role's permissions as table rows: role, type, keys.
func (p *printer) permRows(role string, perms []api.Permission) [][]string {
	rows := make([][]string, len(perms))
	for i, pm := range perms {
		rows[i] = []string{role, client.PermTypeName(pm.PermType), p.keyRange(string(pm.Key), string(pm.RangeEnd))}
	}
	return rows
}

// keyRange writes the keys a permission covers: "key" for one key,
// "[key, end)" for a range, with " (prefix key)" when the range is a
// prefix, and "[key, <open ended>" for every key from key on.
func (p *printer) keyRange(key, end string) string {
	k := p.bytes([]byte(key))
	switch {
	case end == "":
		return k
	case end == client.FromKeyRangeEnd:
		return "[" + k + ", <open ended>"
	case end == client.PrefixRangeEnd(key):
		return "[" + k + ", " + p.bytes([]byte(end)) + ") (prefix " + k + ")"
	}
	return "[" + k + ", " + p.bytes([]byte(end)) + ")"
}
