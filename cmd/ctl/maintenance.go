package main

import (
	"context"
	"errors"
	"flag"
	"fmt"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/client"
)

func defragCommand() command {
	return command{name: "defrag", minArgs: 0, maxArgs: 0,
		summary: "Defragment each endpoint's store, one member at a time, returning free space to the file system",
		setup: func(fs *flag.FlagSet) action {
			var cluster bool
			fs.BoolVar(&cluster, "cluster", false, "visit every member's client URLs, from the member list")
			return func(e *env, _ []string) error {
				eps, err := e.endpointsOrCluster(cluster)
				if err != nil {
					return err
				}
				c, err := e.client()
				if err != nil {
					return err
				}
				// One at a time: a member defragmenting serves nothing, so
				// never take several out together.
				errs := make([]error, len(eps))
				for i, ep := range eps {
					ctx, cancel := e.request()
					_, errs[i] = c.Defragment(ctx, ep)
					cancel()
					if errs[i] == nil {
						e.p.printf("Finished defragmenting member[%s]\n", ep)
					}
				}
				return failures(e, "defragment member", eps, errs)
			}
		}}
}

func moveLeaderCommand() command {
	return command{name: "move-leader", args: "TARGET_ID", minArgs: 1, maxArgs: 1,
		summary: "Hand leadership to member TARGET_ID (hex)",
		run: func(e *env, args []string) error {
			target, err := memberIDArg(args[0])
			if err != nil {
				return err
			}
			c, err := e.client()
			if err != nil {
				return err
			}
			ctx, cancel := e.request()
			defer cancel()
			var leader uint64
			var lastErr error
			for _, ep := range e.g.endpointList() {
				st, err := c.Status(ctx, ep)
				if err != nil {
					lastErr = err
					continue
				}
				if leader = st.Leader; leader != 0 {
					break
				}
			}
			if leader == 0 {
				if lastErr != nil {
					return fmt.Errorf("finding the leader: %w", lastErr)
				}
				return errors.New("finding the leader: no endpoint knows one")
			}
			resp, err := c.MoveLeader(ctx, target)
			if err != nil {
				return fmt.Errorf("moving leadership from %016x to %016x: %w", leader, target, err)
			}
			e.p.moveLeader(leader, target, resp)
			return nil
		}}
}

func alarmListCommand() command {
	return command{name: "alarm list", minArgs: 0, maxArgs: 0,
		summary: "List the raised alarms",
		run: func(e *env, _ []string) error {
			return call(e, "listing alarms",
				func(ctx context.Context, c *client.Client) (*api.AlarmResponse, error) { return c.AlarmList(ctx) },
				e.p.alarms)
		}}
}

func alarmDisarmCommand() command {
	return command{name: "alarm disarm", minArgs: 0, maxArgs: 0,
		summary: "Clear every raised alarm; prints those cleared",
		run: func(e *env, _ []string) error {
			return call(e, "disarming alarms",
				func(ctx context.Context, c *client.Client) (*api.AlarmResponse, error) {
					return c.AlarmDisarm(ctx, api.AlarmMember{})
				},
				e.p.alarms)
		}}
}

func versionCommand() command {
	return command{name: "version", minArgs: 0, maxArgs: 0,
		summary: "Print ctl's version",
		run: func(e *env, _ []string) error {
			// One line in every format, as etcdctl's version.
			e.p.printf("ctl version: %s\n", version)
			return nil
		}}
}
