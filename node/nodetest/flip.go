package nodetest

import (
	"bytes"
	"os"
	"testing"
)

// FlipEvery flips one bit at every place pattern appears in file (in a
// member's page file: the live page that holds it, and the older copies
// a page file keeps in its free pages), and reports how many it flipped.
// A pattern that is nowhere in the file fails the test.
func FlipEvery(t testing.TB, file, pattern string) int {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for at := 0; ; at++ {
		i := bytes.Index(b[at:], []byte(pattern))
		if i < 0 {
			break
		}
		at += i
		b[at] ^= 0x10
		n++
	}
	if n == 0 {
		t.Fatalf("%q is nowhere in %s", pattern, file)
	}
	if err := os.WriteFile(file, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return n
}
