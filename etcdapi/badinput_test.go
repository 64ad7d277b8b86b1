package etcdapi_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/node/replica"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// rawCodec sends and receives bytes as they are: a client that speaks
// gRPC but writes whatever it likes inside.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return *(v.(*[]byte)), nil }
func (rawCodec) Unmarshal(b []byte, v any) error {
	*(v.(*[]byte)) = append([]byte(nil), b...)
	return nil
}
func (rawCodec) Name() string { return "proto" }

// TestBadInputGetsEtcdsErrors: what a broken or hostile client sends gets
// an error naming it, and the member goes on serving.
func TestBadInputGetsEtcdsErrors(t *testing.T) {
	c := startCluster(t, 1)
	ctx := ctxT(t)
	cli := etcdClient(t, c.Endpoints()...)
	conn, err := grpc.NewClient(c.Endpoint(0), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.ForceCodec(rawCodec{})))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	t.Run("unknown fields are ignored", func(t *testing.T) {
		req, _ := (&pb.PutRequest{Key: []byte("u"), Value: []byte("v")}).Marshal()
		req = append(req, 0xf8, 0x06, 0x01) // field 111, varint 1: no such field
		var resp []byte
		if err := conn.Invoke(ctx, "/etcdserverpb.KV/Put", &req, &resp); err != nil {
			t.Fatalf("put with an unknown field: %v", err)
		}
	})
	t.Run("a malformed message", func(t *testing.T) {
		req := []byte{0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f} // key of 4 GiB, then nothing
		var resp []byte
		err := conn.Invoke(ctx, "/etcdserverpb.KV/Put", &req, &resp)
		if c := status.Code(err); c == codes.OK || c == codes.Unknown {
			t.Fatalf("malformed put: %v", err)
		}
	})
	t.Run("garbage on a watch stream", func(t *testing.T) {
		st, err := conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true, ClientStreams: true}, "/etcdserverpb.Watch/Watch")
		if err != nil {
			t.Fatal(err)
		}
		garbage := []byte{0xff, 0xff, 0xff, 0xff}
		if err := st.SendMsg(&garbage); err != nil {
			t.Fatal(err)
		}
		var resp []byte
		if err := st.RecvMsg(&resp); err == nil || status.Code(err) == codes.OK {
			t.Fatalf("watch stream after garbage: %v %q", err, resp)
		}
	})
	t.Run("a request of exactly the size limit", func(t *testing.T) {
		// The limit counts the request as the member encodes it for the
		// log, as etcd counts its raft request.
		limit := c.Configs[0].MaxRequestBytes
		size := limit
		for range 8 {
			cmd, err := replica.NewCommand(&api.PutRequest{Key: []byte("exact"), Value: make([]byte, size)})
			if err != nil {
				t.Fatal(err)
			}
			size -= cmd.Size() - limit
		}
		if _, err := cli.Put(ctx, "exact", strings.Repeat("x", size)); err != nil {
			t.Fatalf("put of a request of exactly %d bytes: %v", limit, err)
		}
		if _, err := cli.Put(ctx, "exact", strings.Repeat("x", size+1)); !errors.Is(err, rpctypes.ErrRequestTooLarge) {
			t.Fatalf("put of a request of %d bytes: %v, want %v", limit+1, err, rpctypes.ErrRequestTooLarge)
		}
	})
	t.Run("a request over the size limit", func(t *testing.T) {
		big := strings.Repeat("x", c.Configs[0].MaxRequestBytes+1)
		if _, err := cli.Put(ctx, "big", big); !errors.Is(err, rpctypes.ErrRequestTooLarge) {
			t.Fatalf("put of %d bytes: %v, want %v", len(big), err, rpctypes.ErrRequestTooLarge)
		}
		huge := strings.Repeat("x", 4*c.Configs[0].MaxRequestBytes)
		if _, err := cli.Put(ctx, "huge", huge); status.Code(err) != codes.ResourceExhausted {
			t.Fatalf("put of %d bytes: %v, want ResourceExhausted", len(huge), err)
		}
	})
	t.Run("a keep-alive for a lease that does not exist", func(t *testing.T) {
		if _, err := cli.KeepAliveOnce(ctx, 0x1234); !errors.Is(err, rpctypes.ErrLeaseNotFound) {
			t.Fatalf("keep-alive of an unknown lease: %v", err)
		}
	})
	t.Run("an unknown method", func(t *testing.T) {
		var req, resp []byte
		if err := conn.Invoke(ctx, "/etcdserverpb.KV/Nope", &req, &resp); status.Code(err) != codes.Unimplemented {
			t.Fatalf("unknown method: %v", err)
		}
	})
	// Still serving.
	if _, err := cli.Put(context.Background(), "after", "all"); err != nil {
		t.Fatalf("put after the bad input: %v", err)
	}
	if r := must[*clientv3.GetResponse](t, "get")(cli.Get(ctx, "u")); len(r.Kvs) != 1 {
		t.Fatalf("the put with an unknown field did not write: %+v", r)
	}
}
