package main

import (
	"context"
	"flag"
	"fmt"
	"net/url"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/client"
	"github.com/cairndb/cairn/internal/etcdconv"
)

func memberListCommand() command {
	return command{name: "member list", minArgs: 0, maxArgs: 0,
		summary: "List the members: ID, status, name, peer URLs, client URLs, learner",
		run: func(e *env, _ []string) error {
			return call(e, "listing members",
				func(ctx context.Context, c *client.Client) (*api.MemberListResponse, error) { return c.MemberList(ctx) },
				e.p.memberList)
		}}
}

// checkPeerURLs checks --peer-urls holds http:// or https:// URLs with a
// host and port.
func checkPeerURLs(urls stringList) error {
	if len(urls) == 0 {
		return badUsage("--peer-urls is required (comma-separated http(s)://host:port URLs)")
	}
	for _, s := range urls {
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Port() == "" || u.Hostname() == "" {
			return badUsage("--peer-urls: %q is not an http(s)://host:port URL", s)
		}
	}
	return nil
}

func memberAddCommand() command {
	return command{name: "member add", args: "NAME", minArgs: 1, maxArgs: 1,
		summary: "Add member NAME with --peer-urls; prints the cmd/node flags that start it",
		setup: func(fs *flag.FlagSet) action {
			var peers stringList
			var learner bool
			fs.Var(&peers, "peer-urls", "the new member's comma-separated peer `URLs`")
			fs.BoolVar(&learner, "learner", false, "add the member as a non-voting learner")
			return func(e *env, args []string) error {
				if err := checkPeerURLs(peers); err != nil {
					return err
				}
				add := (*client.Client).MemberAdd
				if learner {
					add = (*client.Client).MemberAddAsLearner
				}
				return call(e, "adding member "+args[0],
					func(ctx context.Context, c *client.Client) (*api.MemberAddResponse, error) { return add(c, ctx, peers) },
					func(resp *api.MemberAddResponse) { e.p.memberAdd(args[0], resp) })
			}
		}}
}

// memberIDArg parses the ID argument of a member command as a usage
// error.
func memberIDArg(s string) (uint64, error) {
	id, err := parseMemberID(s)
	if err != nil {
		return 0, badUsage("%v", err)
	}
	return id, nil
}

func memberRemoveCommand() command {
	return command{name: "member remove", args: "ID", minArgs: 1, maxArgs: 1,
		summary: "Remove member ID (hex)",
		run: func(e *env, args []string) error {
			id, err := memberIDArg(args[0])
			if err != nil {
				return err
			}
			return call(e, fmt.Sprintf("removing member %016x", id),
				func(ctx context.Context, c *client.Client) (*api.MemberRemoveResponse, error) {
					return c.MemberRemove(ctx, id)
				},
				func(resp *api.MemberRemoveResponse) {
					e.p.memberChanged(id, "removed from", resp.Header, etcdconv.ToMemberRemove(resp))
				})
		}}
}

func memberUpdateCommand() command {
	return command{name: "member update", args: "ID", minArgs: 1, maxArgs: 1,
		summary: "Replace member ID's peer URLs with --peer-urls",
		setup: func(fs *flag.FlagSet) action {
			var peers stringList
			fs.Var(&peers, "peer-urls", "the member's new comma-separated peer `URLs`")
			return func(e *env, args []string) error {
				id, err := memberIDArg(args[0])
				if err != nil {
					return err
				}
				if err := checkPeerURLs(peers); err != nil {
					return err
				}
				return call(e, fmt.Sprintf("updating member %016x", id),
					func(ctx context.Context, c *client.Client) (*api.MemberUpdateResponse, error) {
						return c.MemberUpdate(ctx, id, peers)
					},
					func(resp *api.MemberUpdateResponse) {
						e.p.memberChanged(id, "updated in", resp.Header, etcdconv.ToMemberUpdate(resp))
					})
			}
		}}
}

func memberPromoteCommand() command {
	return command{name: "member promote", args: "ID", minArgs: 1, maxArgs: 1,
		summary: "Make learner ID a voting member (once it has caught up)",
		run: func(e *env, args []string) error {
			id, err := memberIDArg(args[0])
			if err != nil {
				return err
			}
			return call(e, fmt.Sprintf("promoting member %016x", id),
				func(ctx context.Context, c *client.Client) (*api.MemberPromoteResponse, error) {
					return c.MemberPromote(ctx, id)
				},
				func(resp *api.MemberPromoteResponse) {
					e.p.memberChanged(id, "promoted in", resp.Header, etcdconv.ToMemberPromote(resp))
				})
		}}
}
