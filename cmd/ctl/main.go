// Command ctl is cairn's command-line client, in the style of etcdctl: it
// talks to a cluster through the Go client library (package client) and
// prints what the cluster answered.
//
// Usage:
//
//	ctl [global flags] COMMAND [flags] [arguments]
//
// Global flags may also follow the command. They are --endpoints
// (comma-separated host:port or http(s):// URLs, default 127.0.0.1:2379),
// --dial-timeout, --command-timeout, -w/--write-out (simple, table, or
// json, fields and protobuf, which print what etcdctl 3.6 prints: etcd's
// messages, so scripts written for etcdctl's output read ctl's), --hex,
// the TLS flags --cacert, --cert, --key and --insecure-skip-tls-verify,
// and --user name[:password] (with --password, or else the password asked
// for on a terminal or read as a line of stdin) to act as a user of a
// cluster with authentication on.
//
// Commands:
//
//	put KEY [VALUE]                  write a key (the value from stdin if omitted)
//	get KEY [RANGE_END]              read a key or a range
//	del KEY [RANGE_END]              delete a key or a range
//	txn                              run a transaction read from stdin (-i: interactively)
//	watch KEY [RANGE_END]            print changes as they happen (-i: watch lines from stdin)
//	compaction REV                   discard the history before REV
//	lease grant TTL                  create a lease
//	lease revoke ID                  revoke a lease and delete its keys
//	lease timetolive ID              show a lease's remaining time (--keys: its keys)
//	lease list                       list the leases
//	lease keep-alive ID              keep a lease alive until interrupted (--once)
//	member list                      list the members
//	member add NAME --peer-urls=...  add a member (--learner: as a learner)
//	member remove ID                 remove a member
//	member update ID --peer-urls=... change a member's peer URLs
//	member promote ID                make a learner a voting member
//	endpoint status                  show each endpoint's status
//	endpoint health                  check each endpoint commits reads in time
//	endpoint hashkv                  show each endpoint's key-value history hash
//	snapshot save FILE               copy a member's store into FILE
//	snapshot status FILE             show a snapshot file's size and SHA-256
//	snapshot restore FILE            create a new cluster member's data dir from a snapshot (cairn's or etcd's)
//	defrag                           defragment each endpoint's store
//	move-leader TARGET_ID            hand leadership to another member
//	alarm list                       list the raised alarms
//	alarm disarm                     clear every alarm
//	auth enable|disable|status       turn authentication on or off, or show whether it is on
//	user add NAME[:PASSWORD]         create a user (--no-password; --interactive=false: password from stdin)
//	user get|delete NAME             show a user's roles (--detail: and permissions), or delete the user
//	user list                        list the users
//	user passwd NAME                 change a user's password
//	user grant-role|revoke-role NAME ROLE  grant a role to a user, or take it away
//	role add|get|delete NAME         create a role, show its permissions, or delete it
//	role list                        list the roles
//	role grant-permission NAME TYPE KEY [END]  let a role read, write or readwrite keys (--prefix, --from-key)
//	role revoke-permission NAME KEY [END]      remove a role's permission on a range
//	mirror --from=ETCD_ENDPOINTS     copy a live etcd cluster's keys into cairn, then follow its changes
//	lock NAME [COMMAND ARGS...]      hold a distributed lock (while COMMAND runs, or until interrupted)
//	elect NAME [PROPOSAL]            campaign to lead election NAME (-l: print each leader)
//	check perf                       write at a load's rate for a while; PASS or FAIL on throughput, latency, errors
//	check datascale                  put a load's keys and report the member's memory growth
//	version                          print ctl's version
//	completion bash|zsh              print a shell script completing ctl's commands and flags
//
// Lease and member IDs are written in hexadecimal, as ctl prints them.
// Exit status: 0 on success, 1 when a request fails or a flag is wrong
// (unknown, or a value it cannot take: as etcdctl, the error names the
// flag, with no usage), 2 on another usage error (unknown command, wrong
// number of arguments, flags that cannot go together).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

// Exit statuses scripts can test.
const (
	exitOK    = 0
	exitError = 1 // a request failed
	exitUsage = 2 // the command line is wrong
)

// version is ctl's version, printed by the version command.
const version = "0.1.0"

// mainUsageLine is the usage line of ctl as a whole.
const mainUsageLine = "ctl [global flags] COMMAND [flags] [arguments]"

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run executes one command line and returns the exit status. Watches and
// keep-alives run until SIGINT or SIGTERM.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return runContext(ctx, args, stdin, stdout, stderr)
}

// runContext is run with the context that interrupts long-running
// commands (watch, lease keep-alive, snapshot save).
func runContext(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	inv, err := parse(args)
	var help *helpRequest
	switch {
	case errors.As(err, &help):
		fmt.Fprint(stdout, help.text)
		return exitOK
	case err != nil:
		return report(stderr, err)
	}
	e, err := newEnv(ctx, inv.globals, stdin, stdout, stderr)
	if err != nil {
		return report(stderr, err)
	}
	defer e.close()
	if err := inv.action(e, inv.args); err != nil {
		var ue *usageError
		if errors.As(err, &ue) && ue.usage == "" {
			ue.usage = inv.cmd.usage()
		}
		return report(stderr, tlsAdvice(err, inv.globals))
	}
	if err := e.p.err; err != nil {
		return report(stderr, fmt.Errorf("writing output: %w", err))
	}
	return exitOK
}

