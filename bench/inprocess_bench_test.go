package bench_test

import (
	"context"
	"testing"

	"github.com/cairndb/cairn/bench"
	"github.com/cairndb/cairn/node/nodetest"
)

// These benchmarks run workloads against a 3-member cluster in this
// process, so that a CPU profile shows the servers and the client
// together:
//
//	go test -run '^$' -bench InProcess -cpuprofile cpu.prof ./bench
//	go tool pprof -top cpu.prof
//
// The numbers are not comparable with bench/compare.sh's (one process,
// 10 ms heartbeats, the benchmark's own goroutines on the same cores).

func benchmarkInProcess(b *testing.B, workload string, cfg bench.Config) {
	c := nodetest.Start(b, 3, nodetest.Options{})
	cfg.Endpoints = c.Endpoints()
	cfg.LeaderFirst = true
	cfg.Total = int64(b.N)
	b.ResetTimer()
	res, err := bench.Run(context.Background(), bench.Cairn{}, workload, cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	if res.Errors > 0 {
		b.Fatalf("%d errors: %v", res.Errors, res.ErrorSamples)
	}
	b.ReportMetric(res.QPS, "ops/s")
	b.ReportMetric(res.Latency.P99Ms, "p99-ms")
}

func BenchmarkInProcessPut1(b *testing.B) {
	benchmarkInProcess(b, "put", bench.Config{Clients: 1, Conns: 1})
}

func BenchmarkInProcessPut1000(b *testing.B) {
	benchmarkInProcess(b, "put", bench.Config{Clients: 1000, Conns: 100})
}

func BenchmarkInProcessRangeLinearizable(b *testing.B) {
	benchmarkInProcess(b, "range", bench.Config{Clients: 1000, Conns: 100, KeySpace: 1000})
}
