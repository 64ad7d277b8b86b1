// Package zaplog is a log/slog handler that writes the lines etcd's
// logger (zap, as etcd configures it) writes, so that what collects and
// parses etcd's logs takes cairn's unchanged:
//
//   - JSON: one object a line, {"level":"info","ts":"...","caller":
//     "node/server.go:42","msg":"...", then the fields}.
//   - Console: the same, tab-separated: ts, level, caller, msg, then the
//     fields as one JSON object.
//
// Times are UTC-offset local times with microseconds, as etcd writes
// them (2006-01-02T15:04:05.000000Z0700); levels are lowercase; the
// caller is the last directory and the file; durations are strings
// ("1.5s"), as etcd's zap encodes them; groups are nested objects.
package zaplog

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
)

// Format is how lines are laid out.
type Format int

const (
	// JSON writes one JSON object a line (etcd's --log-format json).
	JSON Format = iota
	// Console writes tab-separated lines (etcd's --log-format console).
	Console
)

// TimeLayout is how etcd's logs write the time.
const TimeLayout = "2006-01-02T15:04:05.000000Z0700"

// Handler is a slog.Handler writing etcd's log lines.
type Handler struct {
	w      io.Writer
	mu     *sync.Mutex // shared by the handlers made from one New
	format Format
	level  slog.Leveler
	// attrs are the encoded fields of WithAttrs, each followed by a comma;
	// groups the names of the open groups (WithGroup), in order.
	attrs  []byte
	groups []string
	// opened counts the groups in groups whose object attrs has opened.
	opened int
}

// New returns a handler writing lines in format to w, at level and above
// (info if nil).
func New(w io.Writer, format Format, level slog.Leveler) *Handler {
	if level == nil {
		level = slog.LevelInfo
	}
	return &Handler{w: w, mu: &sync.Mutex{}, format: format, level: level}
}

// Enabled implements slog.Handler.
func (h *Handler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level.Level() }

// WithAttrs implements slog.Handler.
func (h *Handler) WithAttrs(as []slog.Attr) slog.Handler {
	if len(as) == 0 {
		return h
	}
	c := h.clone()
	c.openGroups()
	for _, a := range as {
		c.attrs = appendAttr(c.attrs, a)
	}
	return c
}

// WithGroup implements slog.Handler.
func (h *Handler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	c := h.clone()
	c.groups = append(c.groups, name)
	return c
}

func (h *Handler) clone() *Handler {
	c := *h
	c.attrs = bytes.Clone(h.attrs)
	c.groups = append([]string(nil), h.groups...)
	return &c
}

// openGroups opens in attrs the objects of the groups not opened yet.
func (h *Handler) openGroups() {
	for _, g := range h.groups[h.opened:] {
		h.attrs = appendString(h.attrs, g)
		h.attrs = append(h.attrs, ":{"...)
	}
	h.opened = len(h.groups)
}

