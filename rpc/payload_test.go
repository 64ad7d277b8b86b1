package rpc

import (
	"bytes"
	"runtime"
	"testing"
)

// A server (which has a receive budget) allocates a large payload once,
// whole, once its first chunk has arrived: about its size, where growing
// it twice as large each time allocated about twice its size and copied
// it once more.
func TestBudgetedPayloadIsAllocatedOnce(t *testing.T) {
	for _, size := range []int{64 << 10, 1 << 20} {
		body := bytes.Repeat([]byte{7}, size)
		wire := appendFrame(nil, &frame{kind: kindResponse, stream: 1, body: body})
		budget := newRecvBudget(64 << 20)
		fr := frameReader{r: bytes.NewReader(wire), maxBody: DefaultMaxFrameSize, budget: budget}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		f, err := fr.read()
		runtime.ReadMemStats(&after)
		if err != nil || !bytes.Equal(f.body, body) {
			t.Fatalf("frame of %d bytes: %v (body intact: %v)", size, err, bytes.Equal(f.body, body))
		}
		if used := after.TotalAlloc - before.TotalAlloc; used > uint64(size)+uint64(size)/4+2*firstChunk {
			t.Errorf("frame of %d bytes: allocated %d bytes, more than its size and a quarter", size, used)
		}
		if budget.inUse() != 0 {
			t.Errorf("frame of %d bytes: %d bytes of the budget not given back", size, budget.inUse())
		}
	}
}
