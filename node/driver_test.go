package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/btreekv/mvcc"
	"github.com/cairndb/cairn/internal/fsx"
	"github.com/cairndb/cairn/logstore"
	"github.com/cairndb/cairn/node/replica"
	"github.com/cairndb/cairn/raftcore"
)

// localNet is an in-process Transport: one queue and pump goroutine per
// destination; a full queue drops the message, as a congested network
// would.
type localNet struct {
	mu      sync.Mutex
	drivers map[uint64]*Driver
	sms     map[uint64]*replica.KVState
	queues  map[uint64]chan raftcore.Message
	wg      sync.WaitGroup
	// snapshots counts the snapshot senders, which must finish before
	// the queues close.
	snapshots sync.WaitGroup
}

type localEndpoint struct {
	net *localNet
	id  uint64
}

func (e localEndpoint) Send(msgs []raftcore.Message) {
	for _, m := range msgs {
		e.net.mu.Lock()
		q := e.net.queues[m.To]
		e.net.mu.Unlock()
		if m.Type == raftcore.MsgSnap {
			// As the peer transport does: open the copy on the core's
			// goroutine (Send runs on it, so from another one), hand the
			// data to the receiver, then deliver the message.
			e.net.snapshots.Add(1)
			go func() {
				defer e.net.snapshots.Done()
				e.sendSnapshot(m, q)
			}()
			continue
		}
		select {
		case q <- m:
		default:
			e.net.drivers[e.id].ReportUnreachable(m.To)
		}
	}
}

func (e localEndpoint) sendSnapshot(m raftcore.Message, q chan raftcore.Message) {
	d := e.net.drivers[e.id]
	var src replica.SnapshotSource
	var err error
	if ierr := d.Inspect(context.Background(), func(c *replica.Core) { m, src, err = c.OpenSnapshot(m) }); ierr != nil || err != nil {
		d.ReportSnapshot(m.To, true)
		return
	}
	defer src.Close()
	size, err := src.Size()
	if err != nil {
		d.ReportSnapshot(m.To, true)
		return
	}
	pr, pw := io.Pipe()
	go func() { _, err := src.WriteTo(pw); pw.CloseWithError(err) }()
	if err := e.net.sms[m.To].ReceiveSnapshot(m.Snapshot.Metadata.Index, size, pr); err != nil {
		d.ReportSnapshot(m.To, true)
		return
	}
	select {
	case q <- m:
		d.ReportSnapshot(m.To, false)
	default:
		d.ReportSnapshot(m.To, true)
	}
}

func (n *localNet) add(id uint64, d *Driver) {
	n.mu.Lock()
	defer n.mu.Unlock()
	q := make(chan raftcore.Message, 1024)
	n.drivers[id], n.queues[id] = d, q
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		for m := range q {
			d.Receive(m)
		}
	}()
}

func (n *localNet) close() {
	n.snapshots.Wait()
	n.mu.Lock()
	for _, q := range n.queues {
		close(q)
	}
	n.mu.Unlock()
	n.wg.Wait()
}

// startDrivers starts n members, each a replica on its own in-memory
// disk, under production drivers on a localNet.
func startDrivers(t *testing.T, n int) map[uint64]*Driver {
	t.Helper()
	net := &localNet{drivers: map[uint64]*Driver{}, sms: map[uint64]*replica.KVState{}, queues: map[uint64]chan raftcore.Message{}}
	var peers []raftcore.Peer
	for i := 1; i <= n; i++ {
		peers = append(peers, raftcore.Peer{ID: uint64(i)})
	}
	drivers := map[uint64]*Driver{}
	var replicas []*replica.Replica
	for i := 1; i <= n; i++ {
		id := uint64(i)
		disk := fsx.NewMem()
		r, err := replica.Open(replica.Config{
			Log:       logstore.Options{FS: disk, Dir: "/wal", Create: true},
			StorePath: "/db", Store: mvcc.Options{FS: disk},
			Core: replica.CoreConfig{ID: id, ElectionTick: 10, HeartbeatTick: 1, Peers: peers, SnapshotCount: 100,
				Rand: rand.New(rand.NewPCG(id, 1))},
		})
		if err != nil {
			t.Fatal(err)
		}
		replicas = append(replicas, r)
		d := NewDriver(r.Core, localEndpoint{net, id}, 2*time.Millisecond)
		drivers[id] = d
		net.sms[id] = r.State
		net.add(id, d)
	}
	for _, d := range drivers {
		d.Start()
	}
	t.Cleanup(func() {
		for _, d := range drivers {
			d.Stop()
		}
		net.close()
		for _, r := range replicas {
			_ = r.Close()
		}
	})
	return drivers
}

