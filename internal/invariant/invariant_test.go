package invariant

import (
	"errors"
	"fmt"
	"testing"
)

func TestViolatedFormatsAndMatches(t *testing.T) {
	err := Violated("pagefile", "page freed once", "page %d freed twice", 17)
	if got, want := err.Error(), `pagefile: invariant "page freed once" violated: page 17 freed twice`; got != want {
		t.Fatalf("Error() = %q, want %q", got, want)
	}
	wrapped := fmt.Errorf("commit: %w", err)
	if !errors.Is(wrapped, ErrViolated) {
		t.Fatal("a wrapped violation does not match ErrViolated")
	}
	if name, ok := Name(wrapped); !ok || name != "page freed once" {
		t.Fatalf("Name = %q, %v", name, ok)
	}
	if _, ok := Name(errors.New("other")); ok {
		t.Fatal("Name reports a violation for an unrelated error")
	}
	if errors.Is(errors.New("other"), ErrViolated) {
		t.Fatal("an unrelated error matches ErrViolated")
	}
}
