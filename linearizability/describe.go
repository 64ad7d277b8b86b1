package linearizability

import (
	"fmt"
	"strings"

	"github.com/cairndb/cairn/api"
)

// This file renders operations and states as the short text shown in
// porcupine's visualization, e.g. "put("a", "1") -> @rev 5" or
// "txn(if value("a") == "1" then put("a", "2")) -> succeeded @rev 6".

func describeOperation(input, output any) string {
	req, ok := input.(api.RequestOp)
	if !ok {
		return fmt.Sprintf("%v -> %v", input, output)
	}
	out, ok := output.(Outcome)
	if !ok {
		return fmt.Sprintf("%s -> %v", describeRequest(req), output)
	}
	if out.Unknown {
		return describeRequest(req) + " -> ?"
	}
	return describeRequest(req) + " -> " + describeResponse(req, out.Response)
}

func describeRequest(req api.RequestOp) string {
	switch {
	case req.Range != nil:
		r := req.Range
		var flags []string
		if r.Limit > 0 {
			flags = append(flags, fmt.Sprintf("limit %d", r.Limit))
		}
		if r.SortOrder == api.SortDescend {
			flags = append(flags, "descending")
		}
		if r.KeysOnly {
			flags = append(flags, "keys only")
		}
		if r.CountOnly {
			flags = append(flags, "count only")
		}
		verb := "range"
		if len(r.RangeEnd) == 0 {
			verb = "get"
		}
		s := verb + "(" + describeRange(r.Key, r.RangeEnd)
		if len(flags) > 0 {
			s += ", " + strings.Join(flags, ", ")
		}
		return s + ")"
	case req.Put != nil:
		return fmt.Sprintf("put(%s, %s)", quote(req.Put.Key), quote(req.Put.Value))
	case req.DeleteRange != nil:
		return "delete(" + describeRange(req.DeleteRange.Key, req.DeleteRange.RangeEnd) + ")"
	case req.Txn != nil:
		t := req.Txn
		var b strings.Builder
		b.WriteString("txn(")
		if len(t.Compare) > 0 {
			b.WriteString("if ")
			for i, c := range t.Compare {
				if i > 0 {
					b.WriteString(" && ")
				}
				b.WriteString(describeCompare(c))
			}
			b.WriteString(" then ")
		}
		b.WriteString(describeOps(t.Success))
		if len(t.Failure) > 0 {
			b.WriteString(" else ")
			b.WriteString(describeOps(t.Failure))
		}
		b.WriteString(")")
		return b.String()
	}
	return "(empty request)"
}

func describeOps(ops []api.RequestOp) string {
	if len(ops) == 0 {
		return "nothing"
	}
	parts := make([]string, len(ops))
	for i, op := range ops {
		parts[i] = describeRequest(op)
	}
	return strings.Join(parts, "; ")
}

func describeCompare(c api.Compare) string {
	var target, operand string
	switch c.Target {
	case api.CompareValue:
		target, operand = "value", quote(c.Value)
	case api.CompareVersion:
		target, operand = "version", fmt.Sprint(c.Version)
	case api.CompareCreate:
		target, operand = "create_revision", fmt.Sprint(c.CreateRevision)
	case api.CompareMod:
		target, operand = "mod_revision", fmt.Sprint(c.ModRevision)
	case api.CompareLease:
		target, operand = "lease", fmt.Sprint(c.Lease)
	default:
		target = fmt.Sprintf("target%d", c.Target)
	}
	relation := map[api.CompareResult]string{
		api.CompareEqual: "==", api.CompareNotEqual: "!=", api.CompareGreater: ">", api.CompareLess: "<",
	}[c.Result]
	return fmt.Sprintf("%s(%s) %s %s", target, describeRange(c.Key, c.RangeEnd), relation, operand)
}

func describeResponse(req api.RequestOp, resp api.ResponseOp) string {
	s := describeResult(req, resp)
	if h, ok := headerOf(resp); ok {
		s += fmt.Sprintf(" @rev %d", h.Revision)
	}
	return s
}

// describeResult describes a response without its header.
func describeResult(req api.RequestOp, resp api.ResponseOp) string {
	var s string
	switch {
	case resp.Range != nil:
		r := resp.Range
		if req.Range != nil && len(req.Range.RangeEnd) == 0 && !req.Range.CountOnly {
			if len(r.Kvs) == 0 {
				s = "absent"
			} else {
				s = describeKV(r.Kvs[0])
			}
		} else {
			parts := make([]string, len(r.Kvs))
			for i, kv := range r.Kvs {
				parts[i] = describeKV(kv)
			}
			s = fmt.Sprintf("{%s} count %d", strings.Join(parts, ", "), r.Count)
			if r.More {
				s += " more"
			}
		}
	case resp.Put != nil:
		if resp.Put.PrevKv != nil {
			s = "prev " + describeKV(*resp.Put.PrevKv)
		} else {
			s = "ok"
		}
	case resp.DeleteRange != nil:
		s = fmt.Sprintf("deleted %d", resp.DeleteRange.Deleted)
	case resp.Txn != nil:
		s = "failed"
		if resp.Txn.Succeeded {
			s = "succeeded"
		}
		ops := []api.RequestOp(nil)
		if req.Txn != nil {
			ops = req.Txn.Failure
			if resp.Txn.Succeeded {
				ops = req.Txn.Success
			}
		}
		for i, sub := range resp.Txn.Responses {
			var subReq api.RequestOp
			if i < len(ops) {
				subReq = ops[i]
			}
			if sub.Put == nil {
				s += "; " + describeResult(subReq, sub)
			}
		}
	default:
		return "(empty response)"
	}
	return s
}

func describeRange(key, end []byte) string {
	r := keyRange{key, end}
	switch {
	case r.single():
		return quote(key)
	case r.fromKey() && len(key) == 1 && key[0] == 0:
		return "all keys"
	case r.fromKey():
		return quote(key) + ".."
	}
	return "[" + quote(key) + ", " + quote(end) + ")"
}

func describeKV(kv api.KeyValue) string {
	return fmt.Sprintf("%s=%s (v%d mod %s create %s)", quote(kv.Key), quote(kv.Value), kv.Version,
		describeRevision(kv.ModRevision), describeRevision(kv.CreateRevision))
}

func describeRevision(rev int64) string {
	if rev == 0 {
		return "?"
	}
	return fmt.Sprint(rev)
}

// perKeyState describes a state of the per-key model.
func perKeyState(s store) string {
	if len(s.kvs) == 0 {
		return fmt.Sprintf("absent, revision >= %d", s.rev)
	}
	return fmt.Sprintf("%s, revision >= %d", describeKV(s.kvs[0]), s.rev)
}

// quote renders a key or value, shortened when long.
func quote(b []byte) string {
	const max = 24
	if len(b) > max {
		return fmt.Sprintf("%q...(%d bytes)", b[:max], len(b))
	}
	return fmt.Sprintf("%q", b)
}
