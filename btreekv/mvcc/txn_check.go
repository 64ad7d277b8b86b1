package mvcc

import (
	"bytes"
	"slices"

	"github.com/cairndb/cairn/api"
)

// flatBranchPairLimit is the most operations of a branch that checkBranch
// compares pair by pair; a longer branch is checked through its write
// set.
const flatBranchPairLimit = 16

// checkBranch reports a branch's duplicate writes (ErrDuplicateKey) by
// the rules of branchWrites. The common branch, a few operations and no
// nested transaction, is checked pair by pair without building a write
// set: branchWrites' map was most of a small transaction's allocations,
// and a transaction is checked at admission and again when applied.
func checkBranch(ops []api.RequestOp) error {
	if len(ops) > flatBranchPairLimit || slices.ContainsFunc(ops, func(op api.RequestOp) bool { return op.Txn != nil }) {
		_, err := branchWrites(ops)
		return err
	}
	for i, op := range ops {
		if op.Put == nil {
			continue
		}
		for j, other := range ops {
			if other.DeleteRange != nil && (keyRange{other.DeleteRange.Key, other.DeleteRange.RangeEnd}).contains(op.Put.Key) {
				return ErrDuplicateKey
			}
			if j < i && other.Put != nil && bytes.Equal(other.Put.Key, op.Put.Key) {
				return ErrDuplicateKey
			}
		}
	}
	return nil
}
