package node

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"time"

	"github.com/cairndb/cairn/api"
)

// DefaultWarningUnaryRequestDuration is how long a unary request may take
// before it is logged as slow, as in etcd.
const DefaultWarningUnaryRequestDuration = 300 * time.Millisecond

// logRequestStats logs one served unary request as etcd's "request
// stats" line: at warn level when it took longer than
// --warning-unary-request-duration, else at debug level if that is on.
// The line gives the request's kind, its size and what it asked for
// (keys and sizes, never values), and the response's count and size.
func (s *Server) logRequestStats(ctx context.Context, start time.Time, req any, resp api.Message, err error) {
	took := time.Since(start)
	level := slog.LevelDebug
	if warn := s.cfg.WarningUnaryRequestDuration; warn > 0 && took > warn {
		level = slog.LevelWarn
	}
	if !s.log.Enabled(ctx, level) {
		return
	}
	attrs := []any{"start time", start, "time spent", took.String(), "request type", requestType(req)}
	if m, ok := req.(api.Message); ok {
		attrs = append(attrs, "request size", len(api.Marshal(m)))
	}
	attrs = append(attrs, "request content", requestContent(req))
	if err != nil {
		attrs = append(attrs, "error", err.Error())
	} else if resp != nil {
		attrs = append(attrs, "response count", responseCount(resp), "response size", len(api.Marshal(resp)))
	}
	if level == slog.LevelWarn {
		attrs = append(attrs, "expected-duration", s.cfg.WarningUnaryRequestDuration.String())
	}
	s.log.Log(ctx, level, "request stats", attrs...)
}

// requestType names a request after its type: "Range" for *api.RangeRequest.
func requestType(req any) string {
	t := reflect.TypeOf(req)
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil {
		return "nil"
	}
	return strings.TrimSuffix(t.Name(), "Request")
}

// requestContent describes what a key-value request asks for: its keys,
// ranges and sizes, not its values (which may be secrets).
func requestContent(req any) string {
	switch r := req.(type) {
	case *api.RangeRequest:
		return fmt.Sprintf("key:%q range_end:%q limit:%d revision:%d serializable:%v", r.Key, r.RangeEnd, r.Limit, r.Revision, r.Serializable)
	case *api.PutRequest:
		return fmt.Sprintf("key:%q value_size:%d lease:%d", r.Key, len(r.Value), r.Lease)
	case *api.DeleteRangeRequest:
		return fmt.Sprintf("key:%q range_end:%q", r.Key, r.RangeEnd)
	case *api.TxnRequest:
		return fmt.Sprintf("compares:%d success:%d failure:%d", len(r.Compare), len(r.Success), len(r.Failure))
	case *api.CompactionRequest:
		return fmt.Sprintf("revision:%d physical:%v", r.Revision, r.Physical)
	}
	return ""
}

// responseCount is how many items a response carries: keys read or
// deleted, a transaction's responses, 0 for the others.
func responseCount(resp api.Message) int {
	switch r := resp.(type) {
	case *api.RangeResponse:
		return len(r.Kvs)
	case *api.DeleteRangeResponse:
		return int(r.Deleted)
	case *api.TxnResponse:
		return len(r.Responses)
	}
	return 0
}
