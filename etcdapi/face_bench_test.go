package etcdapi_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cairndb/cairn/client"
	"github.com/cairndb/cairn/etcdapi"
	"github.com/cairndb/cairn/internal/testcerts"
	"github.com/cairndb/cairn/node/nodetest"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// The per-request cost of the etcd face against cairn's native rpc, on one
// in-process member: the same requests, the same number of connections and
// of requests in flight, one through a plain gRPC client of etcd's KV
// service (etcd's generated stubs and their own Marshal, the lightest
// client of the face), the other through cairn's client.
//
// Client and member share the process, so besides ns/op (wall time) each
// benchmark reports cpu-ns/op, the process's CPU time (user + system) per
// request, which a shared machine disturbs less than wall time, and
// allocs/op counts both sides' allocations (-benchmem), rw-syscalls/op
// both sides' reads and writes (Linux only). To see the
// member's share alone, profile and focus on the label the member's
// goroutines carry:
//
//	go test ./etcdapi -run '^$' -bench 'Face|Native' -benchtime 20000x -cpuprofile cpu.prof
//	go tool pprof -tagfocus side=member -top cpu.prof

const (
	benchConns    = 4    // connections to the member
	benchInFlight = 64   // requests in flight, spread over the connections
	benchKeys     = 1000 // keys written and read
)

var benchValue = string(make([]byte, 256))

// BenchmarkFacePut puts 256-byte values through the etcd face.
func BenchmarkFacePut(b *testing.B) {
	c := startLabeledCluster(b)
	kv := faceKVClients(b, c)
	runInFlight(b, func(i int) error {
		_, err := kv[i%len(kv)].Put(context.Background(),
			&pb.PutRequest{Key: benchKey(i), Value: []byte(benchValue)})
		return err
	})
}

// BenchmarkNativePut is BenchmarkFacePut through cairn's native rpc.
func BenchmarkNativePut(b *testing.B) {
	c := startLabeledCluster(b)
	cls := nativeClients(b, c)
	runInFlight(b, func(i int) error {
		_, err := cls[i%len(cls)].Put(context.Background(), string(benchKey(i)), benchValue)
		return err
	})
}

// BenchmarkFaceRangeSerializable reads one key at a time, serializable,
// through the etcd face.
func BenchmarkFaceRangeSerializable(b *testing.B) {
	c := startLabeledCluster(b)
	preload(b, c)
	rangeThroughFace(b, faceKVClients(b, c))
}

// rangeThroughFace runs the serializable one-key ranges of the range
// benchmarks on kv.
func rangeThroughFace(b *testing.B, kv []pb.KVClient) {
	runInFlight(b, func(i int) error {
		resp, err := kv[i%len(kv)].Range(context.Background(),
			&pb.RangeRequest{Key: benchKey(i), Serializable: true})
		if err == nil && len(resp.Kvs) != 1 {
			err = fmt.Errorf("range %q: %d keys, want 1", benchKey(i), len(resp.Kvs))
		}
		return err
	})
}

// BenchmarkFaceRangeSerializableTLS is BenchmarkFaceRangeSerializable
// over TLS: a gRPC client offers "h2" alone by ALPN, and the face hands
// its connection to the gRPC server's own transport (Face.ServeConn).
func BenchmarkFaceRangeSerializableTLS(b *testing.B) { benchRangeTLS(b, nil) }

// BenchmarkFaceRangeSerializableTLSCurlStyle is the same with a client
// that offers "http/1.1" beside "h2" by ALPN, as curl does: the member
// cannot tell it from a JSON client before its first request, and serves
// it through an HTTP/2 server and the gRPC server's HTTP handler, as etcd
// serves its TLS client port (Face.ServeConn).
func BenchmarkFaceRangeSerializableTLSCurlStyle(b *testing.B) {
	benchRangeTLS(b, []string{"h2", "http/1.1"})
}

func benchRangeTLS(b *testing.B, alpn []string) {
	ca := testcerts.NewCA(b, "ca")
	serverTLS := &tls.Config{Certificates: []tls.Certificate{ca.Issue(b, "127.0.0.1", x509.ExtKeyUsageServerAuth)}}
	var c *nodetest.Cluster
	pprof.Do(context.Background(), pprof.Labels("side", "member"), func(context.Context) {
		c = nodetest.Start(b, 1, nodetest.Options{ClientFace: etcdapi.New, ClientTLS: serverTLS})
	})
	kv := faceKVClientsWith(b, c, credentials.NewTLS(&tls.Config{RootCAs: ca.Pool(), NextProtos: alpn}))
	for i := range benchKeys { // through the face: the test's native client has no CA for it
		if _, err := kv[0].Put(context.Background(), &pb.PutRequest{Key: benchKey(i), Value: []byte(benchValue)}); err != nil {
			b.Fatal(err)
		}
	}
	rangeThroughFace(b, kv)
}

// BenchmarkNativeRangeSerializable is BenchmarkFaceRangeSerializable
// through cairn's native rpc.
func BenchmarkNativeRangeSerializable(b *testing.B) {
	c := startLabeledCluster(b)
	preload(b, c)
	cls := nativeClients(b, c)
	runInFlight(b, func(i int) error {
		resp, err := cls[i%len(cls)].Get(context.Background(), string(benchKey(i)), client.WithSerializable())
		if err == nil && len(resp.Kvs) != 1 {
			err = fmt.Errorf("get %q: %d keys, want 1", benchKey(i), len(resp.Kvs))
		}
		return err
	})
}

