package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/client"
)

// The auth, user and role commands manage authentication as etcdctl's
// do: a root user with the root role first, then auth enable; from then
// on every command names its user with --user.

// do runs one request with the client and a context bounded by
// --command-timeout.
func (e *env) do(f func(ctx context.Context, c *client.Client) error) error {
	c, err := e.client()
	if err != nil {
		return err
	}
	ctx, cancel := e.request()
	defer cancel()
	return f(ctx, c)
}

func authEnableCommand() command {
	return command{name: "auth enable", minArgs: 0, maxArgs: 0,
		summary: "Turn authentication on (user root must exist; it is given role root if it lacks it)",
		run: func(e *env, _ []string) error {
			return e.do(func(ctx context.Context, c *client.Client) error {
				_, err := c.AuthEnable(ctx)
				if errors.Is(err, api.ErrRootRoleNotExist) {
					// As etcdctl: give user root the root role, then enable.
					if _, err := c.UserGrantRole(ctx, "root", "root"); err != nil {
						return fmt.Errorf("enabling authentication: granting role root to user root: %w", err)
					}
					_, err = c.AuthEnable(ctx)
				}
				if err != nil {
					return fmt.Errorf("enabling authentication: %w", err)
				}
				e.p.printf("Authentication Enabled\n") // in every format, as etcdctl
				return nil
			})
		}}
}

func authDisableCommand() command {
	return command{name: "auth disable", minArgs: 0, maxArgs: 0,
		summary: "Turn authentication off (as root)",
		run: func(e *env, _ []string) error {
			return call(e, "disabling authentication",
				func(ctx context.Context, c *client.Client) (*api.AuthDisableResponse, error) {
					return c.AuthDisable(ctx)
				},
				func(*api.AuthDisableResponse) { e.p.printf("Authentication Disabled\n") }) // in every format, as etcdctl
		}}
}

func authStatusCommand() command {
	return command{name: "auth status", minArgs: 0, maxArgs: 0,
		summary: "Show whether authentication is on, and the revision of users, roles and permissions",
		run: func(e *env, _ []string) error {
			return call(e, "reading the authentication status",
				func(ctx context.Context, c *client.Client) (*api.AuthStatusResponse, error) { return c.AuthStatus(ctx) },
				e.p.authStatus)
		}}
}
