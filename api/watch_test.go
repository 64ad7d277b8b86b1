package api

import (
	"testing"

	"pgregory.net/rapid"
)

func genEvent(t *rapid.T) Event {
	ev := Event{Type: EventType(rapid.IntRange(0, 1).Draw(t, "type")), Kv: genKV(t)}
	if rapid.Bool().Draw(t, "hasPrev") {
		prev := genKV(t)
		ev.PrevKv = &prev
	}
	return ev
}

func genWatchCreate(t *rapid.T) *WatchCreateRequest {
	return &WatchCreateRequest{Key: genBytes(t, "k"), RangeEnd: genBytes(t, "e"),
		StartRevision: rapid.Int64().Draw(t, "start"), ProgressNotify: rapid.Bool().Draw(t, "progress"),
		Filters: genList(t, "filters", func(t *rapid.T) WatchFilterType {
			return WatchFilterType(rapid.IntRange(0, 1).Draw(t, "filter"))
		}),
		PrevKv: rapid.Bool().Draw(t, "prev"), WatchID: rapid.Int64().Draw(t, "id"), Fragment: rapid.Bool().Draw(t, "frag")}
}

func TestWatchRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		roundTrip(t, genWatchCreate(t))
		roundTrip(t, &WatchCancelRequest{WatchID: rapid.Int64().Draw(t, "id")})
		roundTrip(t, &WatchProgressRequest{})
		var req WatchRequest
		switch rapid.IntRange(0, 2).Draw(t, "kind") {
		case 0:
			req.Create = genWatchCreate(t)
		case 1:
			req.Cancel = &WatchCancelRequest{WatchID: rapid.Int64().Draw(t, "id")}
		case 2:
			req.Progress = &WatchProgressRequest{}
		}
		roundTrip(t, &req)
		roundTrip(t, &WatchResponse{Header: genHeader(t), WatchID: rapid.Int64().Draw(t, "id"),
			Created: rapid.Bool().Draw(t, "created"), Canceled: rapid.Bool().Draw(t, "canceled"),
			CompactRevision: rapid.Int64().Draw(t, "compact"), CancelReason: genStr(t),
			Fragment: rapid.Bool().Draw(t, "frag"), Events: genList(t, "events", genEvent)})
	})
}

// TestWatchRequestDecodesOneField checks that decoding into a used value
// leaves only the decoded field set.
func TestWatchRequestDecodesOneField(t *testing.T) {
	m := WatchRequest{Create: &WatchCreateRequest{Key: []byte("k")}}
	if err := Unmarshal(Marshal(&WatchRequest{Cancel: &WatchCancelRequest{WatchID: 7}}), &m); err != nil {
		t.Fatal(err)
	}
	if m.Create != nil || m.Cancel == nil || m.Cancel.WatchID != 7 {
		t.Errorf("decoded %+v", m)
	}
}
