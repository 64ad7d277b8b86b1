package rpc

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"reflect"
	"runtime"
	"testing"
	"time"

	"pgregory.net/rapid"
)

const testMaxBody = 1 << 10

// sampleFrames has one frame of every kind, with every field it carries set.
func sampleFrames() []frame {
	return []frame{
		{kind: kindRequest, stream: 1, method: 7, timeout: 1500 * time.Millisecond, body: []byte("req")},
		{kind: kindRequest, stream: 3, method: 0xffff, body: []byte{}},
		{kind: kindResponse, stream: 1, body: []byte("resp")},
		{kind: kindOpen, stream: 5, method: 9, timeout: time.Microsecond, token: "tok", window: 1 << 20},
		{kind: kindRequest, stream: 7, method: 2, token: string(bytes.Repeat([]byte("t"), MaxTokenSize)), body: []byte("r")},
		{kind: kindMessage, stream: 5, body: bytes.Repeat([]byte("m"), testMaxBody)},
		{kind: kindEnd, stream: 5},
		{kind: kindError, stream: 1, code: CodeDeadlineExceeded, body: []byte("too slow")},
		{kind: kindError, stream: 1, code: 1234, body: []byte{}},
		{kind: kindCancel, stream: math.MaxUint64},
		{kind: kindWindow, stream: 5, window: maxWindowGrant},
		{kind: kindPing, ping: 0xdeadbeef},
		{kind: kindPong, ping: math.MaxUint64},
		{kind: kindGoAway, code: CodeUnavailable, body: []byte("bye")},
	}
}

// normalize makes frames comparable: decoding yields empty, not nil, bodies
// for the kinds that carry one.
func normalize(f frame) frame {
	switch f.kind {
	case kindRequest, kindResponse, kindMessage, kindError, kindGoAway:
		if f.body == nil {
			f.body = []byte{}
		}
	}
	return f
}

func decodeAll(t *testing.T, b []byte, maxBody int) []frame {
	t.Helper()
	fr := frameReader{r: bytes.NewReader(b), maxBody: maxBody}
	var out []frame
	for {
		f, err := fr.read()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("decoding frame %d: %v", len(out), err)
		}
		out = append(out, f)
	}
}

func TestFrameRoundTripEveryKind(t *testing.T) {
	frames := sampleFrames()
	seen := map[frameKind]bool{}
	var wire []byte
	for i := range frames {
		wire = appendFrame(wire, &frames[i])
		seen[frames[i].kind] = true
	}
	for k := frameKind(1); k <= lastKind; k++ {
		if !seen[k] {
			t.Errorf("sampleFrames lacks a %s frame", k)
		}
	}
	got := decodeAll(t, wire, testMaxBody)
	if len(got) != len(frames) {
		t.Fatalf("decoded %d frames, want %d", len(got), len(frames))
	}
	for i := range frames {
		if want := normalize(frames[i]); !reflect.DeepEqual(got[i], want) {
			t.Errorf("frame %d (%s):\n got %+v\nwant %+v", i, want.kind, got[i], want)
		}
	}
}

func TestFrameRoundTripProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		kind := frameKind(rapid.IntRange(1, int(lastKind)).Draw(t, "kind"))
		f := frame{kind: kind}
		body := rapid.SliceOfN(rapid.Byte(), 0, testMaxBody).Draw(t, "body")
		switch kind {
		case kindPing, kindPong, kindGoAway:
		default:
			f.stream = rapid.Uint64Min(1).Draw(t, "stream")
		}
		switch kind {
		case kindRequest, kindOpen:
			f.method = Method(rapid.Uint16().Draw(t, "method"))
			f.timeout = time.Duration(rapid.Int64Range(0, int64(100*time.Hour)).Draw(t, "us")) * time.Microsecond
			f.token = rapid.StringN(0, 64, MaxTokenSize).Draw(t, "token")
		}
		switch kind {
		case kindRequest, kindResponse, kindMessage:
			f.body = body
		case kindError, kindGoAway:
			f.code = Code(rapid.Uint16().Draw(t, "code"))
			f.body = body
		case kindOpen, kindWindow:
			f.window = rapid.Uint64Range(1, maxWindowGrant).Draw(t, "window")
		case kindPing, kindPong:
			f.ping = rapid.Uint64().Draw(t, "ping")
		}
		wire := appendFrame(nil, &f)
		if uint64(len(wire)) > uint64(len(f.body))+FrameOverhead+lengthSize {
			t.Fatalf("frame of %d bytes for a %d-byte body exceeds FrameOverhead", len(wire), len(f.body))
		}
		fr := frameReader{r: bytes.NewReader(wire), maxBody: testMaxBody}
		got, err := fr.read()
		if err != nil {
			t.Fatalf("decode: %v", err)
		}
		if want := normalize(f); !reflect.DeepEqual(got, want) {
			t.Fatalf("got %+v, want %+v", got, want)
		}
	})
}

