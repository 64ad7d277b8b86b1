package rpc

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
)

// Credentials travel two ways. A token (an opaque string the application
// chooses, e.g. an auth token) rides on each request and stream open: the
// client attaches it with WithToken and the handler reads it with Token.
// A verified TLS client certificate belongs to the connection: handlers
// read it with PeerCertificate.

type tokenKey struct{}

type peerCertKey struct{}

// WithToken returns a context whose calls and streams carry token to the
// server (at most MaxTokenSize bytes). The server's handler sees it
// through Token.
func WithToken(ctx context.Context, token string) context.Context {
	return context.WithValue(ctx, tokenKey{}, token)
}

// Token is the token the caller attached to the call or stream whose
// handler context is ctx ("" if none). On the client side it returns the
// token WithToken attached to ctx.
func Token(ctx context.Context) string {
	t, _ := ctx.Value(tokenKey{}).(string)
	return t
}

// PeerCertificate is the client certificate the TLS handshake verified on
// the connection that carries the call or stream whose handler context is
// ctx, or nil (plain TCP, or no certificate sent or required).
func PeerCertificate(ctx context.Context) *x509.Certificate {
	c, _ := ctx.Value(peerCertKey{}).(*x509.Certificate)
	return c
}

// WithPeerCertificate returns ctx carrying cert as the verified client
// certificate PeerCertificate reports: for the server of another protocol
// on an rpc port (ServerOptions.Foreign), whose TLS handshake verified it,
// so that handlers read a caller's certificate one way whatever carried
// the call.
func WithPeerCertificate(ctx context.Context, cert *x509.Certificate) context.Context {
	return context.WithValue(ctx, peerCertKey{}, cert)
}

// withPeerCertificate records conn's verified client certificate, if it is
// a TLS connection that has one, in ctx.
func withPeerCertificate(ctx context.Context, conn net.Conn) context.Context {
	tc, ok := conn.(*tls.Conn)
	if !ok {
		return ctx
	}
	st := tc.ConnectionState()
	if len(st.VerifiedChains) == 0 || len(st.PeerCertificates) == 0 {
		return ctx
	}
	return context.WithValue(ctx, peerCertKey{}, st.PeerCertificates[0])
}

// callContext is a handler's context: the session's, with the caller's
// timeout and token.
func callContext(parent context.Context, f *frame) (context.Context, context.CancelFunc) {
	if f.token != "" {
		parent = context.WithValue(parent, tokenKey{}, f.token)
	}
	return handlerContext(parent, f.timeout)
}
