package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/client"
	"github.com/cairndb/cairn/client/concurrency"
	"github.com/cairndb/cairn/internal/etcdconv"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
)

// The lock and elect commands: the recipes of package client/concurrency
// from the shell. Both hold a session (a lease ctl keeps alive), so what
// they hold is released when ctl exits, or --ttl seconds after it dies.

// defaultConcurrencyTTL is the default --ttl of lock and elect.
const defaultConcurrencyTTL = 10

func lockCommand() command {
	return command{name: "lock", args: "NAME [COMMAND [ARGS...]]", minArgs: 1, maxArgs: -1,
		summary: "Acquire the lock NAME and print its key. With a COMMAND, run it while holding the lock (its environment\n" +
			"has CAIRN_LOCK_KEY and CAIRN_LOCK_REV, the fencing revision), then release; without one, hold the lock\n" +
			"until interrupted. Put -- before a COMMAND that has flags: ctl lock NAME -- ls -l",
		setup: func(fs *flag.FlagSet) action {
			var ttl int
			fs.IntVar(&ttl, "ttl", defaultConcurrencyTTL, "`seconds` the lock outlives a ctl that stopped renewing it")
			return func(e *env, args []string) error {
				if ttl <= 0 {
					return badUsage("--ttl %d is not a positive number of seconds", ttl)
				}
				return lockAndRun(e, ttl, args[0], args[1:])
			}
		}}
}

// lockAndRun takes lock name, prints its key, runs argv (or waits for an
// interrupt) and releases the lock.
func lockAndRun(e *env, ttl int, name string, argv []string) error {
	c, err := e.client()
	if err != nil {
		return err
	}
	s, err := concurrency.NewSession(c, concurrency.WithTTL(ttl), concurrency.WithContext(e.ctx))
	if err != nil {
		return fmt.Errorf("lock %q: %w", name, err)
	}
	defer s.Close()
	m := concurrency.NewMutex(s, name)
	if err := m.Lock(e.ctx); err != nil {
		if e.ctx.Err() != nil {
			return fmt.Errorf("lock %q: interrupted before it was acquired", name)
		}
		return fmt.Errorf("lock %q: %w", name, err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(e.ctx), e.g.commandTimeout)
		defer cancel()
		_ = m.Unlock(ctx) // Close revokes the lease anyway
	}()
	switch {
	case !e.p.etcd():
		e.p.lockHeld(m.Key())
	case len(argv) == 0:
		// etcdctl prints the lock key's get response while it holds the
		// lock, and nothing when it runs a command (whose output it is).
		if err := e.printGet(m.Key()); err != nil {
			return fmt.Errorf("lock %q: %w", name, err)
		}
	}
	if len(argv) == 0 {
		select {
		case <-e.ctx.Done():
			return nil // interrupted: release and exit
		case <-s.Done():
			if e.ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("lock %q lost: its session's lease could not be kept alive", name)
		}
	}
	return runLocked(e, s, m, name, argv)
}

// runLocked runs argv while the lock is held, stopping it if the lock is
// lost (the session's lease could not be kept alive) or ctl interrupted.
func runLocked(e *env, s *concurrency.Session, m *concurrency.Mutex, name string, argv []string) error {
	ctx, cancel := context.WithCancel(e.ctx)
	defer cancel()
	go func() {
		select {
		case <-s.Done():
			cancel()
		case <-ctx.Done():
		}
	}()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = e.stdin, e.stdout, e.stderr
	cmd.Env = append(os.Environ(), "CAIRN_LOCK_KEY="+m.Key(), fmt.Sprintf("CAIRN_LOCK_REV=%d", m.Rev()))
	err := cmd.Run()
	switch {
	case e.ctx.Err() != nil:
		return fmt.Errorf("%s: interrupted while holding lock %q", argv[0], name)
	case ctx.Err() != nil:
		return fmt.Errorf("%s: stopped: lock %q was lost (its session's lease could not be kept alive)", argv[0], name)
	case err != nil:
		return fmt.Errorf("%s (holding lock %q): %w", argv[0], name, err)
	}
	return nil
}

