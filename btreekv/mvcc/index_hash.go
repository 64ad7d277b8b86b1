package mvcc

// leafHash finds the leaf holding a key without a descent through the
// leaves: an open-addressing table (linear probing) of 8-byte slots, each
// a key's 32-bit fingerprint (the top of its hash) and the id of its leaf
// plus one (so that 0 is an empty slot). A key's home slot is its
// fingerprint scaled to the table's size, so the table grows by moving
// slots alone, without the keys. Slots are a multiset: keys of a leaf
// that share a fingerprint have equal slots, any of which may stand for
// any of them; a lookup checks every leaf its fingerprint names.
type leafHash struct {
	slots []uint64
	used  int
}

func hashSlot(fp uint32, leaf uint32) uint64 { return uint64(fp)<<32 | uint64(leaf+1) }

func (h *leafHash) home(fp uint32) int { return int(uint64(fp) * uint64(len(h.slots)) >> 32) }

func (h *leafHash) next(i int) int {
	if i++; i == len(h.slots) {
		return 0
	}
	return i
}

// add records a key of fingerprint fp in leaf.
func (h *leafHash) add(fp, leaf uint32) {
	if (h.used+1)*4 > len(h.slots)*3 {
		h.grow()
	}
	h.place(hashSlot(fp, leaf))
	h.used++
}

func (h *leafHash) place(s uint64) {
	i := h.home(uint32(s >> 32))
	for h.slots[i] != 0 {
		i = h.next(i)
	}
	h.slots[i] = s
}

func (h *leafHash) grow() {
	old := h.slots
	h.slots = make([]uint64, max(64, 2*len(old)))
	for _, s := range old {
		if s != 0 {
			h.place(s)
		}
	}
}

// find returns the position of a slot equal to s, or -1.
func (h *leafHash) find(s uint64) int {
	if len(h.slots) == 0 {
		return -1
	}
	for i := h.home(uint32(s >> 32)); h.slots[i] != 0; i = h.next(i) {
		if h.slots[i] == s {
			return i
		}
	}
	return -1
}

// move records that a key of fingerprint fp moved from leaf from to leaf
// to.
func (h *leafHash) move(fp, from, to uint32) {
	if i := h.find(hashSlot(fp, from)); i >= 0 {
		h.slots[i] = hashSlot(fp, to)
	}
}

// remove forgets a key of fingerprint fp in leaf, shifting back the slots
// after it that would no longer be found past the hole.
func (h *leafHash) remove(fp, leaf uint32) {
	i := h.find(hashSlot(fp, leaf))
	if i < 0 {
		return
	}
	h.used--
	for j := h.next(i); h.slots[j] != 0; j = h.next(j) {
		home := h.home(uint32(h.slots[j] >> 32))
		// The slot at j may fill the hole at i if its home is not in the
		// cyclic interval (i, j].
		if i <= j {
			if i < home && home <= j {
				continue
			}
		} else if i < home || home <= j {
			continue
		}
		h.slots[i] = h.slots[j]
		i = j
	}
	h.slots[i] = 0
}
