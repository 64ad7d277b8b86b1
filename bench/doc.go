// Package bench drives benchmark workloads against a key-value cluster
// and reports what it measured: how many operations per second, and how
// long they took (mean, percentiles, a histogram, latency over time).
//
// The pieces, one per file:
//
//   - Histogram (histogram.go): a log-linear latency histogram with a
//     bounded relative error, cheap to record into and to merge.
//   - Limiter (limiter.go): paces operations to a rate (--rate).
//   - Target and Conn (target.go): the system under test, behind a small
//     interface (put, get, revisions, compare-and-swap, watch, lease grant
//     and keep-alive) so the same workloads can run against cairn (cairn.go)
//     and stores serving etcd's gRPC API (package bench/etcd, through
//     etcd's own client, clientv3).
//   - Workloads (workload_*.go): put, range, txn-put, watch,
//     lease-keepalive and mixed.
//   - Run (run.go): many clients over a few shared connections, each
//     running one operation after another until a total count or a
//     duration is reached.
//   - Result (result.go, report.go, plot.go): the summary as text, JSON
//     lines for scripts, a comparison table of one side against others
//     (Side, WriteComparison) and an SVG plot.
//
// Around it: cmd/bench is the command; bench/compare.sh runs the same
// workloads against local 3-member cairn and etcd clusters and prints
// them side by side; package node/nodetest starts an in-process cluster
// for tests and profiling benchmarks. README.md has the measured numbers.
//
// Like etcd's benchmark tool, many clients (goroutines issuing one
// request at a time) share fewer connections: client i uses connection
// i mod conns, so 1,000 clients over 100 connections keep up to 1,000
// requests in flight multiplexed over 100 TCP connections.
package bench
