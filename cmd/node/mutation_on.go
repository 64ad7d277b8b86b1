//go:build cairn_mutation

package main

import (
	"flag"

	"github.com/cairndb/cairn/node"
)

// mutationFlags adds the flags that switch a safety rule off, for the
// mutation tests of whole processes (linearizability/procharness builds
// cmd/node with -tags cairn_mutation to show that its checks catch the
// bug). A binary built without the tag has none of them.
func mutationFlags(fs *flag.FlagSet, c *node.Config) {
	fs.BoolVar(&c.UnsafeSkipRepair, "unsafe-skip-repair", false, "MUTATION TESTS ONLY: start as if the disk had lost nothing")
}
