package main

import (
	"context"
	"flag"
	"fmt"
	"strings"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/client"
	"github.com/cairndb/cairn/internal/etcdconv"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

func userAddCommand() command {
	return command{name: "user add", args: "NAME[:PASSWORD]", minArgs: 1, maxArgs: 1,
		summary: "Create a user; without :PASSWORD the password is asked for (or read from stdin)",
		setup: func(fs *flag.FlagSet) action {
			var noPassword, interactive bool
			fs.BoolVar(&noPassword, "no-password", false, "create a user who cannot log in with a password (only with a client certificate)")
			fs.BoolVar(&interactive, "interactive", true, "ask for the password twice on a terminal; false: read it as a line of stdin")
			return func(e *env, args []string) error {
				name, password, hasPassword := strings.Cut(args[0], ":")
				if name == "" {
					return badUsage("the user name is empty")
				}
				if noPassword && hasPassword {
					return badUsage("a password was given with --no-password")
				}
				c, err := e.client() // --user's password is read before the new one
				if err != nil {
					return err
				}
				if !noPassword && !hasPassword {
					if password, err = e.newPassword(name, interactive); err != nil {
						return err
					}
				}
				ctx, cancel := e.request()
				defer cancel()
				var resp *api.UserAddResponse
				if noPassword {
					resp, err = c.UserAddNoPassword(ctx, name)
				} else {
					resp, err = c.UserAdd(ctx, name, password)
				}
				if err != nil {
					return fmt.Errorf("adding user %s: %w", name, err)
				}
				e.p.done(&pb.AuthUserAddResponse{Header: etcdconv.ToHeader(resp.Header)}, "User "+name+" created")
				return nil
			}
		}}
}

func userGetCommand() command {
	return command{name: "user get", args: "NAME", minArgs: 1, maxArgs: 1,
		summary: "Show the roles of a user (--detail: and their permissions)",
		setup: func(fs *flag.FlagSet) action {
			var detail bool
			fs.BoolVar(&detail, "detail", false, "also show each role's permissions")
			return func(e *env, args []string) error {
				if !detail && e.p.format == formatFields {
					return badUsage("user get cannot print in the fields format without --detail (nor can etcdctl); use json")
				}
				return e.do(func(ctx context.Context, c *client.Client) error {
					resp, err := c.UserGet(ctx, args[0])
					if err != nil {
						return fmt.Errorf("reading user %s: %w", args[0], err)
					}
					var roles []roleDetail
					for _, r := range resp.Roles {
						if !detail {
							break
						}
						rr, err := c.RoleGet(ctx, r)
						if err != nil {
							return fmt.Errorf("reading role %s of user %s: %w", r, args[0], err)
						}
						roles = append(roles, roleDetail{Role: r, Resp: rr})
					}
					e.p.userGet(args[0], resp, detail, roles)
					return nil
				})
			}
		}}
}

func userListCommand() command {
	return command{name: "user list", minArgs: 0, maxArgs: 0,
		summary: "List the users",
		run: func(e *env, _ []string) error {
			return call(e, "listing users",
				func(ctx context.Context, c *client.Client) (*api.UserListResponse, error) { return c.UserList(ctx) },
				func(resp *api.UserListResponse) { e.p.names(etcdconv.ToUserList(resp), "USER", resp.Users) })
		}}
}

func userDeleteCommand() command {
	return command{name: "user delete", args: "NAME", minArgs: 1, maxArgs: 1,
		summary: "Delete a user",
		run: func(e *env, args []string) error {
			return call(e, fmt.Sprintf("deleting user %s", args[0]),
				func(ctx context.Context, c *client.Client) (*api.UserDeleteResponse, error) {
					return c.UserDelete(ctx, args[0])
				},
				func(resp *api.UserDeleteResponse) {
					e.p.done(&pb.AuthUserDeleteResponse{Header: etcdconv.ToHeader(resp.Header)}, "User "+args[0]+" deleted")
				})
		}}
}

func userPasswdCommand() command {
	return command{name: "user passwd", args: "NAME", minArgs: 1, maxArgs: 1,
		summary: "Change a user's password (asked for, or read from stdin)",
		setup: func(fs *flag.FlagSet) action {
			var interactive bool
			fs.BoolVar(&interactive, "interactive", true, "ask for the password twice on a terminal; false: read it as a line of stdin")
			return func(e *env, args []string) error {
				c, err := e.client()
				if err != nil {
					return err
				}
				password, err := e.newPassword(args[0], interactive)
				if err != nil {
					return err
				}
				ctx, cancel := e.request()
				defer cancel()
				resp, err := c.UserChangePassword(ctx, args[0], password)
				if err != nil {
					return fmt.Errorf("changing the password of user %s: %w", args[0], err)
				}
				e.p.done(&pb.AuthUserChangePasswordResponse{Header: etcdconv.ToHeader(resp.Header)}, "Password updated")
				return nil
			}
		}}
}

func userGrantRoleCommand() command {
	return command{name: "user grant-role", args: "NAME ROLE", minArgs: 2, maxArgs: 2,
		summary: "Grant role ROLE to user NAME",
		run: func(e *env, args []string) error {
			return call(e, fmt.Sprintf("granting role %s to user %s", args[1], args[0]),
				func(ctx context.Context, c *client.Client) (*api.UserGrantRoleResponse, error) {
					return c.UserGrantRole(ctx, args[0], args[1])
				},
				func(resp *api.UserGrantRoleResponse) {
					e.p.done(&pb.AuthUserGrantRoleResponse{Header: etcdconv.ToHeader(resp.Header)}, "Role "+args[1]+" is granted to user "+args[0])
				})
		}}
}

func userRevokeRoleCommand() command {
	return command{name: "user revoke-role", args: "NAME ROLE", minArgs: 2, maxArgs: 2,
		summary: "Take role ROLE away from user NAME",
		run: func(e *env, args []string) error {
			return call(e, fmt.Sprintf("revoking role %s from user %s", args[1], args[0]),
				func(ctx context.Context, c *client.Client) (*api.UserRevokeRoleResponse, error) {
					return c.UserRevokeRole(ctx, args[0], args[1])
				},
				func(resp *api.UserRevokeRoleResponse) {
					e.p.done(&pb.AuthUserRevokeRoleResponse{Header: etcdconv.ToHeader(resp.Header)}, "Role "+args[1]+" is revoked from user "+args[0])
				})
		}}
}
