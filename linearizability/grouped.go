package linearizability

import (
	"bytes"
	"fmt"
	"slices"
	"strings"

	"github.com/anishathalye/porcupine"

	"github.com/cairndb/cairn/api"
)

// GroupedKVModel returns the model of operations on groups of keys,
// checked one group at a time (porcupine partitions the history by group).
// A key's group is its prefix up to and including the first sep byte, or
// the key alone when it holds no sep: with sep '/', "acct/1" and "acct/2"
// form group "acct/", while "k1" is a group of its own. An operation may
// name several keys of one group: a range or a delete of [key, end) where
// every key in the range has the group's prefix (the whole group is
// [group, group with its last byte incremented)), and a transaction whose
// compares and operations name keys of that group, such as a transfer
// between two keys guarded by the mod revisions of both. An operation
// naming keys of two groups is rejected by validation.
//
// Like KVModel, and unlike MultiKeyModel, it does not need the history to
// hold every write: revisions are checked as far as a group can tell.
// Writes to the group get increasing revisions, a response's header
// revision is at least that of every write before it, and returned mod
// and create revisions are those of the writes that set them. A write
// whose outcome is unknown leaves them unknown, key by key: a read that
// shows two keys of such a write at two different revisions is not
// caught. Writes to other keys, in the history or not, may advance the
// revision in between. With
// no sep in any key it checks the same histories as KVModel; with every
// key in one group it is MultiKeyModel without exact revisions.
//
// sep must not be 0xff (a group's range ends at its prefix with sep
// incremented). Every key starts absent.
func GroupedKVModel(sep byte) Model {
	partition := func(history []porcupine.Operation) [][]porcupine.Operation {
		return partitionBy(history, func(req api.RequestOp) string {
			g, _ := requestGroup(req, sep)
			return string(g)
		})
	}
	return storeModel(partition, groupState, func(op porcupine.Operation) error {
		return validateGrouped(op, sep)
	})
}

// partitionBy splits a history by a key of each operation, in key order.
func partitionBy(history []porcupine.Operation, keyOf func(api.RequestOp) string) [][]porcupine.Operation {
	parts := make(map[string][]porcupine.Operation)
	for _, op := range history {
		key := ""
		if req, ok := op.Input.(api.RequestOp); ok {
			key = keyOf(req)
		}
		parts[key] = append(parts[key], op)
	}
	keys := make([]string, 0, len(parts))
	for k := range parts {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([][]porcupine.Operation, 0, len(keys))
	for _, k := range keys {
		out = append(out, parts[k])
	}
	return out
}

// validateGrouped checks that op is a request and outcome the grouped
// model understands, naming keys of one group only.
func validateGrouped(op porcupine.Operation, sep byte) error {
	req, ok := op.Input.(api.RequestOp)
	if !ok {
		return fmt.Errorf("input is a %T, want api.RequestOp", op.Input)
	}
	out, ok := op.Output.(Outcome)
	if !ok {
		return fmt.Errorf("output is a %T, want linearizability.Outcome", op.Output)
	}
	if err := validateRequest(req, false); err != nil {
		return err
	}
	if _, err := requestGroup(req, sep); err != nil {
		return err
	}
	if out.Unknown {
		return nil
	}
	return validateResponse(req, out.Response)
}

// groupOf returns the group of a key: its prefix through the first sep,
// or the whole key.
func groupOf(key []byte, sep byte) []byte {
	if i := bytes.IndexByte(key, sep); i >= 0 {
		return key[:i+1]
	}
	return key
}

// rangeGroup returns the group holding every key of [key, end) (the single
// key when end is empty), or an error if the range reaches past one group.
func rangeGroup(key, end []byte, sep byte) ([]byte, error) {
	g := groupOf(key, sep)
	if len(end) == 0 {
		return g, nil
	}
	if len(g) == 0 || g[len(g)-1] != sep {
		return nil, fmt.Errorf("range %s: key %q has no %q, so the range is not within one group", describeRange(key, end), key, sep)
	}
	groupEnd := append(slices.Clone(g[:len(g)-1]), sep+1)
	if bytes.Equal(end, []byte{0}) || bytes.Compare(end, groupEnd) > 0 {
		return nil, fmt.Errorf("range %s reaches past group %q (which ends before %q)", describeRange(key, end), g, groupEnd)
	}
	return g, nil
}

// requestGroup returns the one group every key of req belongs to.
func requestGroup(req api.RequestOp, sep byte) ([]byte, error) {
	var group []byte
	seen := false
	for key, end := range req.KeyRanges() {
		g, err := rangeGroup(key, end, sep)
		if err != nil {
			return nil, err
		}
		if seen && !bytes.Equal(g, group) {
			return nil, fmt.Errorf("keys of groups %q and %q in one operation", group, g)
		}
		group, seen = g, true
	}
	return group, nil
}

// groupState describes a state of the grouped model.
func groupState(s store) string {
	if len(s.kvs) == 0 {
		return fmt.Sprintf("no key, revision >= %d", s.rev)
	}
	parts := make([]string, len(s.kvs))
	for i, kv := range s.kvs {
		parts[i] = describeKV(kv)
	}
	return fmt.Sprintf("%s, revision >= %d", strings.Join(parts, ", "), s.rev)
}