// Handle implements slog.Handler.
func (h *Handler) Handle(_ context.Context, r slog.Record) error {
	var fields []byte
	fields = append(fields, h.attrs...)
	// Groups opened by WithGroup but without WithAttrs since: open them
	// now, if the record has fields of its own.
	pending := h.groups[h.opened:]
	if r.NumAttrs() > 0 {
		for _, g := range pending {
			fields = appendString(fields, g)
			fields = append(fields, ":{"...)
		}
	}
	r.Attrs(func(a slog.Attr) bool {
		fields = appendAttr(fields, a)
		return true
	})
	fields = bytes.TrimSuffix(fields, []byte(","))
	closing := h.opened
	if r.NumAttrs() > 0 {
		closing += len(pending)
	}
	for range closing {
		fields = bytes.TrimSuffix(fields, []byte(","))
		fields = append(fields, '}')
	}
	// An empty group left "name":{} behind a trailing comma: valid JSON.

	// A record without a time (not one of slog.Logger's) has no ts.
	ts := ""
	if !r.Time.IsZero() {
		ts = r.Time.Format(TimeLayout)
	}
	level := strings.ToLower(r.Level.String())
	caller := callerOf(r.PC)
	var b []byte
	switch h.format {
	case Console:
		b = append(b, ts...)
		b = append(b, '\t')
		b = append(b, level...)
		b = append(b, '\t')
		if caller != "" {
			b = append(b, caller...)
			b = append(b, '\t')
		}
		b = append(b, r.Message...)
		if len(fields) > 0 {
			b = append(b, "\t{"...)
			b = append(b, fields...)
			b = append(b, '}')
		}
	default:
		b = append(b, `{"level":`...)
		b = appendString(b, level)
		if ts != "" {
			b = append(b, `,"ts":`...)
			b = appendString(b, ts)
		}
		if caller != "" {
			b = append(b, `,"caller":`...)
			b = appendString(b, caller)
		}
		b = append(b, `,"msg":`...)
		b = appendString(b, r.Message)
		if len(fields) > 0 {
			b = append(b, ',')
			b = append(b, fields...)
		}
		b = append(b, '}')
	}
	b = append(b, '\n')
	h.mu.Lock()
	defer h.mu.Unlock()
	_, err := h.w.Write(b)
	return err
}

// callerOf is the short caller of pc: the file's directory and name, and
// the line ("node/server.go:42").
func callerOf(pc uintptr) string {
	if pc == 0 {
		return ""
	}
	f, _ := runtime.CallersFrames([]uintptr{pc}).Next()
	if f.File == "" {
		return ""
	}
	dir, file := filepath.Split(f.File)
	return filepath.Base(dir) + "/" + file + ":" + strconv.Itoa(f.Line)
}

// appendAttr appends "key":value, (with the comma).
func appendAttr(b []byte, a slog.Attr) []byte {
	a.Value = a.Value.Resolve()
	if a.Equal(slog.Attr{}) {
		return b
	}
	if a.Value.Kind() == slog.KindGroup {
		as := a.Value.Group()
		if len(as) == 0 {
			return b
		}
		if a.Key == "" { // an unnamed group's fields are inlined
			for _, ga := range as {
				b = appendAttr(b, ga)
			}
			return b
		}
		b = appendString(b, a.Key)
		b = append(b, ":{"...)
		for _, ga := range as {
			b = appendAttr(b, ga)
		}
		b = bytes.TrimSuffix(b, []byte(","))
		return append(b, "},"...)
	}
	b = appendString(b, a.Key)
	b = append(b, ':')
	b = appendValue(b, a.Value)
	return append(b, ',')
}

func appendValue(b []byte, v slog.Value) []byte {
	switch v.Kind() {
	case slog.KindString:
		return appendString(b, v.String())
	case slog.KindInt64:
		return strconv.AppendInt(b, v.Int64(), 10)
	case slog.KindUint64:
		return strconv.AppendUint(b, v.Uint64(), 10)
	case slog.KindFloat64:
		f := v.Float64()
		if f != f || f > 1e308 || f < -1e308 { // NaN and infinities are not JSON numbers
			return appendString(b, strconv.FormatFloat(f, 'g', -1, 64))
		}
		return strconv.AppendFloat(b, f, 'g', -1, 64)
	case slog.KindBool:
		return strconv.AppendBool(b, v.Bool())
	case slog.KindDuration:
		return appendString(b, v.Duration().String())
	case slog.KindTime:
		return appendString(b, v.Time().Format(TimeLayout))
	}
	switch x := v.Any().(type) {
	case error:
		return appendString(b, x.Error())
	case fmt.Stringer:
		return appendString(b, x.String())
	case []byte:
		return appendString(b, string(x))
	}
	j, err := json.Marshal(v.Any())
	if err != nil {
		return appendString(b, fmt.Sprintf("%+v", v.Any()))
	}
	return append(b, j...)
}

// appendString appends s as a JSON string.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			b = append(b, c)
			i++
			continue
		}
		if c < utf8.RuneSelf {
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, fmt.Sprintf(`\u%04x`, c)...)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}
