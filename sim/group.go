package sim

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/cairndb/cairn/api"
)

// The multi-key workload: a few accounts in each of a few key groups (see
// linearizability.GroupedKVModel, which checks each group on its own:
// spreading the operations keeps each group's history small enough for
// porcupine with many indeterminate transfers), read together by
// ranges, deleted one at a time or all at once, and changed by transfers:
// transactions that move an amount from one account to another if
// neither changed since the client looked (a compare on both mod
// revisions), and read the whole group otherwise, and by audits: the same
// kind of transaction, reading only.

const (
	// groups is how many key groups there are: group g holds the keys
	// "g<g>/<account>".
	groups = 3
	// accounts is how many keys a group holds.
	accounts = 4
	// groupSep separates a key's group from the rest of it.
	groupSep = '/'
	// groupsStart is below every group's keys.
	groupsStart = "g"
)

// groupPrefix is the prefix of group g's accounts.
func groupPrefix(g int) string { return fmt.Sprintf("g%d%c", g, groupSep) }

func accountKey(g, i int) []byte { return []byte(fmt.Sprintf("%s%d", groupPrefix(g), i)) }

// groupRange is a range read of the whole of group g.
func groupRange(g int) *api.RangeRequest {
	return &api.RangeRequest{Key: []byte(groupPrefix(g)), RangeEnd: []byte(fmt.Sprintf("g%d%c", g, groupSep+1))}
}

// groupRequest builds a random request on the group; value tags the
// values it writes, so that each is unique.
func (w *World) groupRequest(value string) api.RequestOp {
	var req api.RequestOp
	g := w.rng.IntN(groups)
	switch n := w.rng.IntN(10); {
	case n < 3:
		r := groupRange(g)
		if w.rng.IntN(3) == 0 {
			r.Limit = 2
		}
		req.Range = r
	case n < 4:
		req.Put = &api.PutRequest{Key: accountKey(g, w.rng.IntN(accounts)), Value: []byte("100/" + value)}
	case n < 5:
		if w.rng.IntN(4) == 0 {
			r := groupRange(g)
			req.DeleteRange = &api.DeleteRangeRequest{Key: r.Key, RangeEnd: r.RangeEnd}
		} else {
			req.DeleteRange = &api.DeleteRangeRequest{Key: accountKey(g, w.rng.IntN(accounts)), PrevKv: w.rng.IntN(2) == 0}
		}
	case n < 6:
		req.Txn = w.audit(g)
	default:
		req.Txn = w.transfer(g, value)
	}
	return req
}

// audit is a transaction that only reads (served as a read, not through
// raft): one account if it did not change since the client looked, the
// whole group otherwise.
func (w *World) audit(g int) *api.TxnRequest {
	a := w.localAccount(accountKey(g, w.rng.IntN(accounts)))
	return &api.TxnRequest{
		Compare: []api.Compare{{Key: a.Key, Target: api.CompareMod, Result: api.CompareEqual, ModRevision: a.ModRevision}},
		Success: []api.RequestOp{{Range: &api.RangeRequest{Key: a.Key}}},
		Failure: []api.RequestOp{{Range: groupRange(g)}},
	}
}

// transfer moves an amount between two accounts, guarded by the mod
// revisions of both as some member's store shows them (often current, so
// that many succeed).
func (w *World) transfer(g int, value string) *api.TxnRequest {
	from := w.rng.IntN(accounts)
	to := (from + 1 + w.rng.IntN(accounts-1)) % accounts
	a, b := w.localAccount(accountKey(g, from)), w.localAccount(accountKey(g, to))
	x := int64(1 + w.rng.IntN(10))
	return &api.TxnRequest{
		Compare: []api.Compare{
			{Key: a.Key, Target: api.CompareMod, Result: api.CompareEqual, ModRevision: a.ModRevision},
			{Key: b.Key, Target: api.CompareMod, Result: api.CompareEqual, ModRevision: b.ModRevision},
		},
		Success: []api.RequestOp{
			{Put: &api.PutRequest{Key: a.Key, Value: []byte(fmt.Sprintf("%d/%s", amount(a.Value)-x, value))}},
			{Put: &api.PutRequest{Key: b.Key, Value: []byte(fmt.Sprintf("%d/%s", amount(b.Value)+x, value))}},
		},
		Failure: []api.RequestOp{{Range: groupRange(g)}},
	}
}

// localAccount reads an account from the store of a member that is up
// (not a linearizable read: only a guess for a compare).
func (w *World) localAccount(key []byte) api.KeyValue {
	kv := api.KeyValue{Key: key}
	if m := w.pickUp(false); m != nil {
		if res, err := m.sm.kv.Store().Range(key, nil, mvccNow); err == nil && len(res.KVs) == 1 {
			kv = res.KVs[0]
		}
	}
	return kv
}

// amount is the balance an account's value holds ("amount/tag"); an
// absent account holds 100.
func amount(value []byte) int64 {
	s, _, _ := strings.Cut(string(value), "/")
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 100
	}
	return n
}
