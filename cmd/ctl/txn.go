package main

import (
	"context"
	"flag"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/client"
)

func txnCommand() command {
	return command{name: "txn", minArgs: 0, maxArgs: 0,
		summary: "Run a transaction read from stdin: compares, success requests and failure requests,\n" +
			"each section ended by a blank line; prints SUCCESS or FAILURE, then each response.\n" +
			"Compares: value(\"k\") = \"v\", mod(\"k\") > \"5\", create(\"k\") = \"0\", version(\"k\") != \"1\",\n" +
			"lease(\"k\") = \"694d5765fc71500b\". Requests: put KEY VALUE, get KEY [--prefix ...], del KEY.",
		setup: func(fs *flag.FlagSet) action {
			var interactive bool
			fs.BoolVar(&interactive, "interactive", false, "prompt for each section")
			fs.BoolVar(&interactive, "i", false, "short for --interactive")
			return func(e *env, _ []string) error {
				prompt := e.stdout
				if !interactive {
					prompt = nil
				}
				spec, err := readTxn(e.stdin, prompt)
				if err != nil {
					return badUsage("%v", err)
				}
				return call(e, "",
					func(ctx context.Context, c *client.Client) (*api.TxnResponse, error) {
						return c.Txn(ctx).If(spec.cmps...).Then(spec.success...).Else(spec.failure...).Commit()
					},
					e.p.txn)
			}
		}}
}
