package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/cairndb/cairn/client"
)

// watchOptions are watch's flags, also accepted by the lines of an
// interactive watch.
type watchOptions struct {
	prefix, fromKey bool
	rev             int64
	prevKV          bool
}

func (o *watchOptions) register(fs *flag.FlagSet) {
	fs.BoolVar(&o.prefix, "prefix", false, "watch every key starting with KEY")
	fs.BoolVar(&o.fromKey, "from-key", false, "watch every key at or after KEY")
	fs.Int64Var(&o.rev, "rev", 0, "start at `revision` (0: changes after now)")
	fs.BoolVar(&o.prevKV, "prev-kv", false, "print each key's previous value too")
}

// opts checks the flags against KEY [RANGE_END] and turns them into
// client options.
func (o *watchOptions) opts(args []string) ([]client.OpOption, error) {
	opts, err := rangeOpts(o.prefix, o.fromKey, args)
	if err != nil {
		return nil, err
	}
	if o.rev < 0 {
		return nil, fmt.Errorf("--rev %d is negative", o.rev)
	}
	if o.rev > 0 {
		opts = append(opts, client.WithRev(o.rev))
	}
	if o.prevKV {
		opts = append(opts, client.WithPrevKV())
	}
	return opts, nil
}

func watchCommand() command {
	return command{name: "watch", args: "KEY [RANGE_END]", minArgs: 0, maxArgs: 2,
		summary: "Print every change to KEY (or the range) as it happens: PUT or DELETE, then the key and value,\n" +
			"until interrupted. With -i, read lines \"watch KEY [RANGE_END] [flags]\" from stdin and run each.",
		setup: func(fs *flag.FlagSet) action {
			var o watchOptions
			var interactive bool
			o.register(fs)
			fs.BoolVar(&interactive, "interactive", false, "read watch lines from stdin")
			fs.BoolVar(&interactive, "i", false, "short for --interactive")
			return func(e *env, args []string) error {
				if interactive {
					if len(args) > 0 {
						return badUsage("watch -i takes its watches from stdin, not from arguments")
					}
					return watchInteractive(e)
				}
				if len(args) == 0 {
					return badUsage("watch needs a KEY")
				}
				opts, err := o.opts(args)
				if err != nil {
					return badUsage("%v", err)
				}
				c, err := e.client()
				if err != nil {
					return err
				}
				return watchUntilDone(e.ctx, c, args[0], opts, func(r *client.WatchResponse) { e.p.watch(r) })
			}
		}}
}

// watchUntilDone runs one watch, handing each response with events to
// show, until ctx ends (nil: the user interrupted it) or the server ends
// the watch (its error).
func watchUntilDone(ctx context.Context, c *client.Client, key string, opts []client.OpOption, show func(*client.WatchResponse)) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for resp := range c.Watch(ctx, key, opts...) {
		if resp.Canceled {
			if err := resp.Err(); err != nil {
				return err
			}
			return errors.New("the server canceled the watch")
		}
		if len(resp.Events) > 0 {
			show(&resp)
		}
	}
	if ctx.Err() != nil {
		return nil
	}
	return errors.New("the watch ended unexpectedly")
}

// watchInteractive reads "watch KEY [RANGE_END] [flags]" lines from stdin
// and runs each watch, until interrupted. Each response is printed whole,
// so the outputs of several watches do not interleave within one.
func watchInteractive(e *env) error {
	c, err := e.client()
	if err != nil {
		return err
	}
	out := &lockedWriter{w: e.stdout}
	errOut := &lockedWriter{w: e.stderr}
	var wg sync.WaitGroup
	var failed sync.Once
	var firstErr error
	sc := bufio.NewScanner(e.stdin)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		key, opts, err := parseWatchLine(line)
		if err != nil {
			fmt.Fprintf(errOut, "Error: %v\n", err)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			show := func(r *client.WatchResponse) {
				var buf bytes.Buffer
				p := &printer{out: &buf, format: e.p.format, hex: e.p.hex}
				p.watch(r)
				_, _ = out.Write(buf.Bytes())
			}
			if err := watchUntilDone(e.ctx, c, key, opts, show); err != nil {
				fmt.Fprintf(errOut, "Error: watch %q: %v\n", key, err)
				failed.Do(func() { firstErr = err })
			}
		}()
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("reading watch lines: %w", err)
	}
	wg.Wait()
	if firstErr != nil {
		return errors.New("a watch failed")
	}
	return nil
}

// parseWatchLine parses one line of an interactive watch.
func parseWatchLine(line string) (string, []client.OpOption, error) {
	words, err := splitWords(line)
	if err != nil {
		return "", nil, fmt.Errorf("watch line %q: %w", line, err)
	}
	if words[0] != "watch" {
		return "", nil, fmt.Errorf("watch line %q: want watch KEY [RANGE_END] [flags]", line)
	}
	fs := flag.NewFlagSet("watch", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var o watchOptions
	o.register(fs)
	args, err := opArgs(fs, words, 1, 2, "KEY [RANGE_END]")
	if err != nil {
		return "", nil, fmt.Errorf("watch line %q: %w", line, err)
	}
	opts, err := o.opts(args)
	if err != nil {
		return "", nil, fmt.Errorf("watch line %q: %w", line, err)
	}
	return args[0], opts, nil
}

// lockedWriter serializes writes from several goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

// Write writes b whole before any other goroutine's write.
func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}
