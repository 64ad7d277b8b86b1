package node

import "testing"

// TestEmptyWatchRange: a watch of a range holding no key (its end at or
// before its key) is refused, as etcd refuses it; "\x00" as the end
// means every key from the key on.
func TestEmptyWatchRange(t *testing.T) {
	for _, tt := range []struct {
		key, end string
		empty    bool
	}{
		{"a", "", false},
		{"a", "b", false},
		{"a", "\x00", false},
		{"\x00", "\x00", false},
		{"a", "a", true},
		{"b", "a", true},
		{"ab", "a", true},
		{"a", "a\x00", false},
	} {
		if got := emptyWatchRange([]byte(tt.key), []byte(tt.end)); got != tt.empty {
			t.Errorf("[%q, %q): empty %v, want %v", tt.key, tt.end, got, tt.empty)
		}
	}
}
