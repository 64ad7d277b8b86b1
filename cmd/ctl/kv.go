package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/client"
)

// putOptions are put's flags, also accepted by put lines in a txn.
type putOptions struct {
	lease       string
	prevKV      bool
	ignoreValue bool
	ignoreLease bool
}

func (o *putOptions) register(fs *flag.FlagSet) {
	fs.StringVar(&o.lease, "lease", "", "attach the key to lease `ID` (hex)")
	fs.BoolVar(&o.prevKV, "prev-kv", false, "print the key's previous value")
	fs.BoolVar(&o.ignoreValue, "ignore-value", false, "keep the key's current value (give no VALUE)")
	fs.BoolVar(&o.ignoreLease, "ignore-lease", false, "keep the key's current lease")
}

// opts turns the flags into client options.
func (o *putOptions) opts() ([]client.OpOption, error) {
	var opts []client.OpOption
	if o.lease != "" {
		if o.ignoreLease {
			return nil, errors.New("--lease and --ignore-lease cannot be set at the same time")
		}
		id, err := parseLeaseID(o.lease)
		if err != nil {
			return nil, fmt.Errorf("--lease: %w", err)
		}
		opts = append(opts, client.WithLease(id))
	}
	if o.prevKV {
		opts = append(opts, client.WithPrevKV())
	}
	if o.ignoreValue {
		opts = append(opts, client.WithIgnoreValue())
	}
	if o.ignoreLease {
		opts = append(opts, client.WithIgnoreLease())
	}
	return opts, nil
}

func putCommand() command {
	return command{name: "put", args: "KEY [VALUE]", minArgs: 1, maxArgs: 2,
		summary: "Write KEY = VALUE (VALUE read from stdin when omitted); prints OK",
		setup: func(fs *flag.FlagSet) action {
			var o putOptions
			o.register(fs)
			return func(e *env, args []string) error {
				opts, err := o.opts()
				if err != nil {
					return badUsage("%v", err)
				}
				var value string
				switch {
				case len(args) == 2 && o.ignoreValue:
					return badUsage("a VALUE was given with --ignore-value")
				case len(args) == 2:
					value = args[1]
				case !o.ignoreValue:
					b, err := io.ReadAll(e.stdin)
					if err != nil {
						return fmt.Errorf("reading the value from stdin: %w", err)
					}
					if len(b) == 0 {
						return badUsage("put needs a VALUE, as an argument or on stdin, and stdin was empty (an empty value: put %s \"\")", args[0])
					}
					value = string(b)
				}
				return call(e, "",
					func(ctx context.Context, c *client.Client) (*api.PutResponse, error) {
						return c.Put(ctx, args[0], value, opts...)
					},
					e.p.put)
			}
		}}
}

// getOptions are get's flags, also accepted by get lines in a txn.
type getOptions struct {
	prefix, fromKey         bool
	rev, limit              int64
	keysOnly, countOnly     bool
	printValueOnly          bool
	sortBy, order           string
	consistency             string
	minModRev, maxModRev    int64
	minCreateRev, maxCreate int64
}

func (o *getOptions) register(fs *flag.FlagSet) {
	fs.BoolVar(&o.prefix, "prefix", false, "read every key starting with KEY")
	fs.BoolVar(&o.fromKey, "from-key", false, "read every key at or after KEY")
	fs.Int64Var(&o.rev, "rev", 0, "read at `revision` (0: the newest)")
	fs.Int64Var(&o.limit, "limit", 0, "return at most `n` keys (0: no limit)")
	fs.BoolVar(&o.keysOnly, "keys-only", false, "print keys only")
	fs.BoolVar(&o.countOnly, "count-only", false, "print the number of keys only")
	fs.BoolVar(&o.printValueOnly, "print-value-only", false, "print values only")
	fs.StringVar(&o.sortBy, "sort-by", "", "sort by `field`: CREATE, KEY, MODIFY, VALUE or VERSION")
	fs.StringVar(&o.order, "order", "", "sort `order`: ASCEND or DESCEND")
	fs.StringVar(&o.consistency, "consistency", "l", "read `mode`: l (linearizable) or s (serializable: local, possibly stale)")
	fs.Int64Var(&o.minModRev, "min-mod-rev", 0, "only keys modified at or after `revision`")
	fs.Int64Var(&o.maxModRev, "max-mod-rev", 0, "only keys modified at or before `revision`")
	fs.Int64Var(&o.minCreateRev, "min-create-rev", 0, "only keys created at or after `revision`")
	fs.Int64Var(&o.maxCreate, "max-create-rev", 0, "only keys created at or before `revision`")
}

// sortTargets maps --sort-by to the api's sort targets.
var sortTargets = map[string]api.SortTarget{
	"CREATE": api.SortByCreate, "KEY": api.SortByKey, "MODIFY": api.SortByMod,
	"VALUE": api.SortByValue, "VERSION": api.SortByVersion,
}

