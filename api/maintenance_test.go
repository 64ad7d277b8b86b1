package api

import (
	"errors"
	"reflect"
	"testing"

	"pgregory.net/rapid"
)

func genAlarmType(t *rapid.T) AlarmType { return AlarmType(rapid.IntRange(0, 2).Draw(t, "alarm")) }

func TestMaintenanceRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		roundTrip(t, &AlarmRequest{Action: AlarmAction(rapid.IntRange(0, 2).Draw(t, "action")),
			MemberID: rapid.Uint64().Draw(t, "member"), Alarm: genAlarmType(t)})
		roundTrip(t, &AlarmResponse{Header: genHeader(t), Alarms: genList(t, "alarms", func(t *rapid.T) AlarmMember {
			return AlarmMember{MemberID: rapid.Uint64().Draw(t, "member"), Alarm: genAlarmType(t)}
		})})
		roundTrip(t, &StatusRequest{})
		roundTrip(t, &DefragmentRequest{})
		roundTrip(t, &DefragmentResponse{Header: genHeader(t)})
		roundTrip(t, &HashRequest{})
		roundTrip(t, &HashResponse{Header: genHeader(t), Hash: rapid.Uint32().Draw(t, "hash")})
		roundTrip(t, &HashKVRequest{Revision: rapid.Int64().Draw(t, "rev")})
		roundTrip(t, &HashKVResponse{Header: genHeader(t), Hash: rapid.Uint32().Draw(t, "hash"),
			CompactRevision: rapid.Int64().Draw(t, "compact"), HashRevision: rapid.Int64().Draw(t, "rev")})
		roundTrip(t, &SnapshotRequest{})
		roundTrip(t, &SnapshotResponse{Header: genHeader(t), RemainingBytes: rapid.Uint64().Draw(t, "left"),
			Blob: genBytes(t, "blob"), Version: genStr(t)})
		roundTrip(t, &MoveLeaderRequest{TargetID: rapid.Uint64().Draw(t, "target")})
		roundTrip(t, &MoveLeaderResponse{Header: genHeader(t)})
	})
}

// TestStatusResponseRoundTrip checks StatusResponse round trips, and that
// the bytes an older member sends, which end before StorageVersion,
// decode with the fields it lacks empty, while every other prefix is an
// error.
func TestStatusResponseRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		m := &StatusResponse{Header: genHeader(t), Version: genStr(t), DbSize: rapid.Int64().Draw(t, "size"),
			DbSizeInUse: rapid.Int64().Draw(t, "inuse"), Leader: rapid.Uint64().Draw(t, "leader"),
			RaftIndex: rapid.Uint64().Draw(t, "index"), RaftTerm: rapid.Uint64().Draw(t, "term"),
			RaftAppliedIndex: rapid.Uint64().Draw(t, "applied"), Errors: genStrs(t, "errors"),
			IsLearner: rapid.Bool().Draw(t, "learner"), StorageVersion: genStr(t), DbSizeQuota: rapid.Int64().Draw(t, "quota")}
		b := Marshal(m)
		var got StatusResponse
		if err := Unmarshal(b, &got); err != nil || !reflect.DeepEqual(&got, m) {
			t.Fatalf("round trip: %v\n got %+v\nwant %+v", err, &got, m)
		}
		older := *m
		older.StorageVersion, older.DbSizeQuota = "", 0
		oldLen := len(Marshal(&older)) - 2 // the two new fields, empty, are a byte each
		for i := 0; i < len(b); i++ {
			var p StatusResponse
			err := Unmarshal(b[:i], &p)
			if i == oldLen {
				if err != nil || !reflect.DeepEqual(&p, &older) {
					t.Fatalf("older member's %d bytes: %v\n got %+v\nwant %+v", i, err, &p, &older)
				}
			} else if !errors.Is(err, ErrDecode) {
				t.Fatalf("prefix %d/%d: %v", i, len(b), err)
			}
		}
	})
}

func TestAlarmTypeString(t *testing.T) {
	for a, want := range map[AlarmType]string{AlarmNone: "NONE", AlarmNoSpace: "NOSPACE", AlarmCorrupt: "CORRUPT", 9: "AlarmType(9)"} {
		if got := a.String(); got != want {
			t.Errorf("AlarmType(%d).String() = %q, want %q", uint8(a), got, want)
		}
	}
}
