package node

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cairndb/cairn/internal/lazydeadline"
	"github.com/cairndb/cairn/node/replica"
	"github.com/cairndb/cairn/raftcore"
)

// Transport carries raft messages between members. Send must not block for
// long: it queues messages and delivers them in order per peer, reporting
// failures back through the driver's ReportUnreachable and
// ReportSnapshot.
type Transport interface {
	Send(msgs []raftcore.Message)
}

// Driver runs a replica.Core for production: one goroutine owns the core, a
// ticker drives its clock, and callers on any goroutine make requests that
// wait for their replies. Events that arrive while the core is busy (in an
// fsync, say) are fed together on the next turn, which is what batches
// concurrent writes into one raft append and one fsync.
type Driver struct {
	core      *replica.Core
	transport Transport
	tick      time.Duration

	events  chan replica.Event
	inspect chan func(*replica.Core)
	nextID  atomic.Uint64

	// OnLeaderChange, if set before Start, is called on the core's
	// goroutine when the known leader changes (0: none known).
	OnLeaderChange func(leader uint64)
	// OnRepairChange, if set before Start, is called on the core's
	// goroutine when the member's repair of lost data moves on (see
	// replica.Core.Repair), starting with the state it starts in.
	OnRepairChange func(replica.RepairState)
	// repair is the core's repair state, published after each turn while
	// the member has one (nil when it lost nothing).
	repair atomic.Pointer[replica.RepairState]
	// OnRefused, if set before Start, is told on the core's goroutine
	// of each forwarded proposal the core refused (replica.Effects.Refused).
	OnRefused func(err error)

	mu      sync.Mutex
	waiters map[uint64]chan replica.Reply
	leader  atomic.Uint64

	stop     chan struct{}
	done     chan struct{}
	stopOnce sync.Once
}

// ErrStoppedInFlight answers the requests a member's core had taken when
// the member stopped: a proposal among them may be committed, and applied
// by the other members, so its outcome is unknown. Unlike
// replica.ErrStopped (the member stopped before it took the request),
// which a client may send to another member, a write answered with this
// must not be sent again blindly.
var ErrStoppedInFlight = errors.New("node: member stopped with the request in flight; it may or may not have been applied")

// maxBatch bounds the events fed in one turn, so a flood of requests still
// lets the core make progress on each.
const maxBatch = 4096

// NewDriver wraps core; Start runs it. The messages of a turn that the
// core has not handed to its sender already (replica.Config.Send: as soon
// as they may leave, a leader's appends before its own fsync) go to
// transport at the end of the turn.
func NewDriver(core *replica.Core, transport Transport, tick time.Duration) *Driver {
	return &Driver{
		core:      core,
		transport: transport,
		tick:      tick,
		events:    make(chan replica.Event, maxBatch),
		inspect:   make(chan func(*replica.Core)),
		waiters:   map[uint64]chan replica.Reply{},
		stop:      make(chan struct{}),
		done:      make(chan struct{}),
	}
}

// Start runs the core's goroutine.
func (d *Driver) Start() {
	d.publishRepair()
	go d.loop()
}

// publishRepair publishes the core's repair state for other goroutines
// (ReadRefusal, Repair) when it changed; it costs nothing for a member
// that lost no data.
func (d *Driver) publishRepair() {
	c, prev := d.core, d.repair.Load()
	if !c.Damaged() && prev == nil {
		return
	}
	st := c.Repair()
	if prev != nil && prev.String() == st.String() {
		return
	}
	if !c.Damaged() {
		d.repair.Store(nil)
	} else {
		d.repair.Store(&st)
	}
	if d.OnRepairChange != nil {
		d.OnRepairChange(st)
	}
}

// Repair returns the member's repair of lost data, or nil if it lost
// none (or is repaired).
func (d *Driver) Repair() *replica.RepairState { return d.repair.Load() }

