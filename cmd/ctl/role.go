package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/cairndb/cairn/client"
	"github.com/cairndb/cairn/internal/etcdconv"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

func roleAddCommand() command {
	return command{name: "role add", args: "NAME", minArgs: 1, maxArgs: 1,
		summary: "Create a role with no permissions",
		setup: func(fs *flag.FlagSet) action {
			return func(e *env, args []string) error {
				return e.do(func(ctx context.Context, c *client.Client) error {
					resp, err := c.RoleAdd(ctx, args[0])
					if err != nil {
						return fmt.Errorf("adding role %s: %w", args[0], err)
					}
					e.p.done(&pb.AuthRoleAddResponse{Header: etcdconv.ToHeader(resp.Header)}, "Role "+args[0]+" created")
					return nil
				})
			}
		}}
}

func roleGetCommand() command {
	return command{name: "role get", args: "NAME", minArgs: 1, maxArgs: 1,
		summary: "Show a role's permissions",
		setup: func(fs *flag.FlagSet) action {
			return func(e *env, args []string) error {
				return e.do(func(ctx context.Context, c *client.Client) error {
					resp, err := c.RoleGet(ctx, args[0])
					if err != nil {
						return fmt.Errorf("reading role %s: %w", args[0], err)
					}
					e.p.roleGet(args[0], resp)
					return nil
				})
			}
		}}
}

func roleListCommand() command {
	return command{name: "role list", minArgs: 0, maxArgs: 0,
		summary: "List the roles",
		setup: func(fs *flag.FlagSet) action {
			return func(e *env, _ []string) error {
				return e.do(func(ctx context.Context, c *client.Client) error {
					resp, err := c.RoleList(ctx)
					if err != nil {
						return fmt.Errorf("listing roles: %w", err)
					}
					e.p.names(etcdconv.ToRoleList(resp), "ROLE", resp.Roles)
					return nil
				})
			}
		}}
}

func roleDeleteCommand() command {
	return command{name: "role delete", args: "NAME", minArgs: 1, maxArgs: 1,
		summary: "Delete a role, revoking it from every user",
		setup: func(fs *flag.FlagSet) action {
			return func(e *env, args []string) error {
				return e.do(func(ctx context.Context, c *client.Client) error {
					resp, err := c.RoleDelete(ctx, args[0])
					if err != nil {
						return fmt.Errorf("deleting role %s: %w", args[0], err)
					}
					e.p.done(&pb.AuthRoleDeleteResponse{Header: etcdconv.ToHeader(resp.Header)}, "Role "+args[0]+" deleted")
					return nil
				})
			}
		}}
}

// permRange turns KEY [END] and --prefix/--from-key into the range
// a permission covers ("" end: the key alone).
func permRange(prefix, fromKey bool, args []string) (key, end string, err error) {
	key = args[0]
	switch {
	case prefix && fromKey:
		return "", "", badUsage("--prefix and --from-key cannot be set at the same time")
	case (prefix || fromKey) && len(args) > 1:
		return "", "", badUsage("an END cannot be given with --prefix or --from-key")
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
				return e.do(func(ctx context.Context, c *client.Client) error {
					resp, err := c.RoleGrantPermission(ctx, args[0], key, end, perm)
					if err != nil {
						return fmt.Errorf("granting %s on %s to role %s: %w", client.PermTypeName(perm), e.p.keyRange(key, end), args[0], err)
					}
					e.p.done(&pb.AuthRoleGrantPermissionResponse{Header: etcdconv.ToHeader(resp.Header)}, "Role "+args[0]+" updated")
					return nil
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
				return e.do(func(ctx context.Context, c *client.Client) error {
					resp, err := c.RoleRevokePermission(ctx, args[0], key, end)
					if err != nil {
						return fmt.Errorf("revoking the permission on %s from role %s: %w", e.p.keyRange(key, end), args[0], err)
					}
					what := "key " + e.p.bytes([]byte(key))
					if end != "" {
						what = "range " + e.p.keyRange(key, end)
					}
					e.p.done(&pb.AuthRoleRevokePermissionResponse{Header: etcdconv.ToHeader(resp.Header)}, "Permission of "+what+" is revoked from role "+args[0])
					return nil
				})
			}
		}}
}
