package concurrency

import (
	"context"
	"time"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/client"
)

// observeRetry is the pause before Observe reads the leader again after
// a failed read.
const observeRetry = 100 * time.Millisecond

// Observe reports the election's leader: the current one (once there is
// one), then every new leader and every value a leader proclaims, in
// order, until ctx ends; then the channel closes. A leader that comes and
// goes between two reads may be missed, but the reports never go back in
// time. Observing does not need to campaign.
func (e *Election) Observe(ctx context.Context) <-chan api.KeyValue {
	out := make(chan api.KeyValue)
	go e.observe(ctx, out)
	return out
}

// observe reads the leader, follows its key until it is deleted, and
// starts over; with no leader it waits for the first campaigner.
func (e *Election) observe(ctx context.Context, out chan<- api.KeyValue) {
	defer close(out)
	c := e.s.Client()
	var last api.KeyValue
	send := func(kv api.KeyValue) bool {
		if string(kv.Key) == string(last.Key) && kv.CreateRevision == last.CreateRevision && kv.ModRevision <= last.ModRevision {
			return true // already reported (a read again after a broken watch)
		}
		last = kv
		select {
		case out <- kv:
			return true
		case <-ctx.Done():
			return false
		}
	}
	for ctx.Err() == nil {
		resp, err := c.Get(ctx, e.prefix, firstInQueue(e.prefix)...)
		if err != nil {
			sleep(ctx, observeRetry)
			continue
		}
		var leader api.KeyValue
		at := resp.Header.Revision
		if len(resp.Kvs) > 0 {
			leader = resp.Kvs[0]
		} else if leader, at, err = waitFirstCampaigner(ctx, c, e.prefix, at); err != nil {
			continue // read the leader again
		}
		if !send(leader) {
			return
		}
		followLeader(ctx, c, leader, at, send)
	}
}

// waitFirstCampaigner waits, from after revision rev, when no key was
// under prefix, for the first key to be put there: the new leader. It
// returns the key and the revision of its creation.
func waitFirstCampaigner(ctx context.Context, c *client.Client, prefix string, rev int64) (api.KeyValue, int64, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for resp := range c.Watch(ctx, prefix, client.WithPrefix(), client.WithRev(rev+1), client.WithFilterDelete()) {
		for _, ev := range resp.Events {
			if ev.Type == api.EventPut {
				return ev.Kv, ev.Kv.ModRevision, nil
			}
		}
		if resp.Canceled {
			break
		}
	}
	return api.KeyValue{}, 0, errWatchEnded
}

// followLeader reports each value the leader proclaims, from after
// revision rev, until its key is deleted (or the watch or ctx ends).
func followLeader(ctx context.Context, c *client.Client, leader api.KeyValue, rev int64, send func(api.KeyValue) bool) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for resp := range c.Watch(ctx, string(leader.Key), client.WithRev(rev+1)) {
		for _, ev := range resp.Events {
			if ev.Type == api.EventDelete || ev.Kv.CreateRevision != leader.CreateRevision {
				return // the leader left (a new key of the same name is a new campaigner)
			}
			if !send(ev.Kv) {
				return
			}
		}
		if resp.Canceled {
			return
		}
	}
}

// sleep waits for d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
