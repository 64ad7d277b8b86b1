package rpc

import (
	"sync"
	"time"
)

// recvBudget bounds the bytes a server holds, all its connections
// together, for what they are receiving beyond a small fixed amount each:
// the bodies of frames still arriving (past their first chunk) and the
// large read buffers of busy connections. A nil budget is unbounded (a
// client's connection).
type recvBudget struct {
	mu      sync.Mutex
	limit   int64
	used    int64
	waiters int
	freed   chan struct{} // closed (and replaced) when bytes come back and someone waits
}

func newRecvBudget(limit int64) *recvBudget {
	return &recvBudget{limit: limit, freed: make(chan struct{})}
}

// tryTake takes n bytes if they are free, without waiting.
func (b *recvBudget) tryTake(n int64) bool {
	if b == nil {
		return true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.used+n > b.limit {
		return false
	}
	b.used += n
	return true
}

// take takes n bytes (n <= limit), waiting until they are free (calling
// waiting, if set, when it starts to wait); it gives up, returning false,
// when done is closed first.
func (b *recvBudget) take(n int64, done <-chan struct{}, waiting func()) bool {
	if b == nil {
		return true
	}
	waited := false
	b.mu.Lock()
	for b.used+n > b.limit {
		if !waited && waiting != nil {
			waited = true
			b.mu.Unlock()
			waiting()
			b.mu.Lock()
			continue
		}
		freed := b.freed
		b.waiters++
		b.mu.Unlock()
		select {
		case <-freed:
		case <-done:
			b.mu.Lock()
			b.waiters--
			b.mu.Unlock()
			return false
		}
		b.mu.Lock()
		b.waiters--
	}
	b.used += n
	b.mu.Unlock()
	return true
}

// give returns n bytes taken before, waking whoever waits for them.
func (b *recvBudget) give(n int64) {
	if b == nil || n == 0 {
		return
	}
	b.mu.Lock()
	b.used -= n
	if b.waiters > 0 {
		close(b.freed)
		b.freed = make(chan struct{})
	}
	b.mu.Unlock()
}

// inUse is how many bytes are taken now.
func (b *recvBudget) inUse() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}

// rateLimited lets an event be logged at most once per interval, counting
// the ones it holds back, so that a flood (of refused connections, say)
// cannot flood the log too.
type rateLimited struct {
	mu         sync.Mutex
	interval   time.Duration
	last       time.Time
	suppressed int
}

// allow reports whether to log now and how many events were held back
// since the last one logged.
func (r *rateLimited) allow() (ok bool, suppressed int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	if !r.last.IsZero() && now.Sub(r.last) < r.interval {
		r.suppressed++
		return false, 0
	}
	r.last, suppressed, r.suppressed = now, r.suppressed, 0
	return true, suppressed
}