// report prints err as one "Error:" line (and, for a usage error, the
// usage line) and returns the exit status it calls for.
func report(stderr io.Writer, err error) int {
	fmt.Fprintf(stderr, "Error: %v\n", err)
	var ue *usageError
	if errors.As(err, &ue) {
		if ue.usage != "" {
			fmt.Fprintf(stderr, "Usage: %s\n", ue.usage)
		}
		return exitUsage
	}
	return exitError
}

// invocation is a parsed command line: the command's action, its
// positional arguments and the global flags.
type invocation struct {
	cmd     *command
	globals *globals
	action  action
	args    []string
}

// parse splits a command line into global flags, the command, and the
// command's flags and arguments. Global flags may come before the command
// or among its own flags.
func parse(args []string) (*invocation, error) {
	g := defaultGlobals()
	gfs := flag.NewFlagSet("ctl", flag.ContinueOnError)
	gfs.SetOutput(io.Discard)
	g.register(gfs)
	if err := gfs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, &helpRequest{text: mainUsage(gfs)}
		}
		return nil, flagError(err)
	}
	rest := gfs.Args()
	if len(rest) == 0 {
		return nil, usageErrorf(mainUsageLine, "no command given (try 'ctl help')")
	}
	if rest[0] == "help" {
		return nil, &helpRequest{text: mainUsage(gfs)}
	}
	cmd, n, err := lookup(rest)
	if err != nil {
		return nil, err
	}
	rest = rest[n:]
	fs := flag.NewFlagSet(cmd.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	g.register(fs) // the values parsed so far are the defaults now
	act := cmd.flags(fs)
	pos, err := parseInterspersed(fs, rest)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, &helpRequest{text: cmd.help()}
		}
		return nil, flagError(err)
	}
	if len(pos) < cmd.minArgs || (cmd.maxArgs >= 0 && len(pos) > cmd.maxArgs) {
		return nil, usageErrorf(cmd.usage(), "%s takes %s, got %d", cmd.name, cmd.argCount(), len(pos))
	}
	if err := checkFormat(cmd.name, g.writeOut); err != nil {
		return nil, err
	}
	return &invocation{cmd: cmd, globals: g, action: act, args: pos}, nil
}

// lookup finds the command named by the first one or two words of args
// and says how many words named it.
func lookup(args []string) (*command, int, error) {
	cmds := commands()
	if len(args) > 1 {
		for i := range cmds {
			if cmds[i].name == args[0]+" "+args[1] {
				return &cmds[i], 2, nil
			}
		}
	}
	for i := range cmds {
		if cmds[i].name == args[0] {
			return &cmds[i], 1, nil
		}
	}
	// A group name ("lease") without a known subcommand.
	var subs []string
	for _, c := range cmds {
		if g, sub, ok := strings.Cut(c.name, " "); ok && g == args[0] {
			subs = append(subs, sub)
		}
	}
	if len(subs) > 0 {
		if len(args) > 1 && (args[1] == "-h" || args[1] == "--help" || args[1] == "help") {
			var b strings.Builder
			fmt.Fprintf(&b, "Usage: ctl %s COMMAND [flags] [arguments]\n\nCommands:\n", args[0])
			for _, c := range cmds {
				if strings.HasPrefix(c.name, args[0]+" ") {
					summary, _, _ := strings.Cut(c.summary, "\n")
					fmt.Fprintf(&b, "  %-30s %s\n", c.name+" "+c.args, summary)
				}
			}
			return nil, 0, &helpRequest{text: b.String()}
		}
		what := "no " + args[0] + " command given"
		if len(args) > 1 {
			what = fmt.Sprintf("unknown %s command %q", args[0], args[1])
		}
		return nil, 0, usageErrorf(fmt.Sprintf("ctl %s {%s} ...", args[0], strings.Join(subs, "|")), "%s", what)
	}
	return nil, 0, usageErrorf(mainUsageLine, "unknown command %q (try 'ctl help')", args[0])
}

// mainUsage is the text of 'ctl help'.
func mainUsage(gfs *flag.FlagSet) string {
	var b strings.Builder
	b.WriteString("Usage: " + mainUsageLine + "\n\nCommands:\n")
	for _, c := range commands() {
		summary, _, _ := strings.Cut(c.summary, "\n")
		fmt.Fprintf(&b, "  %-30s %s\n", c.name+" "+c.args, summary)
	}
	b.WriteString("\nGlobal flags (before or after the command):\n")
	gfs.SetOutput(&b)
	gfs.PrintDefaults()
	b.WriteString("\nRun 'ctl COMMAND -h' for a command's flags.\n")
	return b.String()
}
