package sim

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/cairndb/cairn/api"
)

// The multi-key workload: a few accounts in one key group (see
// linearizability.GroupedKVModel, which checks it), read together by
// ranges, deleted one at a time or all at once, and changed by transfers:
// transactions that move an amount from one account to another if
// neither changed since the client looked (a compare on both mod
// revisions), and read the whole group otherwise.

const (
	// groupPrefix is the prefix of the accounts; groupEnd ends its range.
	groupPrefix = "g/"
	groupEnd    = "g0"
	// accounts is how many keys the group holds.
	accounts = 4
	// groupSep separates a key's group from the rest of it.
	groupSep = '/'
)

func accountKey(i int) []byte { return []byte(fmt.Sprintf("%s%d", groupPrefix, i)) }

// groupRange is a range read of the whole group.
func groupRange() *api.RangeRequest {
	return &api.RangeRequest{Key: []byte(groupPrefix), RangeEnd: []byte(groupEnd)}
}

// groupRequest builds a random request on the group; value tags the
// values it writes, so that each is unique.
func (w *World) groupRequest(value string) api.RequestOp {
	var req api.RequestOp
	switch n := w.rng.IntN(10); {
	case n < 3:
		r := groupRange()
		if w.rng.IntN(3) == 0 {
			r.Limit = 2
		}
		req.Range = r
	case n < 4:
		req.Put = &api.PutRequest{Key: accountKey(w.rng.IntN(accounts)), Value: []byte("100/" + value)}
	case n < 5:
		if w.rng.IntN(4) == 0 {
			req.DeleteRange = &api.DeleteRangeRequest{Key: []byte(groupPrefix), RangeEnd: []byte(groupEnd)}
		} else {
			req.DeleteRange = &api.DeleteRangeRequest{Key: accountKey(w.rng.IntN(accounts)), PrevKv: w.rng.IntN(2) == 0}
		}
	default:
		req.Txn = w.transfer(value)
	}
	return req
}

// transfer moves an amount between two accounts, guarded by the mod
// revisions of both as some member's store shows them (often current, so
// that many succeed).
func (w *World) transfer(value string) *api.TxnRequest {
	from := w.rng.IntN(accounts)
	to := (from + 1 + w.rng.IntN(accounts-1)) % accounts
	a, b := w.localAccount(accountKey(from)), w.localAccount(accountKey(to))
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
		Failure: []api.RequestOp{{Range: groupRange()}},
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
