package etcdapi

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/protoadapt"
)

// tlsStateCredentials are the gRPC server's transport credentials. TLS is
// already done when a connection reaches the face (the member's rpc
// server ran the handshake before it could tell the protocols apart), so
// the handshake here only reports what TLS established: the peer's
// verified certificate for auth, and the security level.
type tlsStateCredentials struct{}

func (tlsStateCredentials) ServerHandshake(conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	if c, ok := conn.(*tlsStateConn); ok {
		return conn, credentials.TLSInfo{State: *c.state,
			CommonAuthInfo: credentials.CommonAuthInfo{SecurityLevel: credentials.PrivacyAndIntegrity}}, nil
	}
	return conn, plainAuthInfo{credentials.CommonAuthInfo{SecurityLevel: credentials.NoSecurity}}, nil
}

func (tlsStateCredentials) ClientHandshake(context.Context, string, net.Conn) (net.Conn, credentials.AuthInfo, error) {
	return nil, nil, errors.New("etcdapi: server-side credentials cannot dial")
}

func (tlsStateCredentials) Info() credentials.ProtocolInfo {
	return credentials.ProtocolInfo{SecurityProtocol: "tls"}
}

func (c tlsStateCredentials) Clone() credentials.TransportCredentials { return c }

func (tlsStateCredentials) OverrideServerName(string) error { return nil }

// plainAuthInfo describes a connection without TLS.
type plainAuthInfo struct{ credentials.CommonAuthInfo }

func (plainAuthInfo) AuthType() string { return "insecure" }

// gogoCodec encodes etcd's message types with the Marshal and Unmarshal
// methods generated for them (gogo/protobuf), several times faster than
// the reflection that the standard protobuf codec falls back to for
// these legacy types; other messages (the health service) take the
// standard path. It speaks gRPC's buffer slices (encoding.CodecV2): a
// message decodes straight from the buffer gRPC read it into (the
// generated Unmarshal copies every byte field out of it) instead of a
// copy of it, and a large message encodes into a pooled buffer that gRPC
// returns to the pool once written. With small set, small messages do
// too (gRPC pools only buffers larger than mem.BufferPoolingThreshold).
type gogoCodec struct {
	small *smallBufferPool // nil: small messages are encoded into new buffers
}

// gogoMessage is a message with gogo/protobuf's generated methods.
type gogoMessage interface {
	Size() int
	MarshalToSizedBuffer([]byte) (int, error)
	Unmarshal([]byte) error
}

func (c gogoCodec) Marshal(v any) (mem.BufferSlice, error) {
	m, ok := v.(gogoMessage)
	if !ok {
		b, err := marshalStandard(v)
		if err != nil {
			return nil, err
		}
		return mem.BufferSlice{mem.SliceBuffer(b)}, nil
	}
	size := m.Size()
	var pool mem.BufferPool
	switch {
	case !mem.IsBelowBufferPoolingThreshold(size):
		pool = mem.DefaultBufferPool()
	case c.small != nil && size <= smallBufferSize:
		pool = c.small
	default:
		b := make([]byte, size)
		if err := marshalSized(m, b); err != nil {
			return nil, err
		}
		return mem.BufferSlice{mem.SliceBuffer(b)}, nil
	}
	buf := pool.Get(size) // size bytes long
	if err := marshalSized(m, *buf); err != nil {
		pool.Put(buf)
		return nil, err
	}
	return mem.BufferSlice{mem.NewBuffer(buf, pool)}, nil
}

// marshalSized encodes m into b, m.Size() bytes long.
func marshalSized(m gogoMessage, b []byte) error {
	n, err := m.MarshalToSizedBuffer(b)
	if err != nil {
		return err
	}
	if n != len(b) {
		return fmt.Errorf("etcdapi: %T encoded to %d bytes, its size is %d", m, n, len(b))
	}
	return nil
}

func (gogoCodec) Unmarshal(data mem.BufferSlice, v any) error {
	// One buffer (the usual case: a message in one DATA frame) is read
	// in place; several are joined in a pooled buffer.
	buf := data.MaterializeToBuffer(mem.DefaultBufferPool())
	defer buf.Free()
	b := buf.ReadOnlyData()
	switch m := v.(type) {
	case gogoMessage:
		return m.Unmarshal(b)
	case proto.Message:
		return proto.Unmarshal(b, m)
	case protoadapt.MessageV1:
		return proto.Unmarshal(b, protoadapt.MessageV2Of(m))
	}
	return fmt.Errorf("etcdapi: cannot decode into %T", v)
}

func (gogoCodec) Name() string { return "proto" }

// marshalStandard encodes a message without gogo's methods.
func marshalStandard(v any) ([]byte, error) {
	switch m := v.(type) {
	case proto.Message:
		return proto.Marshal(m)
	case protoadapt.MessageV1:
		return proto.Marshal(protoadapt.MessageV2Of(m))
	}
	return nil, fmt.Errorf("etcdapi: cannot encode %T", v)
}

// smallBufferSize is the capacity of the buffers of smallBufferPool:
// above gRPC's pooling threshold (1 KiB), so that gRPC gives them back
// once written (mem.NewBuffer), and large enough for the common
// responses (a header and a key-value pair of a few hundred bytes).
const smallBufferSize = 2 << 10

// smallBufferPool is the gRPC server's pool of buffers for encoding
// messages of at most smallBufferSize bytes: an encoded response is
// otherwise three allocations (its bytes, and the two values gRPC wraps
// them in); a pooled one reuses all three. The encoder overwrites every
// byte it is given, so buffers are not cleared.
type smallBufferPool struct{ pool sync.Pool }

// Get returns a buffer of length n ≤ smallBufferSize.
func (p *smallBufferPool) Get(n int) *[]byte {
	if b, ok := p.pool.Get().(*[]byte); ok {
		*b = (*b)[:n]
		return b
	}
	b := make([]byte, n, smallBufferSize)
	return &b
}

// Put takes a buffer back (one of another size is dropped).
func (p *smallBufferPool) Put(b *[]byte) {
	if cap(*b) == smallBufferSize {
		p.pool.Put(b)
	}
}