// rawFrame builds a frame by hand, bypassing appendFrame's care.
func rawFrame(kind byte, stream uint64, method uint16, payload []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(headerSize+len(payload)))
	b = append(b, kind)
	b = binary.BigEndian.AppendUint64(b, stream)
	b = binary.BigEndian.AppendUint16(b, method)
	return append(b, payload...)
}

func TestReadFrameMalformed(t *testing.T) {
	uv := func(v uint64) []byte { return binary.AppendUvarint(nil, v) }
	ping := make([]byte, 8)
	tests := []struct {
		name string
		wire []byte
		want error // errMalformed or an io error
	}{
		{"length shorter than header", []byte{0, 0, 0, 3, 1, 2, 3}, errMalformed},
		{"length over limit", binary.BigEndian.AppendUint32(nil, testMaxBody+FrameOverhead+1), errMalformed},
		{"length 4 GiB", []byte{0xff, 0xff, 0xff, 0xff}, errMalformed},
		{"unknown kind 0", rawFrame(0, 1, 0, nil), errMalformed},
		{"unknown kind 12", rawFrame(12, 1, 0, nil), errMalformed},
		{"unknown kind 255", rawFrame(255, 1, 0, nil), errMalformed},
		{"request on stream 0", rawFrame(byte(kindRequest), 0, 1, uv(0)), errMalformed},
		{"request without timeout", rawFrame(byte(kindRequest), 1, 1, nil), errMalformed},
		{"request with bad varint", rawFrame(byte(kindRequest), 1, 1, []byte{0x80}), errMalformed},
		{"request body over limit", rawFrame(byte(kindRequest), 1, 1, append(append(uv(0), uv(0)...), make([]byte, testMaxBody+1)...)), errMalformed},
		{"request without token length", rawFrame(byte(kindRequest), 1, 1, uv(0)), errMalformed},
		{"request token over limit", rawFrame(byte(kindRequest), 1, 1, append(append(uv(0), uv(MaxTokenSize+1)...), make([]byte, MaxTokenSize+1)...)), errMalformed},
		{"request token truncated", rawFrame(byte(kindRequest), 1, 1, append(append(uv(0), uv(10)...), "abc"...)), errMalformed},
		{"response with method", rawFrame(byte(kindResponse), 1, 3, nil), errMalformed},
		{"open without token length", rawFrame(byte(kindOpen), 1, 1, uv(0)), errMalformed},
		{"open without window", rawFrame(byte(kindOpen), 1, 1, append(uv(0), uv(0)...)), errMalformed},
		{"open with zero window", rawFrame(byte(kindOpen), 1, 1, append(append(uv(0), uv(0)...), uv(0)...)), errMalformed},
		{"open with trailing bytes", rawFrame(byte(kindOpen), 1, 1, append(append(append(uv(0), uv(0)...), uv(5)...), 1)), errMalformed},
		{"end with payload", rawFrame(byte(kindEnd), 1, 0, []byte{1}), errMalformed},
		{"cancel with payload", rawFrame(byte(kindCancel), 1, 0, []byte{1}), errMalformed},
		{"error without code", rawFrame(byte(kindError), 1, 0, []byte{1}), errMalformed},
		{"window zero", rawFrame(byte(kindWindow), 1, 0, uv(0)), errMalformed},
		{"window too big", rawFrame(byte(kindWindow), 1, 0, uv(maxWindowGrant+1)), errMalformed},
		{"window with trailing bytes", rawFrame(byte(kindWindow), 1, 0, append(uv(3), 0)), errMalformed},
		{"ping on a stream", rawFrame(byte(kindPing), 1, 0, ping), errMalformed},
		{"ping too short", rawFrame(byte(kindPing), 0, 0, ping[:7]), errMalformed},
		{"pong too long", rawFrame(byte(kindPong), 0, 0, append(ping, 0)), errMalformed},
		{"goaway on a stream", rawFrame(byte(kindGoAway), 3, 0, []byte{0, 4}), errMalformed},
		{"message on stream 0", rawFrame(byte(kindMessage), 0, 0, nil), errMalformed},
		{"truncated length", []byte{0, 0}, io.ErrUnexpectedEOF},
		{"truncated header", rawFrame(byte(kindEnd), 1, 0, nil)[:8], io.ErrUnexpectedEOF},
		{"truncated payload", rawFrame(byte(kindMessage), 1, 0, []byte("hello"))[:17], io.ErrUnexpectedEOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fr := frameReader{r: bytes.NewReader(tt.wire), maxBody: testMaxBody}
			f, err := fr.read()
			if !errors.Is(err, tt.want) {
				t.Fatalf("read = %+v, %v; want error %v", f, err, tt.want)
			}
		})
	}
}

