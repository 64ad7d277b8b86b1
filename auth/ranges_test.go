package auth

import (
	"errors"
	"testing"

	"github.com/cairndb/cairn/api"
	"pgregory.net/rapid"
)

func TestRangeSetCovers(t *testing.T) {
	b := func(s string) []byte { return []byte(s) }
	type perm struct{ key, end string }
	tests := []struct {
		name     string
		perms    []perm
		key, end string
		want     bool
	}{
		{"single key granted", []perm{{"a", ""}}, "a", "", true},
		{"other key", []perm{{"a", ""}}, "b", "", false},
		{"key in range", []perm{{"a", "c"}}, "b", "", true},
		{"range end is exclusive", []perm{{"a", "c"}}, "c", "", false},
		{"sub-range", []perm{{"a", "d"}}, "b", "c", true},
		{"range past the end", []perm{{"a", "c"}}, "b", "d", false},
		{"range overlapping a gap", []perm{{"a", "b"}, {"c", "d"}}, "a", "d", false},
		{"touching ranges merge", []perm{{"a", "b"}, {"b", "d"}}, "a", "d", true},
		{"overlapping ranges merge", []perm{{"a", "c"}, {"b", "e"}}, "a", "e", true},
		{"prefix", []perm{{"p/", "p0"}}, "p/x", "p/y", true},
		{"prefix does not cover its sibling", []perm{{"p/", "p0"}}, "p/", "p1", false},
		{"from key to the end", []perm{{"m", "\x00"}}, "z", "\x00", true},
		{"from key needs an open end", []perm{{"m", "zz"}}, "n", "\x00", false},
		{"all keys", []perm{{"\x00", "\x00"}}, "", "\x00", true},
		{"empty key start means all keys", []perm{{"", "\x00"}}, "a", "", true},
		{"single key is [k, k+\\x00)", []perm{{"a", ""}, {"a\x00", ""}}, "a", "a\x00\x00", true},
		{"empty request range", nil, "b", "a", true},
		{"nothing granted", nil, "a", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ivs []interval
			for _, p := range tt.perms {
				if iv, ok := toInterval(b(p.key), b(p.end)); ok {
					ivs = append(ivs, iv)
				}
			}
			if got := newRangeSet(ivs).covers(b(tt.key), b(tt.end)); got != tt.want {
				t.Fatalf("covers(%q, %q) = %v, want %v (set %+v)", tt.key, tt.end, got, tt.want, newRangeSet(ivs))
			}
		})
	}
}

// The alphabet of the property test: "\x00" matters because a single key
// k covers [k, k+"\x00").
const alphabet = "\x00ab"

// genKey draws a key of up to 2 letters (possibly empty).
func genKey(t *rapid.T, label string) string {
	n := rapid.IntRange(0, 2).Draw(t, label+"-len")
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[rapid.IntRange(0, len(alphabet)-1).Draw(t, label+"-letter")]
	}
	return string(b)
}

// genRange draws a (key, end) pair from a pool of keys (so that ranges
// often meet at their ends): a single key, a from-key range, or an
// arbitrary [key, end).
func genRange(t *rapid.T, pool []string, label string) (string, string) {
	key := rapid.SampledFrom(pool).Draw(t, label+"-key")
	switch rapid.IntRange(0, 2).Draw(t, label+"-kind") {
	case 0:
		return key, ""
	case 1:
		return key, "\x00"
	}
	return key, rapid.SampledFrom(pool).Draw(t, label+"-end")
}

// inRange is the definition of a range, point by point.
func inRange(p, key, end string) bool {
	switch {
	case end == "":
		return p == key
	case end == "\x00":
		return p >= key
	}
	return p >= key && p < end
}

// universe is every non-empty string of up to 4 letters of the alphabet:
// enough to find a key the union misses if there is one (the first
// missed key is the request's start or the end of a granted range, and
// those are at most 4 letters long).
func universe() []string {
	out := []string{}
	var walk func(prefix string)
	walk = func(prefix string) {
		if len(prefix) > 0 {
			out = append(out, prefix)
		}
		if len(prefix) == 4 {
			return
		}
		for i := range len(alphabet) {
			walk(prefix + alphabet[i:i+1])
		}
	}
	walk("")
	return out
}

func TestRangeSetMatchesBruteForce(t *testing.T) {
	keys := universe()
	rapid.Check(t, func(t *rapid.T) {
		// The pool holds keys and a key followed by "\x00" (where a
		// single key's range ends).
		pool := []string{genKey(t, "k1"), genKey(t, "k2"), genKey(t, "k3")}
		pool = append(pool, pool[0]+"\x00")
		n := rapid.IntRange(0, 4).Draw(t, "perms")
		type pr struct{ key, end string }
		var perms []pr
		var ivs []interval
		for i := range n {
			k, e := genRange(t, pool, "perm"+string(rune('0'+i)))
			perms = append(perms, pr{k, e})
			if iv, ok := toInterval([]byte(k), []byte(e)); ok {
				ivs = append(ivs, iv)
			}
		}
		set := newRangeSet(ivs)
		// Every request the pool can form.
		for _, key := range pool {
			for _, end := range append([]string{"", "\x00"}, pool...) {
				want := true
				for _, p := range keys {
					if !inRange(p, key, end) {
						continue
					}
					covered := false
					for _, pm := range perms {
						covered = covered || inRange(p, pm.key, pm.end)
					}
					if !covered {
						want = false
						break
					}
				}
				if got := set.covers([]byte(key), []byte(end)); got != want {
					t.Fatalf("covers(%q, %q) = %v, brute force says %v; perms %q", key, end, got, want, perms)
				}
			}
		}
	})
}

// CheckGrantRange refuses what etcd 3.6's isValidPermissionRange refuses,
// with etcd's error, and nothing else.
func TestCheckGrantRange(t *testing.T) {
	for _, tt := range []struct {
		key, end string
		ok       bool
	}{
		{"a", "", true},
		{"a", "b", true},
		{"a", "\x00", true},
		{"\x00", "\x00", true}, // etcdctl's whole key space
		{"\x00", "", true},
		{"b", "a", false},
		{"a", "a", false},
		{"", "", false},
		{"", "\x00", false},
		{"", "b", false},
	} {
		err := CheckGrantRange([]byte(tt.key), []byte(tt.end))
		switch {
		case tt.ok && err != nil:
			t.Errorf("[%q, %q): %v, want no error", tt.key, tt.end, err)
		case !tt.ok && !errors.Is(err, api.ErrInvalidAuthMgmt):
			t.Errorf("[%q, %q): %v, want %v", tt.key, tt.end, err, api.ErrInvalidAuthMgmt)
		}
	}
}
