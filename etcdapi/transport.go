package etcdapi

import (
	"context"
	"errors"
	"fmt"
	"net"

	"google.golang.org/grpc/credentials"
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
// standard path.
type gogoCodec struct{}

type gogoMessage interface {
	Marshal() ([]byte, error)
	Unmarshal([]byte) error
}

func (gogoCodec) Marshal(v any) ([]byte, error) {
	switch m := v.(type) {
	case gogoMessage:
		return m.Marshal()
	case proto.Message:
		return proto.Marshal(m)
	case protoadapt.MessageV1:
		return proto.Marshal(protoadapt.MessageV2Of(m))
	}
	return nil, fmt.Errorf("etcdapi: cannot encode %T", v)
}

func (gogoCodec) Unmarshal(data []byte, v any) error {
	switch m := v.(type) {
	case gogoMessage:
		return m.Unmarshal(data)
	case proto.Message:
		return proto.Unmarshal(data, m)
	case protoadapt.MessageV1:
		return proto.Unmarshal(data, protoadapt.MessageV2Of(m))
	}
	return fmt.Errorf("etcdapi: cannot decode into %T", v)
}

func (gogoCodec) Name() string { return "proto" }