func electCommand() command {
	return command{name: "elect", args: "NAME [PROPOSAL]", minArgs: 1, maxArgs: 2,
		summary: "Campaign in the election NAME with PROPOSAL as the value; once elected print the leader's key and value,\n" +
			"and lead until interrupted (then resign). With -l, print the leader's key and value each time it changes.",
		setup: func(fs *flag.FlagSet) action {
			var ttl int
			var listen bool
			fs.IntVar(&ttl, "ttl", defaultConcurrencyTTL, "`seconds` leadership outlives a ctl that stopped renewing it")
			fs.BoolVar(&listen, "listen", false, "observe the election instead of campaigning")
			fs.BoolVar(&listen, "l", false, "short for --listen")
			return func(e *env, args []string) error {
				switch {
				case ttl <= 0:
					return badUsage("--ttl %d is not a positive number of seconds", ttl)
				case listen && len(args) > 1:
					return badUsage("elect --listen takes no PROPOSAL")
				case !listen && len(args) < 2:
					return badUsage("elect needs a PROPOSAL to campaign with (or --listen to observe)")
				}
				c, err := e.client()
				if err != nil {
					return err
				}
				s, err := concurrency.NewSession(c, concurrency.WithTTL(ttl), concurrency.WithContext(e.ctx))
				if err != nil {
					return fmt.Errorf("election %q: %w", args[0], err)
				}
				defer s.Close()
				el := concurrency.NewElection(s, args[0])
				if listen {
					return observeElection(e, el, args[0])
				}
				return campaign(e, s, el, args[0], args[1])
			}
		}}
}

// observeElection prints each leader until interrupted.
func observeElection(e *env, el *concurrency.Election, name string) error {
	for kv := range el.Observe(e.ctx) {
		e.p.leader(&kv)
	}
	if e.ctx.Err() != nil {
		return nil
	}
	return fmt.Errorf("observing election %q: stopped unexpectedly", name)
}

// campaign waits to lead, prints the leader, and leads until interrupted.
func campaign(e *env, s *concurrency.Session, el *concurrency.Election, name, proposal string) error {
	if err := el.Campaign(e.ctx, proposal); err != nil {
		if e.ctx.Err() != nil {
			return fmt.Errorf("election %q: interrupted before being elected", name)
		}
		if errors.Is(err, concurrency.ErrSessionExpired) {
			return fmt.Errorf("election %q: the session's lease could not be kept alive", name)
		}
		return err
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(e.ctx), e.g.commandTimeout)
		defer cancel()
		_ = el.Resign(ctx) // Close revokes the lease anyway
	}()
	if e.p.etcd() {
		if err := e.printGet(el.Key()); err != nil { // as etcdctl
			return fmt.Errorf("election %q: %w", name, err)
		}
	} else {
		e.p.leader(&api.KeyValue{Key: []byte(el.Key()), Value: []byte(proposal), CreateRevision: el.Rev()})
	}
	select {
	case <-e.ctx.Done():
		return nil // interrupted: resign and exit
	case <-s.Done():
		if e.ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("election %q: leadership lost: the session's lease could not be kept alive", name)
	}
}

// printGet reads key and prints the response, as etcdctl prints a held
// lock's key or an elected leader's in its message formats.
func (e *env) printGet(key string) error {
	return call(e, fmt.Sprintf("reading %q", key),
		func(ctx context.Context, c *client.Client) (*api.RangeResponse, error) { return c.Get(ctx, key) },
		func(resp *api.RangeResponse) { e.p.get(resp, false) })
}

// lockHeld prints the key of a lock just acquired.
func (p *printer) lockHeld(key string) {
	p.printf("%s\n", p.bytes([]byte(key)))
}

// leader prints an election's leader: its key and value. In the etcd
// formats it is a get response holding the leader's key-value, as
// etcdctl prints each leader it observes; ctl has the key-value alone,
// so the response has no header.
func (p *printer) leader(kv *api.KeyValue) {
	if p.etcd() {
		p.message(&pb.RangeResponse{Kvs: []*mvccpb.KeyValue{etcdconv.ToKV(kv)}, Count: 1})
		return
	}
	p.kv(kv)
}
