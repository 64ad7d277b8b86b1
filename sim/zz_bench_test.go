package sim
import "testing"
func benchRun(b *testing.B, tl bool) {
	for i := 0; i < b.N; i++ {
		for _, seed := range []uint64{3, 7} {
			cfg := DefaultConfig(seed); cfg.Timeline = tl
			w, _ := New(cfg); if err := w.Run(); err != nil { b.Fatal(err) }
		}
	}
}
func BenchmarkZZOff(b *testing.B) { benchRun(b, false) }
func BenchmarkZZOn(b *testing.B) { benchRun(b, true) }
