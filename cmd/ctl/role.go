package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/client"
	"github.com/cairndb/cairn/internal/etcdconv"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

func roleAddCommand() command {
	return command{name: "role add", args: "NAME", minArgs: 1, maxArgs: 1,
		summary: "Create a role with no permissions",
		run: func(e *env, args []string) error {
			return call(e, fmt.Sprintf("adding role %s", args[0]),
				func(ctx context.Context, c *client.Client) (*api.RoleAddResponse, error) {
					return c.RoleAdd(ctx, args[0])
				},
				func(resp *api.RoleAddResponse) {
					e.p.done(&pb.AuthRoleAddResponse{Header: etcdconv.ToHeader(resp.Header)}, "Role "+args[0]+" created")
				})
		}}
}

func roleGetCommand() command {
	return command{name: "role get", args: "NAME", minArgs: 1, maxArgs: 1,
		summary: "Show a role's permissions",
		run: func(e *env, args []string) error {
			return call(e, fmt.Sprintf("reading role %s", args[0]),
				func(ctx context.Context, c *client.Client) (*api.RoleGetResponse, error) {
					return c.RoleGet(ctx, args[0])
				},
				func(resp *api.RoleGetResponse) { e.p.roleGet(args[0], resp) })
		}}
}

func roleListCommand() command {
	return command{name: "role list", minArgs: 0, maxArgs: 0,
		summary: "List the roles",
		run: func(e *env, _ []string) error {
			return call(e, "listing roles",
				func(ctx context.Context, c *client.Client) (*api.RoleListResponse, error) { return c.RoleList(ctx) },
				func(resp *api.RoleListResponse) { e.p.names(etcdconv.ToRoleList(resp), "ROLE", resp.Roles) })
		}}
}

func roleDeleteCommand() command {
	return command{name: "role delete", args: "NAME", minArgs: 1, maxArgs: 1,
		summary: "Delete a role, revoking it from every user",
		run: func(e *env, args []string) error {
			return call(e, fmt.Sprintf("deleting role %s", args[0]),
				func(ctx context.Context, c *client.Client) (*api.RoleDeleteResponse, error) {
					return c.RoleDelete(ctx, args[0])
				},
				func(resp *api.RoleDeleteResponse) {
					e.p.done(&pb.AuthRoleDeleteResponse{Header: etcdconv.ToHeader(resp.Header)}, "Role "+args[0]+" deleted")
				})
		}}
}

// permRange turns KEY [END] and --prefix/--from-key into the range
// a permission covers ("" end: the key alone). A permission's key cannot
// be empty (members refuse it, as etcd's do): the empty KEY with --prefix
// or --from-key, every key, is sent as etcdctl sends it, from "\x00".
func permRange(prefix, fromKey bool, args []string) (key, end string, err error) {
	key = args[0]
	switch {
	case prefix && fromKey:
		return "", "", badUsage("--prefix and --from-key cannot be set at the same time")
	case (prefix || fromKey) && len(args) > 1:
		return "", "", badUsage("an END cannot be given with --prefix or --from-key")
	case key == "" && (prefix || fromKey):
		return "\x00", client.FromKeyRangeEnd, nil
	case prefix:
		end = client.PrefixRangeEnd(key)
	case fromKey:
		end = client.FromKeyRangeEnd
	case len(args) > 1:
		end = args[1]
	}
	return key, end, nil
}

func roleGrantPermissionCommand() command {
	return command{name: "role grant-permission", args: "NAME TYPE KEY [END]", minArgs: 3, maxArgs: 4,
		summary: "Let role NAME access the keys in [KEY, END) (or KEY alone, --prefix, --from-key); TYPE is read, write or readwrite",
		setup: func(fs *flag.FlagSet) action {
			var prefix, fromKey bool
			fs.BoolVar(&prefix, "prefix", false, "grant on every key starting with KEY")
			fs.BoolVar(&fromKey, "from-key", false, "grant on every key at or after KEY")
			return func(e *env, args []string) error {
				perm, err := client.ParsePermType(args[1])
				if err != nil {
					return badUsage("permission type %q: want read, write or readwrite", args[1])
				}
				key, end, err := permRange(prefix, fromKey, args[2:])
				if err != nil {
					return err
				}
				return call(e, fmt.Sprintf("granting %s on %s to role %s", client.PermTypeName(perm), e.p.keyRange(key, end), args[0]),
					func(ctx context.Context, c *client.Client) (*api.RoleGrantPermissionResponse, error) {
						return c.RoleGrantPermission(ctx, args[0], key, end, perm)
					},
					func(resp *api.RoleGrantPermissionResponse) {
						e.p.done(&pb.AuthRoleGrantPermissionResponse{Header: etcdconv.ToHeader(resp.Header)}, "Role "+args[0]+" updated")
					})
			}
		}}
}

func roleRevokePermissionCommand() command {
	return command{name: "role revoke-permission", args: "NAME KEY [END]", minArgs: 2, maxArgs: 3,
		summary: "Remove role NAME's permission on exactly [KEY, END) (or KEY alone, --prefix, --from-key)",
		setup: func(fs *flag.FlagSet) action {
			var prefix, fromKey bool
			fs.BoolVar(&prefix, "prefix", false, "the permission was granted on every key starting with KEY")
			fs.BoolVar(&fromKey, "from-key", false, "the permission was granted on every key at or after KEY")
			return func(e *env, args []string) error {
				key, end, err := permRange(prefix, fromKey, args[1:])
				if err != nil {
					return err
				}
				return call(e, fmt.Sprintf("revoking the permission on %s from role %s", e.p.keyRange(key, end), args[0]),
					func(ctx context.Context, c *client.Client) (*api.RoleRevokePermissionResponse, error) {
						return c.RoleRevokePermission(ctx, args[0], key, end)
					},
					func(resp *api.RoleRevokePermissionResponse) {
						what := "key " + e.p.bytes([]byte(key))
						if end != "" {
							what = "range " + e.p.keyRange(key, end)
						}
						e.p.done(&pb.AuthRoleRevokePermissionResponse{Header: etcdconv.ToHeader(resp.Header)}, "Permission of "+what+" is revoked from role "+args[0])
					})
			}
		}}
}
