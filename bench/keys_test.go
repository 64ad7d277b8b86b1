package bench

import (
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"
)

func TestKeysAreFixedWidthDecimals(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		width := rapid.IntRange(1, 12).Draw(t, "width")
		i := rapid.IntRange(0, 999999999999).Draw(t, "i")
		if len(strconv.Itoa(i)) > width {
			t.Skip("does not fit")
		}
		ks := &keyspace{size: i + 1, width: width}
		k := ks.key(make([]byte, 3), i)
		if len(k) != width {
			t.Fatalf("key %q of %d is %d bytes, want %d", k, i, len(k), width)
		}
		if n, err := strconv.Atoi(strings.TrimLeft(string(k), "0") + "0"); err != nil || n/10 != i {
			t.Fatalf("key %q does not spell %d", k, i)
		}
	})
}

func TestPrefixCoversTenKeys(t *testing.T) {
	ks := &keyspace{size: 100, width: 4}
	p := string(prefixOf(ks.key(nil, 42)))
	if p != "004" {
		t.Fatalf("prefix of key 42 = %q, want 004", p)
	}
	for i := range 100 {
		if got := strings.HasPrefix(string(ks.key(nil, i)), p); got != (i/10 == 4) {
			t.Fatalf("key %d under prefix %q: %v", i, p, got)
		}
	}
}

func TestSequentialKeysWrap(t *testing.T) {
	ks := &keyspace{size: 3, width: 1, sequential: true}
	var got []int
	for range 7 {
		got = append(got, ks.pick(nil))
	}
	if want := []int{0, 1, 2, 0, 1, 2, 0}; !slices.Equal(got, want) {
		t.Fatalf("sequential picks %v, want %v", got, want)
	}
	rk := &keyspace{size: 5, width: 1}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 100 {
		if k := rk.pick(rng); k < 0 || k >= 5 {
			t.Fatalf("random pick %d outside [0, 5)", k)
		}
	}
}

func TestStampRoundTrip(t *testing.T) {
	base := time.Now().Add(-time.Second)
	val := fillValue(16)
	stamp(val, base)
	age, ok := stampAge(val, base)
	if !ok || age < 0 || age > time.Minute {
		t.Fatalf("age of a fresh stamp: %v %v", age, ok)
	}
	if _, ok := stampAge(val[:stampLen-1], base); ok {
		t.Fatal("a value too short for a stamp was read as one")
	}
}

func TestConfigDefaultsAndErrors(t *testing.T) {
	eps := []string{"127.0.0.1:1"}
	cfg, err := Config{Endpoints: eps, Clients: 10, Conns: 100}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Conns != 10 || cfg.KeySize != 8 || cfg.ValSize != 256 || cfg.KeySpace != 10000 ||
		cfg.Duration != 10*time.Second || cfg.ReadRatio != 0.9 || cfg.Watchers != 100 || cfg.LeaseTTL != 60 {
		t.Fatalf("defaults: %+v", cfg)
	}
	if cfg, _ := (Config{Endpoints: eps, Total: 5}).withDefaults(); cfg.Duration != 0 {
		t.Fatalf("a run with a total got a duration %v", cfg.Duration)
	}
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{}, "no endpoints"},
		{Config{Endpoints: eps, Clients: -1}, "--clients"},
		{Config{Endpoints: eps, Total: -1}, "--total"},
		{Config{Endpoints: eps, Duration: -time.Second}, "--duration"},
		{Config{Endpoints: eps, KeySize: 3, KeySpace: 10000}, "--key-size 3 is too short for 10000 keys"},
		{Config{Endpoints: eps, KeySpace: -2}, "--key-space"},
		{Config{Endpoints: eps, KeySpace: 10, FirstKey: 10}, "--first-key 10 must be in [0, --key-space 10)"},
		{Config{Endpoints: eps, FirstKey: -1}, "--first-key -1"},
		{Config{Endpoints: eps, ValSize: -1}, "--val-size"},
		{Config{Endpoints: eps, ReadRatio: 1.5}, "--read-ratio"},
		{Config{Endpoints: eps, Watchers: -1}, "--watchers"},
		{Config{Endpoints: eps, LeaseTTL: -1}, "--lease-ttl"},
	} {
		_, err := tc.cfg.withDefaults()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: err %v, want %q", tc.cfg, err, tc.want)
		}
	}
}

func TestRotate(t *testing.T) {
	eps := []string{"a", "b", "c"}
	for i, want := range []string{"abc", "bca", "cab", "abc"} {
		if got := strings.Join(rotate(eps, i), ""); got != want {
			t.Errorf("rotate by %d = %s, want %s", i, got, want)
		}
	}
	if strings.Join(eps, "") != "abc" {
		t.Errorf("rotate changed its input: %v", eps)
	}
}

func TestOwnKeysAreDisjoint(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		clients := rapid.IntRange(1, 50).Draw(t, "clients")
		space := rapid.IntRange(clients, 500).Draw(t, "space")
		r := &run{cfg: Config{Clients: clients, KeySpace: space, Sequential: rapid.Bool().Draw(t, "seq")}}
		owner := map[int]int{}
		for id := range clients {
			w := &worker{id: id, rng: rand.New(rand.NewPCG(1, uint64(id)))}
			for range 20 {
				k := ownKey(r, w)
				if k < 0 || k >= space {
					t.Fatalf("key %d outside [0, %d)", k, space)
				}
				if o, ok := owner[k]; ok && o != id {
					t.Fatalf("key %d used by clients %d and %d", k, o, id)
				}
				owner[k] = id
			}
		}
	})
}
