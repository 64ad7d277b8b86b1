package node

import (
	"time"

	"github.com/cairndb/cairn/api"
)

// A progress request on a watch stream is answered as etcd answers it:
// once for the stream, with watch id -1 (clientv3's InvalidWatchID,
// which clients hand to every watcher of the stream), when every watcher
// has sent all it had. Each watcher here has its own forwarder, so the
// session asks each for a progress notification of its own (the store
// sends one once the watcher is synced: mvcc.Store.RequestProgress) and
// answers when every forwarder has passed its own on, at the least of
// their revisions: by then each has sent every event below it.

// streamProgressWatchID is the watch id of the answer to a stream's
// progress request.
const streamProgressWatchID = -1

// progressRetry is how often a progress request asks again the watchers
// the store could not yet notify (not synced, or their channel full).
const progressRetry = 20 * time.Millisecond

// progressRound is a progress request being answered (under the
// session's mu).
type progressRound struct {
	waiting map[*sessionWatcher]bool // true once the store took the watcher's request
	rev     int64                    // the least revision reported so far
}

// requestProgress starts answering a progress request. One already under
// way answers this one too; a stream without watchers gets no answer, as
// etcd's.
func (w *watchSession) requestProgress() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.progress != nil || len(w.watchers) == 0 || w.closed {
		return
	}
	round := &progressRound{waiting: make(map[*sessionWatcher]bool, len(w.watchers))}
	for _, sw := range w.watchers {
		round.waiting[sw] = false
	}
	w.progress = round
	if !w.askProgress(round) {
		w.wg.Add(1)
		go w.pursueProgress(round)
	}
}

// askProgress asks the store for the progress of the watchers of round
// it has not yet taken the request of, and reports whether it took them
// all (w.mu held).
func (w *watchSession) askProgress(round *progressRound) bool {
	all := true
	for sw, asked := range round.waiting {
		if !asked {
			round.waiting[sw] = w.store.RequestProgress(sw.x)
			all = all && round.waiting[sw]
		}
	}
	return all
}

// pursueProgress asks again, every progressRetry, until the store took
// every watcher's request, the round ended or the session did.
func (w *watchSession) pursueProgress(round *progressRound) {
	defer w.wg.Done()
	for {
		time.Sleep(progressRetry)
		w.mu.Lock()
		done := w.closed || w.progress != round || w.askProgress(round)
		w.mu.Unlock()
		if done {
			return
		}
	}
}

// progressArrived takes a watcher's progress notification at rev, which
// its forwarder reached: it counts toward the round under way, if the
// round waits for that watcher, and then is not sent on its own (false:
// send it as the watcher's). The notification that ends the round sends
// the stream's answer.
func (w *watchSession) progressArrived(sw *sessionWatcher, rev int64) (bool, error) {
	w.mu.Lock()
	round := w.progress
	if round == nil {
		w.mu.Unlock()
		return false, nil
	}
	if _, ok := round.waiting[sw]; !ok {
		w.mu.Unlock()
		return false, nil
	}
	if round.rev == 0 || rev < round.rev {
		round.rev = rev
	}
	delete(round.waiting, sw)
	answer := w.endRoundIfDone(round)
	w.mu.Unlock()
	return true, w.sendProgress(answer)
}

// progressGone drops a watcher that ended from the round under way,
// which may end it.
func (w *watchSession) progressGone(sw *sessionWatcher) error {
	w.mu.Lock()
	var answer int64
	if round := w.progress; round != nil {
		if _, ok := round.waiting[sw]; ok {
			delete(round.waiting, sw)
			answer = w.endRoundIfDone(round)
		}
	}
	w.mu.Unlock()
	return w.sendProgress(answer)
}

// endRoundIfDone ends round if it waits for no more watchers, and returns
// the revision to answer at (0: not yet, or no watcher reported one)
// (w.mu held).
func (w *watchSession) endRoundIfDone(round *progressRound) int64 {
	if len(round.waiting) > 0 {
		return 0
	}
	w.progress = nil
	return round.rev
}

// sendProgress sends the stream's answer to a progress request, at rev
// (0: nothing to send).
func (w *watchSession) sendProgress(rev int64) error {
	if rev == 0 {
		return nil
	}
	h := w.s.header()
	h.Revision = rev
	return w.send(&api.WatchResponse{Header: h, WatchID: streamProgressWatchID})
}