func TestReadFrameOversizedLengthAllocatesNothing(t *testing.T) {
	// A header claiming 4 GiB must be refused before anything is allocated
	// for it.
	wire := append([]byte{0xff, 0xff, 0xff, 0xf0}, make([]byte, 64)...)
	const runs = 100
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range runs {
		fr := frameReader{r: bytes.NewReader(wire), maxBody: testMaxBody}
		if _, err := fr.read(); err == nil {
			t.Fatal("no error")
		}
	}
	runtime.ReadMemStats(&after)
	if perRun := (after.TotalAlloc - before.TotalAlloc) / runs; perRun > 1024 { // the error value only
		t.Fatalf("%d bytes allocated per refused frame", perRun)
	}
}

// FuzzReadFrame decodes arbitrary bytes: every frame it returns must
// respect the limit and re-encode to the bytes it came from, and it must
// never panic or allocate much more than the limit.
func FuzzReadFrame(f *testing.F) {
	for _, fr := range sampleFrames() {
		f.Add(appendFrame(nil, &fr))
	}
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 1})
	f.Add(rawFrame(byte(kindOpen), 1, 1, []byte{0x80, 0x80}))
	const limit = 4096
	f.Fuzz(func(t *testing.T, data []byte) {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		fr := frameReader{r: bytes.NewReader(data), maxBody: limit}
		consumed := 0
		var frames []frame
		for {
			fm, err := fr.read()
			if err != nil {
				break
			}
			if len(fm.body) > limit {
				t.Fatalf("body of %d bytes passed a %d-byte limit", len(fm.body), limit)
			}
			frames = append(frames, fm)
			n := lengthSize + int(binary.BigEndian.Uint32(data[consumed:]))
			// Varints (timeout, window) may be re-encoded shorter or
			// clamped; every other frame re-encodes to its exact bytes.
			if re := appendFrame(nil, &fm); !bytes.Equal(re, data[consumed:consumed+n]) &&
				fm.kind != kindRequest && fm.kind != kindOpen && fm.kind != kindWindow {
				t.Fatalf("frame %+v re-encodes to %x, read from %x", fm, re, data[consumed:consumed+n])
			}
			consumed += n
		}
		runtime.ReadMemStats(&after)
		if grew := after.TotalAlloc - before.TotalAlloc; grew > uint64(len(frames)+1)*(limit+FrameOverhead+4096)+uint64(4*len(data)) {
			t.Fatalf("decoding %d bytes allocated %d bytes", len(data), grew)
		}
	})
}
