package node

import (
	"testing"

	"github.com/cairndb/cairn/api"
)

// recordingWatchStream keeps what a watch session sends.
type recordingWatchStream struct{ sent []*api.WatchResponse }

func (r *recordingWatchStream) Recv() (*api.WatchRequest, error) { select {} }
func (r *recordingWatchStream) Send(m *api.WatchResponse) error {
	r.sent = append(r.sent, m)
	return nil
}

// TestProgressRound: a stream's progress request is answered once, with
// watch id -1 at the least revision its watchers reported, when each has
// passed its own notification on or ended; a notification the round does
// not wait for is the watcher's to send.
func TestProgressRound(t *testing.T) {
	st := &recordingWatchStream{}
	w := &watchSession{s: &Server{}, stream: st, watchers: map[int64]*sessionWatcher{}}
	a, b, c := &sessionWatcher{id: 0}, &sessionWatcher{id: 1}, &sessionWatcher{id: 2}
	takes := func(sw *sessionWatcher, rev int64, want bool) {
		t.Helper()
		if taken, err := w.progressArrived(sw, rev); err != nil || taken != want {
			t.Fatalf("watcher %d's notification at %d: taken %v (%v), want %v", sw.id, rev, taken, err, want)
		}
	}
	answered := func(n int, rev int64) {
		t.Helper()
		if len(st.sent) != n {
			t.Fatalf("%d answers sent, want %d: %+v", len(st.sent), n, st.sent)
		}
		if n > 0 {
			if last := st.sent[n-1]; last.WatchID != streamProgressWatchID || last.Header.Revision != rev || last.Created || last.Canceled {
				t.Fatalf("answer %+v, want watch id -1 at revision %d", last, rev)
			}
		}
	}

	takes(a, 5, false) // no round: the watcher's own
	w.progress = &progressRound{waiting: map[*sessionWatcher]bool{a: true, b: true}}
	takes(a, 7, true)
	takes(c, 9, false) // not waited for
	answered(0, 0)
	if err := w.progressGone(b); err != nil { // b ended: a's revision answers
		t.Fatal(err)
	}
	answered(1, 7)
	takes(a, 8, false) // the round is over
	if w.progress != nil {
		t.Fatalf("round still under way: %+v", w.progress)
	}

	w.progress = &progressRound{waiting: map[*sessionWatcher]bool{a: true, b: true}}
	takes(a, 9, true)
	takes(b, 8, true)
	answered(2, 8)

	// Every watcher gone before reporting: nothing to answer with.
	w.progress = &progressRound{waiting: map[*sessionWatcher]bool{a: true}}
	if err := w.progressGone(a); err != nil {
		t.Fatal(err)
	}
	answered(2, 8)
	if w.progress != nil {
		t.Fatalf("round still under way: %+v", w.progress)
	}
}