// putCommand is a put of key=value as a log command.
func putCommand(t testing.TB, key, value string) replica.Envelope {
	t.Helper()
	cmd, err := replica.NewCommand(&api.PutRequest{Key: []byte(key), Value: []byte(value)})
	if err != nil {
		t.Fatal(err)
	}
	return cmd
}

func TestDriverConcurrentProposals(t *testing.T) {
	drivers := startDrivers(t, 3)
	// A real store under each member: generous, for a loaded machine.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Wait for a leader.
	for drivers[1].Leader() == 0 {
		select {
		case <-ctx.Done():
			t.Fatal("no leader")
		case <-time.After(5 * time.Millisecond):
		}
	}
	const clients, perClient = 16, 50
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := drivers[uint64(c%3+1)]
			for i := range perClient {
				cmd, err := replica.NewCommand(&api.PutRequest{Key: fmt.Appendf(nil, "c%d", c), Value: fmt.Append(nil, i)})
				var res any
				if err == nil {
					res, err = d.Propose(ctx, cmd)
				}
				if err == nil {
					err = res.(replica.ApplyResult).Err
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// A read barrier on each member sees every write.
	for id, d := range drivers {
		if err := d.ReadBarrier(ctx); err != nil {
			t.Fatalf("read barrier at %d: %v", id, err)
		}
	}
}

func TestDriverStopFailsWaiters(t *testing.T) {
	drivers := startDrivers(t, 1)
	d := drivers[1]
	d.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if _, err := d.Propose(ctx, putCommand(t, "a", "1")); err != replica.ErrStopped {
		t.Fatalf("propose after stop: %v", err)
	}
}

// A proposal the core took is in flight when the member stops: the
// others may commit and apply it, so its caller must hear that the
// outcome is unknown (ErrStoppedInFlight), not that the member stopped
// (replica.ErrStopped), which clients take as "try another member".
func TestDriverStopAnswersProposalsInFlight(t *testing.T) {
	drivers := startDrivers(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var lead uint64
	for lead == 0 {
		if ctx.Err() != nil {
			t.Fatal("no leader")
		}
		lead = drivers[1].Leader()
		time.Sleep(5 * time.Millisecond)
	}
	if _, err := drivers[lead].Propose(ctx, putCommand(t, "a", "0")); err != nil {
		t.Fatal(err)
	}
	// The followers stop: the leader appends the next proposal and waits
	// for a quorum that never comes.
	for id, d := range drivers {
		if id != lead {
			d.Stop()
		}
	}
	st, err := drivers[lead].Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := drivers[lead].Propose(ctx, putCommand(t, "a", "1"))
		errc <- err
	}()
	for {
		now, err := drivers[lead].Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if now.Progress[lead].Match > st.Progress[lead].Match {
			break // appended to the leader's log
		}
		time.Sleep(time.Millisecond)
	}
	drivers[lead].Stop()
	if err := <-errc; !errors.Is(err, ErrStoppedInFlight) {
		t.Fatalf("a proposal in flight when the member stopped got %v, want ErrStoppedInFlight", err)
	}
}

func TestDriverContextCancel(t *testing.T) {
	drivers := startDrivers(t, 3)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := drivers[1].Propose(ctx, putCommand(t, "a", "1")); err != context.Canceled {
		t.Fatalf("propose with canceled context: %v", err)
	}
}