// ReadRefusal says why the member must serve no read now (it lost data,
// and the cluster has not confirmed what its store holds), or nil.
func (d *Driver) ReadRefusal() error {
	if st := d.repair.Load(); st != nil {
		return st.ReadRefusal
	}
	return nil
}

// Stop stops the core's goroutine and fails the requests still waiting.
func (d *Driver) Stop() {
	d.stopOnce.Do(func() { close(d.stop) })
	<-d.done
}

func (d *Driver) loop() {
	defer close(d.done)
	ticker := time.NewTicker(d.tick)
	defer ticker.Stop()
	for {
		select {
		case <-d.stop:
			d.failAll(ErrStoppedInFlight)
			return
		case <-ticker.C:
			d.core.Feed(replica.EvTick{})
		case ev := <-d.events:
			d.core.Feed(ev)
		case fn := <-d.inspect:
			fn(d.core)
		}
		// Take everything else already waiting, then do the work once.
	more:
		for n := 0; n < maxBatch; n++ {
			select {
			case ev := <-d.events:
				d.core.Feed(ev)
			default:
				break more
			}
		}
		d.core.Run()
		d.dispatch(d.core.TakeEffects())
		d.publishRepair()
	}
}

func (d *Driver) dispatch(eff replica.Effects) {
	if eff.LeaderChanged {
		d.leader.Store(eff.Leader)
		if d.OnLeaderChange != nil {
			d.OnLeaderChange(eff.Leader)
		}
	}
	if d.OnRefused != nil {
		for _, err := range eff.Refused {
			d.OnRefused(err)
		}
	}
	if len(eff.Messages) > 0 {
		d.transport.Send(eff.Messages)
	}
	if len(eff.Replies) == 0 {
		return
	}
	d.mu.Lock()
	for _, r := range eff.Replies {
		if ch, ok := d.waiters[r.ReqID]; ok {
			delete(d.waiters, r.ReqID)
			ch <- r
		}
	}
	d.mu.Unlock()
}

func (d *Driver) failAll(err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for id, ch := range d.waiters {
		ch <- replica.Reply{ReqID: id, Err: err}
		delete(d.waiters, id)
	}
}

// Inspect runs fn on the core's goroutine, between turns, and waits for
// it: the way to read the core's state (raft status) or to do work that
// must not race with applying entries (copying the store's file).
func (d *Driver) Inspect(ctx context.Context, fn func(*replica.Core)) error {
	done := make(chan struct{})
	wrapped := func(c *replica.Core) { fn(c); close(done) }
	select {
	case d.inspect <- wrapped:
	case <-ctx.Done():
		return ctx.Err()
	case <-d.done:
		return replica.ErrStopped
	}
	<-done
	return nil
}

// Status returns raft's status, read on the core's goroutine.
func (d *Driver) Status(ctx context.Context) (raftcore.Status, error) {
	var st raftcore.Status
	err := d.Inspect(ctx, func(c *replica.Core) { st = c.Status() })
	return st, err
}

// Err is the error that stopped the core, if it stopped on its own (a
// storage failure); read on the core's goroutine.
func (d *Driver) Err() error {
	var err error
	if d.Inspect(context.Background(), func(c *replica.Core) { err = c.Err() }) != nil {
		return replica.ErrStopped
	}
	return err
}

// Leader is the member this one believes leads (0 if none).
func (d *Driver) Leader() uint64 { return d.leader.Load() }

// Receive hands the driver a message from a peer.
func (d *Driver) Receive(m raftcore.Message) { d.post(replica.EvMessage{Msg: m}) }

// ReportUnreachable tells raft a message to id could not be sent.
func (d *Driver) ReportUnreachable(id uint64) { d.post(replica.EvUnreachable{To: id}) }

// ReportSnapshot tells raft whether a snapshot reached id.
func (d *Driver) ReportSnapshot(id uint64, failed bool) {
	d.post(replica.EvSnapshotStatus{To: id, Failed: failed})
}

// post queues an event, dropping it if the member is stopping.
func (d *Driver) post(ev replica.Event) {
	select {
	case d.events <- ev:
	case <-d.stop:
	}
}

