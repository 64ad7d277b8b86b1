package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/cairndb/cairn/client"
)

// mirrorCommand copies a live etcd cluster's keys into cairn and keeps
// them in step, like etcdctl make-mirror: the keys as of one revision of
// the source first, then every change after that revision, as the source
// makes it, until interrupted.
func mirrorCommand() command {
	return command{name: "mirror", args: "", minArgs: 0, maxArgs: 0,
		summary: "Copy a live etcd cluster's keys (--from) into the cairn cluster of --endpoints, then follow the\n" +
			"source's changes until interrupted, like etcdctl make-mirror. Keys are copied with their values, not\n" +
			"their leases, versions or revisions (for those, restore an etcd snapshot: ctl snapshot restore).\n" +
			"Prints how many keys it copied, then its progress every --progress-interval.",
		setup: func(fs *flag.FlagSet) action {
			var o mirrorOptions
			fs.StringVar(&o.from, "from", "", "the source etcd cluster's client `endpoints` (comma-separated host:port or http(s):// URLs; required)")
			fs.StringVar(&o.tls.cacert, "from-cacert", "", "`file` of CA certificates to verify the source with")
			fs.StringVar(&o.tls.cert, "from-cert", "", "client certificate `file` for the source (PEM)")
			fs.StringVar(&o.tls.key, "from-key", "", "client key `file` for the source (PEM)")
			fs.BoolVar(&o.tls.insecureSkip, "from-insecure-skip-tls-verify", false, "accept any source certificate (testing only)")
			fs.StringVar(&o.user, "from-user", "", "`name:password` to authenticate to the source as")
			fs.StringVar(&o.prefix, "prefix", "", "copy only the keys starting with `prefix` (default: every key)")
			fs.StringVar(&o.destPrefix, "dest-prefix", "", "write the keys under `prefix` in place of --prefix (default: the same keys)")
			fs.IntVar(&o.maxTxnOps, "max-txn-ops", 128, "at most this many writes in one transaction on cairn (at most its --max-txn-ops)")
			fs.DurationVar(&o.progressEvery, "progress-interval", 10*time.Second, "how often to print progress while following changes")
			return func(e *env, args []string) error {
				fs.Visit(func(f *flag.Flag) { o.replacePrefix = o.replacePrefix || f.Name == "dest-prefix" })
				if err := o.check(); err != nil {
					return badUsage("%v", err)
				}
				return runMirror(e, o)
			}
		}}
}

// mirrorOptions are mirror's flags.
type mirrorOptions struct {
	from          string
	tls           tlsFiles
	user          string
	prefix        string
	destPrefix    string
	replacePrefix bool // --dest-prefix was given (it may be "")
	maxTxnOps     int
	progressEvery time.Duration
}

func (o *mirrorOptions) check() error {
	switch {
	case strings.TrimSpace(o.from) == "":
		return errors.New("mirror needs the source etcd cluster's endpoints: --from=http://host:2379")
	case o.maxTxnOps < 1:
		return fmt.Errorf("--max-txn-ops %d must be at least 1", o.maxTxnOps)
	case o.progressEvery <= 0:
		return fmt.Errorf("--progress-interval %v must be positive", o.progressEvery)
	case o.user != "" && !strings.Contains(o.user, ":"):
		return fmt.Errorf("--from-user %q: give name:password", o.user)
	}
	return nil
}

// destKey is where a source key goes in cairn.
func (o *mirrorOptions) destKey(key []byte) string {
	if !o.replacePrefix {
		return string(key)
	}
	return o.destPrefix + strings.TrimPrefix(string(key), o.prefix)
}

// sourceRange is the source's key range: every key starting with
// --prefix (every key at all if it is empty).
func (o *mirrorOptions) sourceRange() (key, end string) {
	if o.prefix == "" {
		return "\x00", "\x00"
	}
	return o.prefix, clientv3.GetPrefixRangeEnd(o.prefix)
}

// mirrorProgress is what mirror reports.
type mirrorProgress struct {
	Copied   int64 `json:"copied"`   // keys copied from the first revision
	Changes  int64 `json:"changes"`  // changes followed since
	Revision int64 `json:"revision"` // the source revision cairn has caught up to
}

// mirrorPage is how many keys one read of the source returns while
// copying.
const mirrorPage = 1000

