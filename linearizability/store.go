package linearizability

import (
	"bytes"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"

	"github.com/cairndb/cairn/api"
)

// store is the modelled key space in one model state. It is immutable:
// every change returns a new store and shares nothing mutable with the old
// one, because porcupine keeps old states around while it backtracks.
type store struct {
	// kvs holds the live keys, sorted by key. In the per-key model a
	// ModRevision or CreateRevision of 0 means "not known" (the write that
	// set it had an unknown outcome, so its revision was never observed).
	kvs []api.KeyValue
	// rev is the store revision. The multi-key model knows it exactly; the
	// per-key model only knows a floor: the highest revision any response
	// about this key has shown, which later writes must exceed.
	rev int64
}

// keyRange is the set of keys a request names: the single key Key when End
// is empty, every key >= Key when End is "\x00" (every key at all when Key
// is "\x00" too), and [Key, End) otherwise.
type keyRange struct {
	key, end []byte
}

func (r keyRange) single() bool { return len(r.end) == 0 }

func (r keyRange) fromKey() bool { return len(r.end) == 1 && r.end[0] == 0 }

func (r keyRange) contains(k []byte) bool {
	switch {
	case r.single():
		return bytes.Equal(k, r.key)
	case r.fromKey():
		return (len(r.key) == 1 && r.key[0] == 0) || bytes.Compare(k, r.key) >= 0
	default:
		return bytes.Compare(k, r.key) >= 0 && bytes.Compare(k, r.end) < 0
	}
}

// search returns the index of key in s.kvs, or where it would be inserted.
func (s store) search(key []byte) (int, bool) {
	return slices.BinarySearchFunc(s.kvs, key, func(kv api.KeyValue, k []byte) int {
		return bytes.Compare(kv.Key, k)
	})
}

// get returns the live version of key.
func (s store) get(key []byte) (api.KeyValue, bool) {
	i, ok := s.search(key)
	if !ok {
		return api.KeyValue{}, false
	}
	return s.kvs[i], true
}

// inRange returns the live keys in r in key order. The result shares
// memory with s and must not be modified.
func (s store) inRange(r keyRange) []api.KeyValue {
	if r.single() {
		i, ok := s.search(r.key)
		if !ok {
			return nil
		}
		return s.kvs[i : i+1]
	}
	lo := 0
	if !(r.fromKey() && len(r.key) == 1 && r.key[0] == 0) {
		lo, _ = s.search(r.key)
	}
	hi := len(s.kvs)
	if !r.fromKey() {
		hi, _ = s.search(r.end)
		hi = max(hi, lo)
	}
	return s.kvs[lo:hi]
}

// with returns a copy of s in which kv is the live version of its key.
func (s store) with(kv api.KeyValue) store {
	i, found := s.search(kv.Key)
	n := len(s.kvs)
	if !found {
		n++
	}
	kvs := make([]api.KeyValue, 0, n)
	kvs = append(kvs, s.kvs[:i]...)
	kvs = append(kvs, kv)
	if found {
		i++
	}
	kvs = append(kvs, s.kvs[i:]...)
	return store{kvs: kvs, rev: s.rev}
}

// without returns a copy of s in which key is absent.
func (s store) without(key []byte) store {
	i, found := s.search(key)
	if !found {
		return s
	}
	kvs := make([]api.KeyValue, 0, len(s.kvs)-1)
	kvs = append(kvs, s.kvs[:i]...)
	kvs = append(kvs, s.kvs[i+1:]...)
	return store{kvs: kvs, rev: s.rev}
}

// equal reports whether two stores hold the same keys, versions and
// revision.
func (s store) equal(o store) bool {
	return s.rev == o.rev && slices.EqualFunc(s.kvs, o.kvs, sameKeyValue)
}

// hash is consistent with equal.
func (s store) hash() uint64 {
	h := fnv.New64a()
	var buf [8]byte
	writeInt := func(v int64) {
		for i := range buf {
			buf[i] = byte(v >> (8 * i))
		}
		h.Write(buf[:])
	}
	writeInt(s.rev)
	for _, kv := range s.kvs {
		writeInt(int64(len(kv.Key)))
		h.Write(kv.Key)
		writeInt(int64(len(kv.Value)))
		h.Write(kv.Value)
		writeInt(kv.Version)
		writeInt(kv.ModRevision)
		writeInt(kv.CreateRevision)
		writeInt(kv.Lease)
	}
	return h.Sum64()
}

func (s store) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "rev %d {", s.rev)
	for i, kv := range s.kvs {
		if i > 0 {
			b.WriteString(", ")
		}
		if i == 8 {
			fmt.Fprintf(&b, "... %d more", len(s.kvs)-i)
			break
		}
		b.WriteString(describeKV(kv))
	}
	b.WriteString("}")
	return b.String()
}

// sameKeyValue reports whether two key-values are identical field by field.
func sameKeyValue(a, b api.KeyValue) bool {
	return bytes.Equal(a.Key, b.Key) && bytes.Equal(a.Value, b.Value) &&
		a.CreateRevision == b.CreateRevision && a.ModRevision == b.ModRevision &&
		a.Version == b.Version && a.Lease == b.Lease
}