// BenchmarkFaceTxn runs etcd's compare-and-put through the etcd face: if
// the key exists (every key does, preloaded), put it, else get it.
func BenchmarkFaceTxn(b *testing.B) {
	c := startLabeledCluster(b)
	preload(b, c)
	kv := faceKVClients(b, c)
	runInFlight(b, func(i int) error {
		key := benchKey(i)
		resp, err := kv[i%len(kv)].Txn(context.Background(), &pb.TxnRequest{
			Compare: []*pb.Compare{{Key: key, Target: pb.Compare_VERSION, Result: pb.Compare_GREATER,
				TargetUnion: &pb.Compare_Version{Version: 0}}},
			Success: []*pb.RequestOp{{Request: &pb.RequestOp_RequestPut{
				RequestPut: &pb.PutRequest{Key: key, Value: []byte(benchValue)}}}},
			Failure: []*pb.RequestOp{{Request: &pb.RequestOp_RequestRange{
				RequestRange: &pb.RangeRequest{Key: key}}}},
		})
		if err == nil && !resp.Succeeded {
			err = fmt.Errorf("txn on %q did not succeed", key)
		}
		return err
	})
}

// BenchmarkNativeTxn is BenchmarkFaceTxn through cairn's native rpc.
func BenchmarkNativeTxn(b *testing.B) {
	c := startLabeledCluster(b)
	preload(b, c)
	cls := nativeClients(b, c)
	runInFlight(b, func(i int) error {
		key := string(benchKey(i))
		resp, err := cls[i%len(cls)].Txn(context.Background()).
			If(client.Compare(client.Version(key), ">", 0)).
			Then(client.OpPut(key, benchValue)).
			Else(client.OpGet(key)).
			Commit()
		if err == nil && !resp.Succeeded {
			err = fmt.Errorf("txn on %q did not succeed", key)
		}
		return err
	})
}

func benchKey(i int) []byte { return fmt.Appendf(nil, "key-%06d", i%benchKeys) }

// startLabeledCluster starts a one-member cluster whose goroutines carry
// the profiler label side=member.
func startLabeledCluster(b *testing.B) *nodetest.Cluster {
	var c *nodetest.Cluster
	pprof.Do(context.Background(), pprof.Labels("side", "member"), func(context.Context) {
		c = startClusterB(b, 1)
	})
	return c
}

// faceKVClients are gRPC clients of the member's etcd KV service, one per
// connection.
func faceKVClients(b *testing.B, c *nodetest.Cluster) []pb.KVClient {
	return faceKVClientsWith(b, c, insecure.NewCredentials())
}

// faceKVClientsWith is faceKVClients with the given transport
// credentials.
func faceKVClientsWith(b *testing.B, c *nodetest.Cluster, creds credentials.TransportCredentials) []pb.KVClient {
	var out []pb.KVClient
	for range benchConns {
		conn, err := grpc.NewClient("passthrough:///"+strings.TrimPrefix(c.Endpoint(0), "https://"),
			grpc.WithTransportCredentials(creds),
			grpc.WithDefaultCallOptions(grpc.ForceCodec(benchCodec{})))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { conn.Close() })
		out = append(out, pb.NewKVClient(conn))
	}
	return out
}

// nativeClients are cairn clients of the member, one per connection.
func nativeClients(b *testing.B, c *nodetest.Cluster) []*client.Client {
	var out []*client.Client
	for range benchConns {
		out = append(out, c.Client(c.Endpoint(0)))
	}
	return out
}

// preload writes the keys the range benchmarks read.
func preload(b *testing.B, c *nodetest.Cluster) {
	cl := c.Client()
	for i := range benchKeys {
		if _, err := cl.Put(context.Background(), string(benchKey(i)), benchValue); err != nil {
			b.Fatal(err)
		}
	}
}

// runInFlight runs b.N calls of op (given the call's number) from
// benchInFlight goroutines, and reports the process's CPU time per call.
func runInFlight(b *testing.B, op func(i int) error) {
	b.ReportAllocs()
	var next atomic.Int64
	var wg sync.WaitGroup
	// A few calls first, so that every connection is up.
	for i := range 2 * benchConns {
		if err := op(i); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	cpu0, io0 := processCPU(b), processIOCalls()
	ctx := pprof.WithLabels(context.Background(), pprof.Labels("side", "client"))
	for range benchInFlight {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pprof.SetGoroutineLabels(ctx)
			for {
				i := int(next.Add(1))
				if i > b.N {
					return
				}
				if err := op(i); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(processCPU(b)-cpu0)/float64(b.N), "cpu-ns/op")
	if io0 >= 0 {
		b.ReportMetric(float64(processIOCalls()-io0)/float64(b.N), "rw-syscalls/op")
	}
}

// processIOCalls is the number of read and write system calls the process
// has made (sockets and files alike), -1 where /proc/self/io cannot tell.
func processIOCalls() int64 {
	data, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return -1
	}
	var total int64
	for _, line := range strings.Split(string(data), "\n") {
		name, value, ok := strings.Cut(line, ": ")
		if ok && (name == "syscr" || name == "syscw") {
			n, err := strconv.ParseInt(value, 10, 64)
			if err != nil {
				return -1
			}
			total += n
		}
	}
	return total
}

// processCPU is the CPU time the process has used, user and system.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchCodec encodes etcd's messages with their generated Marshal and
// Unmarshal (the face's codec does the same on its side).
type benchCodec struct{}

type gogoMessage interface {
	Marshal() ([]byte, error)
	Unmarshal([]byte) error
}

func (benchCodec) Marshal(v any) ([]byte, error) { return v.(gogoMessage).Marshal() }

func (benchCodec) Unmarshal(data []byte, v any) error { return v.(gogoMessage).Unmarshal(data) }

func (benchCodec) Name() string { return "proto" }
