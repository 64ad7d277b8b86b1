// Package invariant names the errors cairn's storage layers return when
// one of their structural invariants does not hold: a page freed twice, a
// log index out of order, a revision that does not increase.
//
// A violated invariant means a bug or damage that the code cannot repair
// by itself. The layers do not panic (cairn's rule is that bad input or
// state gets an error, never a panic): they return an *Error, and the
// layer above treats it as fatal — the page file refuses the commit, the
// MVCC store and the log store stop accepting writes, and the member
// stops with the message, which names the invariant and what broke it:
//
//	pagefile: invariant "page freed once" violated: page 17 freed twice
//
// errors.Is(err, ErrViolated) tells a violation from other failures.
package invariant

import (
	"errors"
	"fmt"
)

// ErrViolated is matched (errors.Is) by every *Error.
var ErrViolated = errors.New("invariant violated")

// Error is a violated invariant: which package asserted it, its name, and
// what was found.
type Error struct {
	Pkg    string // the package that asserts it, e.g. "pagefile"
	Name   string // the invariant, e.g. "page freed once"
	Detail string // what broke it, e.g. "page 17 freed twice"
}

// Error formats the violation as `pkg: invariant "name" violated: detail`.
func (e *Error) Error() string {
	return fmt.Sprintf("%s: invariant %q violated: %s", e.Pkg, e.Name, e.Detail)
}

// Is makes errors.Is(err, ErrViolated) hold.
func (e *Error) Is(target error) bool { return target == ErrViolated }

// Violated returns the *Error for invariant name of package pkg, the
// detail formatted from format and args.
func Violated(pkg, name, format string, args ...any) error {
	return &Error{Pkg: pkg, Name: name, Detail: fmt.Sprintf(format, args...)}
}

// Name returns the name of the invariant err violates, and whether it is
// a violation at all.
func Name(err error) (string, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e.Name, true
	}
	return "", false
}
