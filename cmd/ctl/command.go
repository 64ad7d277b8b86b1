package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"regexp"
	"strings"

	"github.com/cairndb/cairn/client"
)

// command is one ctl command: its name ("get", or "lease grant" for a
// command of a group), its arguments, and what it does: setup, which
// registers the command's flags and returns the action that runs once
// they are parsed, or for a command without flags of its own just run.
type command struct {
	name    string
	args    string // the positional arguments, as the usage line shows them
	summary string
	minArgs int
	maxArgs int // -1: no limit
	setup   func(fs *flag.FlagSet) action
	run     action // instead of setup, for a command without flags
}

// action runs a command with its positional arguments.
type action func(e *env, args []string) error

// flags registers the command's flags on fs and returns its action.
func (c *command) flags(fs *flag.FlagSet) action {
	if c.setup == nil {
		return c.run
	}
	return c.setup(fs)
}

// call is the body of most commands: one request, with the client and a
// context bounded by --command-timeout, whose answer show prints. A
// failed request prints nothing and returns "what: error" (the error
// alone if what is empty); failing to connect returns that error as is.
func call[R any](e *env, what string, req func(context.Context, *client.Client) (R, error), show func(R)) error {
	c, err := e.client()
	if err != nil {
		return err
	}
	ctx, cancel := e.request()
	defer cancel()
	resp, err := req(ctx, c)
	if err != nil {
		if what != "" {
			err = fmt.Errorf("%s: %w", what, err)
		}
		return err
	}
	show(resp)
	return nil
}

// commands lists every command, in the order help shows them.
func commands() []command {
	return []command{
		putCommand(), getCommand(), delCommand(), txnCommand(), watchCommand(), compactionCommand(),
		leaseGrantCommand(), leaseRevokeCommand(), leaseTimeToLiveCommand(), leaseListCommand(), leaseKeepAliveCommand(),
		memberListCommand(), memberAddCommand(), memberRemoveCommand(), memberUpdateCommand(), memberPromoteCommand(),
		endpointStatusCommand(), endpointHealthCommand(), endpointHashKVCommand(),
		snapshotSaveCommand(), snapshotStatusCommand(), snapshotRestoreCommand(),
		defragCommand(), moveLeaderCommand(), alarmListCommand(), alarmDisarmCommand(),
		authEnableCommand(), authDisableCommand(), authStatusCommand(),
		userAddCommand(), userGetCommand(), userListCommand(), userDeleteCommand(), userPasswdCommand(),
		userGrantRoleCommand(), userRevokeRoleCommand(),
		roleAddCommand(), roleGetCommand(), roleListCommand(), roleDeleteCommand(),
		roleGrantPermissionCommand(), roleRevokePermissionCommand(),
		mirrorCommand(), lockCommand(), electCommand(), checkPerfCommand(), checkDatascaleCommand(),
		versionCommand(), completionCommand(),
	}
}

// usage is the command's usage line.
func (c *command) usage() string {
	u := "ctl " + c.name
	if c.args != "" {
		u += " " + c.args
	}
	return u + " [flags]"
}

// argCount describes how many arguments the command takes.
func (c *command) argCount() string {
	plural := func(n int) string {
		if n == 1 {
			return "1 argument"
		}
		return fmt.Sprintf("%d arguments", n)
	}
	switch {
	case c.maxArgs < 0:
		return "at least " + plural(c.minArgs)
	case c.minArgs == c.maxArgs && c.minArgs == 0:
		return "no arguments"
	case c.minArgs == c.maxArgs:
		return plural(c.minArgs)
	default:
		return fmt.Sprintf("%d to %d arguments", c.minArgs, c.maxArgs)
	}
}

// help is the text of 'ctl COMMAND -h': usage, summary and the command's
// own flags (not the global ones).
func (c *command) help() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Usage: %s\n\n%s\n", c.usage(), c.summary)
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	c.flags(fs)
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	if n > 0 {
		b.WriteString("\nFlags:\n")
		fs.SetOutput(&b)
		fs.PrintDefaults()
	}
	return b.String()
}

// parseInterspersed parses flags placed anywhere among the positional
// arguments (the flag package alone stops at the first positional one)
// and returns the positional arguments. Everything after "--" is
// positional, so values starting with '-' can be given.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if used := len(args) - len(rest); used > 0 && args[used-1] == "--" {
			return append(pos, rest...), nil
		}
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// usageError is a wrong command line: exit status 2 and a usage line.
type usageError struct {
	msg   string
	usage string
}

// Error returns the message.
func (e *usageError) Error() string { return e.msg }

// usageErrorf returns a usageError with the given usage line.
func usageErrorf(usage, format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...), usage: usage}
}

// flagMessages rewrite the flag package's errors the way etcdctl words
// them, the flag written as it is on etcdctl's command line.
var flagMessages = []struct {
	re   *regexp.Regexp
	with func(m []string) string
}{
	{regexp.MustCompile(`^flag provided but not defined: -(.*)$`),
		func(m []string) string { return "unknown flag: " + dashed(m[1]) }},
	{regexp.MustCompile(`^invalid (?:boolean )?value ("(?:[^"\\]|\\.)*") for (?:flag )?-([^:]*): (.*)$`),
		func(m []string) string {
			return fmt.Sprintf("invalid argument %s for %q flag: %s", m[1], dashed(m[2]), m[3])
		}},
	{regexp.MustCompile(`^flag needs an argument: -(.*)$`),
		func(m []string) string { return "flag needs an argument: " + dashed(m[1]) }},
}

// dashed writes a flag's name as typed: -w, --write-out.
func dashed(name string) string {
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}

// flagError turns an error parsing flags into the error ctl reports: it
// names the flag, and exits 1 without a usage line, as etcdctl's do.
func flagError(err error) error {
	msg := err.Error()
	for _, f := range flagMessages {
		if m := f.re.FindStringSubmatch(msg); m != nil {
			return errors.New(f.with(m))
		}
	}
	return errors.New(msg)
}

// helpRequest is -h, --help or 'help': print text and exit 0.
type helpRequest struct{ text string }

// Error says help was asked for; run prints the text instead.
func (h *helpRequest) Error() string { return "help requested" }

// stringList is a flag holding a comma-separated list.
type stringList []string

// String joins the list with commas.
func (l *stringList) String() string { return strings.Join(*l, ",") }

// Set splits a comma-separated value, dropping empty items.
func (l *stringList) Set(v string) error {
	*l = nil
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

// badUsage is a usage error found by a command's action (flags that
// cannot go together, a malformed argument); run adds the usage line.
func badUsage(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}