// opts checks the flags against the arguments (KEY [RANGE_END]) and turns
// them into client options.
func (o *getOptions) opts(args []string) ([]client.OpOption, error) {
	opts, err := rangeOpts(o.prefix, o.fromKey, args)
	if err != nil {
		return nil, err
	}
	for _, f := range []struct {
		name string
		v    int64
	}{{"--rev", o.rev}, {"--limit", o.limit}, {"--min-mod-rev", o.minModRev}, {"--max-mod-rev", o.maxModRev},
		{"--min-create-rev", o.minCreateRev}, {"--max-create-rev", o.maxCreate}} {
		if f.v < 0 {
			return nil, fmt.Errorf("%s %d is negative", f.name, f.v)
		}
	}
	if o.rev > 0 {
		opts = append(opts, client.WithRev(o.rev))
	}
	if o.limit > 0 {
		opts = append(opts, client.WithLimit(o.limit))
	}
	if o.keysOnly {
		opts = append(opts, client.WithKeysOnly())
	}
	if o.countOnly {
		opts = append(opts, client.WithCountOnly())
	}
	switch o.consistency {
	case "l":
	case "s":
		opts = append(opts, client.WithSerializable())
	default:
		return nil, fmt.Errorf("--consistency %q: want l (linearizable) or s (serializable)", o.consistency)
	}
	if o.sortBy != "" || o.order != "" {
		target := api.SortByKey
		if o.sortBy != "" {
			t, ok := sortTargets[strings.ToUpper(o.sortBy)]
			if !ok {
				return nil, fmt.Errorf("--sort-by %q: want CREATE, KEY, MODIFY, VALUE or VERSION", o.sortBy)
			}
			target = t
		}
		order := api.SortAscend
		switch strings.ToUpper(o.order) {
		case "", "ASCEND":
		case "DESCEND":
			order = api.SortDescend
		default:
			return nil, fmt.Errorf("--order %q: want ASCEND or DESCEND", o.order)
		}
		opts = append(opts, client.WithSort(target, order))
	}
	if o.minModRev > 0 {
		opts = append(opts, client.WithMinModRev(o.minModRev))
	}
	if o.maxModRev > 0 {
		opts = append(opts, client.WithMaxModRev(o.maxModRev))
	}
	if o.minCreateRev > 0 {
		opts = append(opts, client.WithMinCreateRev(o.minCreateRev))
	}
	if o.maxCreate > 0 {
		opts = append(opts, client.WithMaxCreateRev(o.maxCreate))
	}
	return opts, nil
}

// rangeOpts checks KEY [RANGE_END] against --prefix and --from-key and
// returns the options naming the range.
func rangeOpts(prefix, fromKey bool, args []string) ([]client.OpOption, error) {
	switch {
	case prefix && fromKey:
		return nil, errors.New("--prefix and --from-key cannot be set at the same time")
	case prefix && len(args) > 1:
		return nil, errors.New("a RANGE_END cannot be given with --prefix")
	case fromKey && len(args) > 1:
		return nil, errors.New("a RANGE_END cannot be given with --from-key")
	case prefix:
		return []client.OpOption{client.WithPrefix()}, nil
	case fromKey:
		return []client.OpOption{client.WithFromKey()}, nil
	case len(args) > 1:
		return []client.OpOption{client.WithRange(args[1])}, nil
	}
	return nil, nil
}

func getCommand() command {
	return command{name: "get", args: "KEY [RANGE_END]", minArgs: 1, maxArgs: 2,
		summary: "Read KEY, or the keys in [KEY, RANGE_END); prints each key and value on their own lines",
		setup: func(fs *flag.FlagSet) action {
			var o getOptions
			o.register(fs)
			return func(e *env, args []string) error {
				opts, err := o.opts(args)
				if err != nil {
					return badUsage("%v", err)
				}
				return call(e, "",
					func(ctx context.Context, c *client.Client) (*api.RangeResponse, error) {
						return c.Get(ctx, args[0], opts...)
					},
					func(resp *api.RangeResponse) {
						e.p.valueOnly, e.p.keysOnly = o.printValueOnly, o.keysOnly
						e.p.get(resp, o.countOnly)
					})
			}
		}}
}

// delOptions are del's flags, also accepted by del lines in a txn.
type delOptions struct {
	prefix, fromKey, prevKV bool
}

func (o *delOptions) register(fs *flag.FlagSet) {
	fs.BoolVar(&o.prefix, "prefix", false, "delete every key starting with KEY")
	fs.BoolVar(&o.fromKey, "from-key", false, "delete every key at or after KEY")
	fs.BoolVar(&o.prevKV, "prev-kv", false, "print the deleted keys and values")
}

// opts checks the flags against the arguments and turns them into client
// options.
func (o *delOptions) opts(args []string) ([]client.OpOption, error) {
	opts, err := rangeOpts(o.prefix, o.fromKey, args)
	if err != nil {
		return nil, err
	}
	if o.prevKV {
		opts = append(opts, client.WithPrevKV())
	}
	return opts, nil
}

func delCommand() command {
	return command{name: "del", args: "KEY [RANGE_END]", minArgs: 1, maxArgs: 2,
		summary: "Delete KEY, or the keys in [KEY, RANGE_END); prints the number deleted",
		setup: func(fs *flag.FlagSet) action {
			var o delOptions
			o.register(fs)
			return func(e *env, args []string) error {
				opts, err := o.opts(args)
				if err != nil {
					return badUsage("%v", err)
				}
				return call(e, "",
					func(ctx context.Context, c *client.Client) (*api.DeleteRangeResponse, error) {
						return c.Delete(ctx, args[0], opts...)
					},
					e.p.del)
			}
		}}
}

func compactionCommand() command {
	return command{name: "compaction", args: "REV", minArgs: 1, maxArgs: 1,
		summary: "Discard the history before revision REV",
		setup: func(fs *flag.FlagSet) action {
			physical := fs.Bool("physical", false, "wait until the compacted records are removed from the store of the member that answers")
			return func(e *env, args []string) error {
				rev, err := strconv.ParseInt(args[0], 10, 64)
				if err != nil || rev <= 0 {
					return badUsage("revision %q is not a positive integer", args[0])
				}
				return call(e, "",
					func(ctx context.Context, c *client.Client) (*api.CompactionResponse, error) {
						var opts []client.CompactOption
						if *physical {
							opts = append(opts, client.WithPhysical())
						}
						return c.Compact(ctx, rev, opts...)
					},
					func(*api.CompactionResponse) { e.p.compaction(rev) })
			}
		}}
}
