//go:build !cairn_mutation

package main

import (
	"flag"

	"github.com/cairndb/cairn/node"
)

// mutationFlags adds nothing: the flags that switch a safety rule off
// exist only in a binary built with -tags cairn_mutation (mutation_on.go).
func mutationFlags(*flag.FlagSet, *node.Config) {}
