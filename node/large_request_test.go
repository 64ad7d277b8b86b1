package node_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/client"
	"github.com/cairndb/cairn/node"
	"github.com/cairndb/cairn/node/nodetest"
	"github.com/cairndb/cairn/node/replica"
)

// valueForRequest returns the size of the value that makes a put of key
// exactly limit bytes as the member counts a request (its encoded
// command).
func valueForRequest(t *testing.T, key string, limit int) int {
	t.Helper()
	size := limit
	for range 8 {
		cmd, err := replica.NewCommand(&api.PutRequest{Key: []byte(key), Value: make([]byte, size)})
		if err != nil {
			t.Fatal(err)
		}
		if cmd.Size() == limit {
			return size
		}
		size -= cmd.Size() - limit
	}
	t.Fatalf("no value size makes a put of %q %d bytes", key, limit)
	return 0
}

// putRetrying puts key = val, again after a timeout: on a loaded machine
// with the test clusters' 100 ms elections, a proposal forwarded while
// the leader changes can be lost, and the member then answers with a
// timeout (its outcome unknown; the same put again is harmless).
func putRetrying(ctx context.Context, cl *client.Client, key, val string) error {
	var err error
	for range 5 {
		_, err = cl.Put(ctx, key, val)
		if !errors.Is(err, api.ErrTimeout) && !errors.Is(err, api.ErrTimeoutDueToLeaderFail) {
			return err
		}
	}
	return err
}

// A put of exactly --max-request-bytes is taken, through a follower (the
// proposal is forwarded) and the leader, many at once (a batch of them
// passes what one WAL record and one peer frame may hold), and survives a
// restart; a put one byte larger is refused with RequestTooLarge, and the
// member goes on serving.
func TestPutOfTheRequestLimit(t *testing.T) {
	const limit = 1 << 20
	c := nodetest.Start(t, 3, nodetest.Options{Configure: func(_ int, cfg *node.Config) { cfg.MaxRequestBytes = limit }})
	lead := c.Leader()
	follower := (lead + 1) % 3
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	size := valueForRequest(t, "big-00", limit)

	value := func(i int) string { return strings.Repeat(string(rune('a'+i%26)), size) }
	// 24 writers pass what one WAL record and one forwarded message may
	// hold; under the race detector (CAIRN_SHORT) 8 keep the run short.
	writers := 24
	if os.Getenv("CAIRN_SHORT") != "" {
		writers = 8
	}
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for i := range writers {
		ep := c.Endpoint(follower)
		if i%2 == 0 {
			ep = c.Endpoint(lead)
		}
		cl := c.Client(ep)
		wg.Go(func() {
			if err := putRetrying(ctx, cl, fmt.Sprintf("big-%02d", i), value(i)); err != nil {
				errs <- fmt.Errorf("put %d of %d bytes: %w", i, size, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	cl := c.Client(c.Endpoint(follower))
	over := strings.Repeat("x", size+1)
	if _, err := cl.Put(ctx, "big-00", over); !errors.Is(err, api.ErrRequestTooLarge) {
		t.Fatalf("put of one byte more than the limit: %v, want %v", err, api.ErrRequestTooLarge)
	}
	if err := putRetrying(ctx, cl, "small", "after"); err != nil {
		t.Fatalf("put after the refusal: %v", err)
	}

	// Every member holds every value, also after a restart replays its log.
	c.StopMember(follower)
	c.StartMember(follower)
	for i := range 3 {
		cl := c.Client(c.Endpoint(i))
		check := func() error {
			for w := range writers {
				r, err := cl.Get(ctx, fmt.Sprintf("big-%02d", w), client.WithSerializable())
				if err != nil {
					return err
				}
				if len(r.Kvs) != 1 || string(r.Kvs[0].Value) != value(w) {
					return fmt.Errorf("big-%02d: %d kvs", w, len(r.Kvs))
				}
			}
			return nil
		}
		var err error
		for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			if err = check(); err == nil {
				break
			}
		}
		if err != nil {
			t.Fatalf("member %d: %v", i, err)
		}
	}
}

// A write the cluster cannot commit (the leader lost both followers)
// fails once the member's request timeout passes, even if the client
// would wait longer, with etcd's timeout error, not the words of a
// context deadline, and the member logs it; a client that gives up first
// (its own shorter deadline) is no sign of trouble and is not logged.
func TestUncommittableWriteTimesOutWithANamedError(t *testing.T) {
	var logs lockedBuffer
	c := nodetest.Start(t, 3, nodetest.Options{Logger: func(name string) *slog.Logger {
		return slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn})).With("member", name)
	}})
	lead := c.Leader()
	cl := c.Client(c.Endpoint(lead))
	for i := range 3 {
		if i != lead {
			c.StopMember(i)
		}
	}
	const warning = "write request timed out"

	short, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := cl.Put(short, "k", "v"); err == nil {
		t.Fatal("put without a quorum succeeded")
	}
	time.Sleep(100 * time.Millisecond) // the member's side of the call ends
	if strings.Contains(logs.String(), warning) {
		t.Fatalf("a client's own short deadline was logged as a timeout:\n%s", logs.String())
	}

	// The client's deadline is longer than the member's request timeout
	// (5.2 s here): the member gives up first.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	_, err := cl.Put(ctx, "k", "v")
	if took := time.Since(start); took > 15*time.Second {
		t.Fatalf("put without a quorum took %v: the member waited for the client's deadline", took)
	}
	if !errors.Is(err, api.ErrTimeout) && !errors.Is(err, api.ErrTimeoutDueToLeaderFail) && !errors.Is(err, api.ErrNoLeader) {
		t.Fatalf("put without a quorum: %v, want a timeout or no leader", err)
	}
	if strings.Contains(err.Error(), "context deadline exceeded") {
		t.Fatalf("put without a quorum: %q reads as the client's own deadline", err)
	}
	if !errors.Is(err, api.ErrNoLeader) && !strings.Contains(logs.String(), warning) {
		t.Fatalf("the member did not log the timed-out write (%v):\n%s", err, logs.String())
	}
}
