package linearizability

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/cairndb/cairn/api"
)

func putEvent(k, v string, create, mod, version int64, prev *api.KeyValue) api.Event {
	return api.Event{Type: api.EventPut, Kv: kv(k, v, create, mod, version), PrevKv: prev}
}

func deleteEvent(k string, rev int64, prev api.KeyValue) api.Event {
	return api.Event{Type: api.EventDelete, Kv: api.KeyValue{Key: []byte(k), ModRevision: rev}, PrevKv: &prev}
}

func TestCheckWatch(t *testing.T) {
	a2 := kv("p/a", "1", 2, 2, 1)
	log := []Change{
		{Revision: 2, Events: []api.Event{putEvent("p/a", "1", 2, 2, 1, nil)}},
		{Revision: 3, Events: []api.Event{putEvent("q", "1", 3, 3, 1, nil)}},
		{Revision: 4, Events: []api.Event{putEvent("p/a", "2", 2, 4, 2, &a2), putEvent("p/b", "1", 4, 4, 1, nil)}},
		{Revision: 5, Events: []api.Event{deleteEvent("p/b", 5, kv("p/b", "1", 4, 4, 1))}},
	}
	prefix := Watch{Key: []byte("p/"), RangeEnd: prefixEnd("p/"), StartRevision: 1, PrevKv: true}
	complete := []api.Event{log[0].Events[0], log[2].Events[1], log[2].Events[0], log[3].Events[0]}
	wrongValue := slices.Clone(complete)
	wrongValue[0] = putEvent("p/a", "x", 2, 2, 1, nil)
	wrongPrev := slices.Clone(complete)
	wrongPrev[3] = deleteEvent("p/b", 5, kv("p/b", "0", 4, 4, 1))

	cases := []struct {
		name   string
		w      Watch
		events []api.Event
		upTo   int64
		want   string // "" for a complete, ordered stream
	}{
		{"complete (any order within a revision)", prefix, complete, 0, ""},
		{"complete to a progress revision", prefix, complete, 9, ""},
		{"empty and nothing due", Watch{Key: []byte("z"), StartRevision: 1}, nil, 5, ""},
		{"later start", Watch{Key: []byte("p/"), RangeEnd: prefixEnd("p/"), StartRevision: 3}, complete[1:], 0, ""},
		{"single key", Watch{Key: []byte("p/a"), StartRevision: 1}, []api.Event{complete[0], complete[2]}, 5, ""},
		{"gap", prefix, slices.Delete(slices.Clone(complete), 1, 2), 0, "gap"},
		{"gap at the end before a progress revision", prefix, complete[:3], 5, "gap"},
		{"missing whole revision", prefix, []api.Event{complete[0], complete[3]}, 0, "gap"},
		{"duplicate", prefix, slices.Insert(slices.Clone(complete), 1, complete[1]), 0, "duplicate"},
		{"redelivered after a later revision", prefix, append(slices.Clone(complete), complete[0]), 0, "out of order"},
		{"event matching no write", prefix, slices.Insert(slices.Clone(complete), 1, putEvent("p/c", "1", 3, 3, 1, nil)), 0, "matches no write"},
		{"wrong value", prefix, wrongValue, 0, "wrong key-value"},
		{"wrong previous key-value", prefix, wrongPrev, 0, "previous key-value"},
		{"outside the watched keys", prefix, append([]api.Event{log[1].Events[0]}, complete...), 0, "outside"},
		{"before the start revision", Watch{Key: []byte("p/"), RangeEnd: prefixEnd("p/"), StartRevision: 3}, complete, 0, "before the watch's start"},
		{"after the complete revision", prefix, complete, 4, "after the revision"},
		{"bad start revision", Watch{Key: []byte("p/")}, nil, 0, "start revision"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := CheckWatch(log, c.w, c.events, c.upTo)
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("want ok, got %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("want an error containing %q, got %v", c.want, err)
			}
		})
	}
	unordered := []Change{log[1], log[0]}
	if err := CheckWatch(unordered, prefix, nil, 5); err == nil || !strings.Contains(err.Error(), "change log") {
		t.Fatalf("unordered log: got %v", err)
	}
}

func TestChangeLog(t *testing.T) {
	history := []porcupine.Operation{
		op(0, 0, 10, put("a", "1"), putResp(2)),
		op(1, 0, 10, put("b", "1"), putResp(3)),
		op(0, 20, 30, del("a"), delResp(4, 1)),
		op(0, 40, 50, del("a"), delResp(4, 0)),
		unknownOp(2, 60, get("b")),
	}
	log, err := ChangeLog(history, Start{Revision: 1}, time.Second, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	a := kv("a", "1", 2, 2, 1)
	want := []Change{
		{Revision: 2, Events: []api.Event{putEvent("a", "1", 2, 2, 1, nil)}},
		{Revision: 3, Events: []api.Event{putEvent("b", "1", 3, 3, 1, nil)}},
		{Revision: 4, Events: []api.Event{deleteEvent("a", 4, a)}},
	}
	if !slices.EqualFunc(log, want, sameChange) {
		t.Fatalf("got %v, want %v", log, want)
	}
	history[1] = op(1, 0, 10, put("b", "1"), putResp(7))
	if _, err := ChangeLog(history, Start{Revision: 1}, time.Second, t.TempDir()); err == nil {
		t.Fatal("ChangeLog accepted a history that is not linearizable")
	}
}