func runMirror(e *env, o mirrorOptions) error {
	tc, err := o.tls.config("--from-")
	if err != nil {
		return err
	}
	cfg := clientv3.Config{Endpoints: strings.Split(o.from, ","), DialTimeout: e.g.dialTimeout, TLS: tc}
	if o.user != "" {
		cfg.Username, cfg.Password, _ = strings.Cut(o.user, ":")
	}
	src, err := clientv3.New(cfg)
	if err != nil {
		return fmt.Errorf("connecting to the source %s: %w", o.from, err)
	}
	defer src.Close()
	dst, err := e.client()
	if err != nil {
		return err
	}
	m := &mirror{e: e, o: o, src: src, dst: dst}
	if err := m.copyAll(); err != nil {
		if e.ctx.Err() != nil {
			return fmt.Errorf("interrupted while copying, after %d keys: the copy is incomplete", m.progress.Copied)
		}
		return err
	}
	e.p.mirrorCopied(o.from, m.progress)
	err = m.follow()
	if e.ctx.Err() != nil {
		err = nil // interrupted: a clean stop
	}
	e.p.mirrorStopped(m.progress)
	return err
}

// mirror is one run of the mirror command.
type mirror struct {
	e        *env
	o        mirrorOptions
	src      *clientv3.Client
	dst      *client.Client
	progress mirrorProgress
	ops      []client.Op // writes not yet sent to cairn
}

// copyAll copies every key of the source range as of one revision (the
// first read's), a page at a time.
func (m *mirror) copyAll() error {
	key, end := m.o.sourceRange()
	for {
		opts := []clientv3.OpOption{clientv3.WithRange(end), clientv3.WithLimit(mirrorPage)}
		if m.progress.Revision > 0 {
			opts = append(opts, clientv3.WithRev(m.progress.Revision))
		}
		ctx, cancel := m.e.request()
		resp, err := m.src.Get(ctx, key, opts...)
		cancel()
		if err != nil {
			return fmt.Errorf("reading the source: %w", err)
		}
		if m.progress.Revision == 0 {
			m.progress.Revision = resp.Header.Revision
		}
		for _, kv := range resp.Kvs {
			if err := m.add(client.OpPut(m.o.destKey(kv.Key), string(kv.Value))); err != nil {
				return err
			}
			m.progress.Copied++
		}
		if !resp.More || len(resp.Kvs) == 0 {
			return m.flush()
		}
		key = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
}

// follow applies the source's changes after the copied revision, each
// revision's in one transaction (or several, beyond --max-txn-ops),
// until interrupted.
func (m *mirror) follow() error {
	key, end := m.o.sourceRange()
	ctx, cancel := context.WithCancel(clientv3.WithRequireLeader(m.e.ctx))
	defer cancel()
	watch := m.src.Watch(ctx, key, clientv3.WithRange(end), clientv3.WithRev(m.progress.Revision+1))
	tick := time.NewTicker(m.o.progressEvery)
	defer tick.Stop()
	reported := m.progress
	for {
		select {
		case <-m.e.ctx.Done():
			return nil
		case <-tick.C:
			if m.progress != reported {
				m.e.p.mirrorProgress(m.progress)
				reported = m.progress
			}
		case resp, ok := <-watch:
			if !ok {
				if m.e.ctx.Err() != nil {
					return nil
				}
				return errors.New("the watch on the source ended")
			}
			if err := resp.Err(); err != nil {
				if resp.CompactRevision != 0 {
					return fmt.Errorf("the source compacted revision %d before the mirror read it: start the mirror again (%w)", resp.CompactRevision, err)
				}
				return fmt.Errorf("watching the source: %w", err)
			}
			if err := m.apply(resp.Events); err != nil {
				return err
			}
		}
	}
}

// apply writes the events of a watch response, a revision at a time.
func (m *mirror) apply(events []*clientv3.Event) error {
	for i, ev := range events {
		if ev.Type == mvccpb.DELETE {
			if err := m.add(client.OpDelete(m.o.destKey(ev.Kv.Key))); err != nil {
				return err
			}
		} else if err := m.add(client.OpPut(m.o.destKey(ev.Kv.Key), string(ev.Kv.Value))); err != nil {
			return err
		}
		m.progress.Changes++
		if i+1 == len(events) || events[i+1].Kv.ModRevision != ev.Kv.ModRevision {
			if err := m.flush(); err != nil {
				return err
			}
			m.progress.Revision = ev.Kv.ModRevision
		}
	}
	return nil
}

// add queues a write, sending the queue when it is full.
func (m *mirror) add(op client.Op) error {
	m.ops = append(m.ops, op)
	if len(m.ops) >= m.o.maxTxnOps {
		return m.flush()
	}
	return nil
}

// flush sends the queued writes to cairn in one transaction.
func (m *mirror) flush() error {
	if len(m.ops) == 0 {
		return nil
	}
	ctx, cancel := m.e.request()
	defer cancel()
	if _, err := m.dst.Txn(ctx).Then(m.ops...).Commit(); err != nil {
		return fmt.Errorf("writing to cairn: %w", err)
	}
	m.ops = m.ops[:0]
	return nil
}
