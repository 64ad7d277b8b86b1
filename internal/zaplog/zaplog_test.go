package zaplog

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"testing/slogtest"
	"time"
	"unicode/utf8"

	"pgregory.net/rapid"
)

// The handler meets log/slog's contract for handlers (levels, attrs,
// groups, WithAttrs and WithGroup), as slogtest checks it on the JSON
// lines read back.
func TestSlogContract(t *testing.T) {
	var buf bytes.Buffer
	h := New(&buf, JSON, slog.LevelDebug)
	results := func() []map[string]any {
		var out []map[string]any
		for _, line := range bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n")) {
			if len(line) == 0 {
				continue
			}
			var m map[string]any
			if err := json.Unmarshal(line, &m); err != nil {
				t.Fatalf("line %q is not JSON: %v", line, err)
			}
			// slogtest looks for slog's key names.
			m[slog.MessageKey] = m["msg"]
			m[slog.LevelKey] = m["level"]
			if ts, ok := m["ts"]; ok {
				m[slog.TimeKey] = ts
			}
			out = append(out, m)
		}
		return out
	}
	if err := slogtest.TestHandler(h, results); err != nil {
		t.Error(err)
	}
}

// A JSON line has etcd's keys in etcd's order, its time layout, a short
// caller, and fields after them; a console line has the same, tab
// separated, the fields as one object.
func TestLines(t *testing.T) {
	for _, tc := range []struct {
		format Format
		check  func(t *testing.T, line string)
	}{
		{JSON, func(t *testing.T, line string) {
			if !strings.HasPrefix(line, `{"level":"warn","ts":"`) || !strings.Contains(line, `,"caller":"zaplog/zaplog_test.go:`) ||
				!strings.HasSuffix(line, `,"msg":"apply request took too long","took":"1.5s","op":"Put","index":7,"err":"disk \"full\"","member":{"id":"8e9e"}}`+"\n") {
				t.Errorf("JSON line %q", line)
			}
			var m map[string]any
			if err := json.Unmarshal([]byte(line), &m); err != nil {
				t.Fatalf("not JSON: %v", err)
			}
			ts, err := time.Parse(TimeLayout, m["ts"].(string))
			if err != nil || time.Since(ts) > time.Minute {
				t.Errorf("ts %q: %v", m["ts"], err)
			}
		}},
		{Console, func(t *testing.T, line string) {
			parts := strings.Split(strings.TrimSuffix(line, "\n"), "\t")
			if len(parts) != 5 || parts[1] != "warn" || !strings.HasPrefix(parts[2], "zaplog/zaplog_test.go:") ||
				parts[3] != "apply request took too long" || parts[4] != `{"took":"1.5s","op":"Put","index":7,"err":"disk \"full\"","member":{"id":"8e9e"}}` {
				t.Errorf("console line %q", line)
			}
		}},
	} {
		var buf bytes.Buffer
		l := slog.New(New(&buf, tc.format, nil))
		l.Debug("not at info")
		l.Warn("apply request took too long", "took", 1500*time.Millisecond, "op", "Put", "index", 7,
			"err", errors.New(`disk "full"`), slog.Group("member", "id", "8e9e"))
		tc.check(t, buf.String())
	}
}

// Strings are escaped as JSON: quotes, control characters, invalid UTF-8.
func TestEscaping(t *testing.T) {
	var buf bytes.Buffer
	slog.New(New(&buf, JSON, nil)).Info("a\"b\n\x01", "k", "\xff\t✓")
	var m map[string]string
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatalf("%q: %v", buf.String(), err)
	}
	if m["msg"] != "a\"b\n\x01" || m["k"] != "\ufffd\t✓" {
		t.Errorf("decoded %q", m)
	}
}

// Any message and field, whatever its bytes, makes one line of JSON that
// decodes back to it (invalid UTF-8 as U+FFFD, as encoding/json does).
func TestAnyStringRoundTrips(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		msg := rapid.String().Draw(t, "msg")
		key := rapid.StringMatching(`[a-z][a-z0-9_-]{0,10}`).Filter(func(k string) bool {
			return k != "level" && k != "ts" && k != "caller" && k != "msg" && k != "n"
		}).Draw(t, "key")
		val := string(rapid.SliceOf(rapid.Byte()).Draw(t, "value"))
		n := rapid.Int64().Draw(t, "n")
		var buf bytes.Buffer
		slog.New(New(&buf, JSON, nil)).Info(msg, key, val, "n", n)
		line := buf.String()
		if strings.Count(line, "\n") != 1 || !strings.HasSuffix(line, "\n") {
			t.Fatalf("not one line: %q", line)
		}
		var m map[string]any
		d := json.NewDecoder(strings.NewReader(line))
		d.UseNumber()
		if err := d.Decode(&m); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		if m["msg"] != validUTF8(msg) || m[key] != validUTF8(val) {
			t.Fatalf("decoded %q from %q", m, line)
		}
		if got, _ := m["n"].(json.Number).Int64(); got != n {
			t.Fatalf("n = %v, want %d", m["n"], n)
		}
	})
}

// validUTF8 is s with each byte that is not valid UTF-8 replaced by
// U+FFFD, as JSON encoders write it.
func validUTF8(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b.WriteRune(utf8.RuneError)
		} else {
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}
