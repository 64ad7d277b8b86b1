package bench

import (
	"encoding/binary"
	"math/rand/v2"
	"sync/atomic"
	"time"
)

// keyspace hands out the run's keys: the numbers 0 … size-1 written in
// decimal, zero-padded to the key size ("00000042"), so that the 10 keys
// differing only in their last digit share a prefix.
type keyspace struct {
	size       int
	width      int
	sequential bool
	next       atomic.Int64 // the next key of a sequential run
}

// pick chooses the next key number: in order, or at random.
func (k *keyspace) pick(rng *rand.Rand) int {
	if k.sequential {
		return int((k.next.Add(1) - 1) % int64(k.size))
	}
	return rng.IntN(k.size)
}

// key writes key number i into buf (reusing its storage) and returns it.
func (k *keyspace) key(buf []byte, i int) []byte {
	buf = buf[:0]
	for range k.width {
		buf = append(buf, '0')
	}
	for j := k.width - 1; j >= 0 && i > 0; j-- {
		buf[j] = byte('0' + i%10)
		i /= 10
	}
	return buf
}

// prefixOf is the prefix that key shares with the 9 keys around it.
func prefixOf(key []byte) []byte { return key[:len(key)-1] }

// stampLen is the size of the send time a watch run writes at the start
// of each value.
const stampLen = 8

// stamp writes the time since base into the first bytes of val (which
// must hold stampLen bytes).
func stamp(val []byte, base time.Time) {
	binary.BigEndian.PutUint64(val, uint64(time.Since(base)))
}

// stampAge reads the time stamp writes and returns how long ago it was
// written, false if val is too short to hold one.
func stampAge(val []byte, base time.Time) (time.Duration, bool) {
	if len(val) < stampLen {
		return 0, false
	}
	sent := time.Duration(binary.BigEndian.Uint64(val))
	return time.Since(base) - sent, true
}

// fillValue returns a value of n bytes.
func fillValue(n int) []byte {
	v := make([]byte, n)
	for i := range v {
		v[i] = 'a' + byte(i%26)
	}
	return v
}