// request sends a request event built around a fresh id and waits for its
// reply or for ctx to end.
func (d *Driver) request(ctx context.Context, limit time.Time, build func(id uint64) replica.Event) (any, error) {
	select {
	case <-d.stop:
		return nil, replica.ErrStopped // not taken: another member may
	default:
	}
	id := d.nextID.Add(1)
	ch := make(chan replica.Reply, 1)
	d.mu.Lock()
	d.waiters[id] = ch
	d.mu.Unlock()
	ev := build(id)
	// The waits select on a lazydeadline.Watch, not ctx.Done: a call's
	// context then starts no timer context of its own (see Watch).
	select {
	case d.events <- ev:
	default:
		if err := d.send(ctx, limit, ev); err != nil {
			d.forget(id)
			return nil, err
		}
	}
	w := lazydeadline.NewWatch(ctx, limit)
	defer w.Stop()
	select {
	case r := <-ch:
		return r.Result, r.Err
	case <-w.Expired:
	case <-w.Ended:
	case <-d.done:
		return nil, ErrStoppedInFlight
	}
	d.forget(id)
	d.post(replica.EvCancel{ReqID: id})
	return nil, w.Err()
}

// send queues ev for the core once there is room, until ctx ends, limit
// (unless zero) passes or the driver stops.
func (d *Driver) send(ctx context.Context, limit time.Time, ev replica.Event) error {
	w := lazydeadline.NewWatch(ctx, limit)
	defer w.Stop()
	select {
	case d.events <- ev:
		return nil
	case <-w.Expired:
	case <-w.Ended:
	case <-d.stop:
		return replica.ErrStopped
	}
	return w.Err()
}

func (d *Driver) forget(id uint64) {
	d.mu.Lock()
	delete(d.waiters, id)
	d.mu.Unlock()
}

// Propose replicates cmd and returns the state machine's result for it.
// An error from ctx means the outcome is unknown: the command may still be
// applied.
func (d *Driver) Propose(ctx context.Context, cmd replica.Envelope) (any, error) {
	return d.ProposeWithin(ctx, cmd, time.Time{})
}

// ProposeWithin is Propose, waiting at most until limit (unless zero) as
// well: a bound of the member's own that costs no context of its own.
// Past it, the error is context.DeadlineExceeded.
func (d *Driver) ProposeWithin(ctx context.Context, cmd replica.Envelope, limit time.Time) (any, error) {
	return d.request(ctx, limit, func(id uint64) replica.Event { return replica.EvPropose{ReqID: id, Cmd: cmd} })
}

// ReadBarrier returns once a linearizable read may be served from the
// local state machine.
func (d *Driver) ReadBarrier(ctx context.Context) error {
	_, err := d.request(ctx, time.Time{}, func(id uint64) replica.Event { return replica.EvRead{ReqID: id} })
	return err
}

// ProposeConfChange changes the membership by one member and returns the
// membership after it.
func (d *Driver) ProposeConfChange(ctx context.Context, cc raftcore.ConfChange) (raftcore.ConfState, error) {
	res, err := d.request(ctx, time.Time{}, func(id uint64) replica.Event { return replica.EvProposeConfChange{ReqID: id, CC: cc} })
	if err != nil {
		return raftcore.ConfState{}, err
	}
	cs, ok := res.(raftcore.ConfState)
	if !ok {
		return raftcore.ConfState{}, fmt.Errorf("node: conf change result %T", res)
	}
	return cs, nil
}

// TransferLeadership asks the leader to hand leadership to id and waits
// until this member sees a new leader or ctx ends.
func (d *Driver) TransferLeadership(ctx context.Context, id uint64) error {
	d.post(replica.EvTransferLeader{To: id})
	for {
		if d.Leader() == id {
			return nil
		}
		select {
		case <-ctx.Done():
			return errors.Join(errors.New("node: leadership transfer did not finish"), ctx.Err())
		case <-time.After(d.tick):
		}
	}
}
