package etcd

import (
	"bytes"
	"testing"

	"pgregory.net/rapid"
)

// wantField is a field as a test writes it.
type wantField struct {
	num   int
	isInt bool
	n     int64
	data  []byte
}

func TestFieldsRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		fields := rapid.SliceOfN(rapid.Custom(func(t *rapid.T) wantField {
			f := wantField{num: rapid.IntRange(1, 1<<20).Draw(t, "num"), isInt: rapid.Bool().Draw(t, "isInt")}
			if f.isInt {
				f.n = rapid.Int64().Draw(t, "n")
			} else {
				f.data = rapid.SliceOfN(rapid.Byte(), 0, 300).Draw(t, "data")
			}
			return f
		}), 0, 20).Draw(t, "fields")
		var msg []byte
		for _, f := range fields {
			if f.isInt {
				msg = appendIntAlways(msg, f.num, f.n)
			} else {
				msg = appendMessage(msg, f.num, f.data)
			}
		}
		var got []wantField
		err := eachField(msg, func(f field) error {
			w := wantField{num: f.num, isInt: f.wire == wireVarint, n: int64(f.n), data: f.data}
			if w.isInt {
				w.data = nil
			}
			got = append(got, w)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(fields) {
			t.Fatalf("%d fields back, wrote %d", len(got), len(fields))
		}
		for i := range got {
			w := fields[i]
			if got[i].num != w.num || got[i].isInt != w.isInt || got[i].n != w.n || !bytes.Equal(got[i].data, w.data) {
				t.Fatalf("field %d: got %+v, wrote %+v", i, got[i], w)
			}
		}
		// Every proper prefix that cuts a field is reported, never a panic.
		if len(msg) > 0 {
			cut := rapid.IntRange(0, len(msg)-1).Draw(t, "cut")
			_ = eachField(msg[:cut], func(field) error { return nil })
		}
	})
}

func TestDefaultsAreOmitted(t *testing.T) {
	if b := appendInt(appendBool(appendBytes(nil, 1, nil), 2, false), 3, 0); len(b) != 0 {
		t.Fatalf("zero values encoded as % x", b)
	}
	// A oneof member is written even when zero: key 6, varint 0.
	if b := appendIntAlways(nil, 6, 0); !bytes.Equal(b, []byte{6 << 3, 0}) {
		t.Fatalf("oneof zero = % x", b)
	}
}

func TestTruncatedMessages(t *testing.T) {
	for _, msg := range [][]byte{
		{0x80},             // tag varint never ends
		{1 << 3},           // varint field without its value
		{1<<3 | 2, 5, 'a'}, // 5 bytes announced, 1 present
		{1<<3 | 1, 1, 2},   // fixed64 cut short
	} {
		if err := eachField(msg, func(field) error { return nil }); err == nil {
			t.Errorf("% x: no error", msg)
		}
	}
	if err := eachField([]byte{1<<3 | 3}, func(field) error { return nil }); err == nil {
		t.Error("group wire type accepted")
	}
}

// kvMsg encodes an mvccpb.KeyValue.
func kvMsg(key, val []byte, mod int64) []byte {
	b := appendBytes(nil, 1, key)
	b = appendInt(b, kvModRevision, mod)
	return appendBytes(b, kvValue, val)
}

func TestDecodeResponses(t *testing.T) {
	hdr := appendInt(appendInt(nil, headerMemberID, 7), headerRevision, 42)

	rng := appendMessage(nil, respHeader, hdr)
	rng = appendMessage(rng, rangeKvs, kvMsg([]byte("a"), []byte("1"), 10))
	rng = appendMessage(rng, rangeKvs, kvMsg([]byte("b"), []byte("2"), 11))
	if r, err := decodeRange(rng); err != nil || r.n != 2 || r.modRevision != 10 {
		t.Errorf("range: %+v %v", r, err)
	}
	if h, err := responseHeader(rng); err != nil || h.revision != 42 || h.memberID != 7 {
		t.Errorf("header: %+v %v", h, err)
	}

	failed := appendMessage(nil, respHeader, hdr)
	failed = appendMessage(failed, txnResponses, appendMessage(nil, responseOpRange, rng))
	if tx, err := decodeTxn(failed); err != nil || tx.succeeded || tx.rng.modRevision != 10 || tx.revision != 42 {
		t.Errorf("failed txn: %+v %v", tx, err)
	}
	ok := appendBool(appendMessage(nil, respHeader, hdr), txnSucceeded, true)
	if tx, err := decodeTxn(ok); err != nil || !tx.succeeded || tx.revision != 42 {
		t.Errorf("txn: %+v %v", tx, err)
	}

	ev := func(typ int64, val string) []byte {
		return appendMessage(appendInt(nil, eventType, typ), eventKv, kvMsg([]byte("k"), []byte(val), 1))
	}
	w := appendMessage(nil, respHeader, hdr)
	w = appendMessage(w, watchEvents, ev(0, "put1"))
	w = appendMessage(w, watchEvents, ev(1, "deleted"))
	w = appendMessage(w, watchEvents, ev(0, "put2"))
	if wr, err := decodeWatch(w); err != nil || len(wr.putValues) != 2 || string(wr.putValues[1]) != "put2" {
		t.Errorf("watch: %+v %v", wr, err)
	}

	if _, err := decodeLeaseGrant(appendBytes(nil, leaseGrantError, []byte("too many leases"))); err == nil {
		t.Error("lease grant error not reported")
	}
	if ttl, err := decodeKeepAlive(appendInt(nil, keepAliveTTL, 60)); err != nil || ttl != 60 {
		t.Errorf("keepalive TTL %d %v", ttl, err)
	}
	st := appendInt(appendMessage(nil, respHeader, hdr), statusLeader, 9)
	if m, l, err := decodeStatusLeader(st); err != nil || m != 7 || l != 9 {
		t.Errorf("status: member %d leader %d %v", m, l, err)
	}
}

func TestPrefixRange(t *testing.T) {
	for _, tc := range []struct{ prefix, key, end string }{
		{"", "\x00", "\x00"},
		{"ab", "ab", "ac"},
		{"a\xff", "a\xff", "b"},
		{"\xff\xff", "\xff\xff", "\x00"},
	} {
		k, e := prefixRange([]byte(tc.prefix))
		if string(k) != tc.key || string(e) != tc.end {
			t.Errorf("prefixRange(%q) = %q, %q; want %q, %q", tc.prefix, k, e, tc.key, tc.end)
		}
	}
}
