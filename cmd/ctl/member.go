package main

import (
	"flag"
	"fmt"
	"net/url"

	"github.com/cairndb/cairn/internal/etcdconv"
)

func memberListCommand() command {
	return command{name: "member list", minArgs: 0, maxArgs: 0,
		summary: "List the members: ID, status, name, peer URLs, client URLs, learner",
		setup: func(fs *flag.FlagSet) action {
			return func(e *env, _ []string) error {
				c, err := e.client()
				if err != nil {
					return err
				}
				ctx, cancel := e.request()
				defer cancel()
				resp, err := c.MemberList(ctx)
				if err != nil {
					return fmt.Errorf("listing members: %w", err)
				}
				e.p.memberList(resp)
				return nil
			}
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
				c, err := e.client()
				if err != nil {
					return err
				}
				ctx, cancel := e.request()
				defer cancel()
				add := c.MemberAdd
				if learner {
					add = c.MemberAddAsLearner
				}
				resp, err := add(ctx, peers)
				if err != nil {
					return fmt.Errorf("adding member %s: %w", args[0], err)
				}
				e.p.memberAdd(args[0], resp)
				return nil
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
		setup: func(fs *flag.FlagSet) action {
			return func(e *env, args []string) error {
				id, err := memberIDArg(args[0])
				if err != nil {
					return err
				}
				c, err := e.client()
				if err != nil {
					return err
				}
				ctx, cancel := e.request()
				defer cancel()
				resp, err := c.MemberRemove(ctx, id)
				if err != nil {
					return fmt.Errorf("removing member %016x: %w", id, err)
				}
				e.p.memberChanged(id, "removed from", resp.Header, etcdconv.ToMemberRemove(resp))
				return nil
			}
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
				c, err := e.client()
				if err != nil {
					return err
				}
				ctx, cancel := e.request()
				defer cancel()
				resp, err := c.MemberUpdate(ctx, id, peers)
				if err != nil {
					return fmt.Errorf("updating member %016x: %w", id, err)
				}
				e.p.memberChanged(id, "updated in", resp.Header, etcdconv.ToMemberUpdate(resp))
				return nil
			}
		}}
}

func memberPromoteCommand() command {
	return command{name: "member promote", args: "ID", minArgs: 1, maxArgs: 1,
		summary: "Make learner ID a voting member (once it has caught up)",
		setup: func(fs *flag.FlagSet) action {
			return func(e *env, args []string) error {
				id, err := memberIDArg(args[0])
				if err != nil {
					return err
				}
				c, err := e.client()
				if err != nil {
					return err
				}
				ctx, cancel := e.request()
				defer cancel()
				resp, err := c.MemberPromote(ctx, id)
				if err != nil {
					return fmt.Errorf("promoting member %016x: %w", id, err)
				}
				e.p.memberChanged(id, "promoted in", resp.Header, etcdconv.ToMemberPromote(resp))
				return nil
			}
		}}
}
