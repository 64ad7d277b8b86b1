package rpc

import (
	"context"
	"strings"
	"testing"
)

// credentialsOf answers with the token and the client certificate's common name
// its handler context carries.
func credentialsOf(ctx context.Context) []byte {
	name := "-"
	if c := PeerCertificate(ctx); c != nil {
		name = c.Subject.CommonName
	}
	return []byte(Token(ctx) + "|" + name)
}

func TestTokenReachesHandlers(t *testing.T) {
	addr, srv, _ := startServer(t, ServerOptions{})
	srv.HandleUnary(90, func(ctx context.Context, _ []byte) ([]byte, error) { return credentialsOf(ctx), nil })
	srv.HandleStream(91, func(ctx context.Context, s *Stream) error { return s.Send(credentialsOf(ctx)) })
	c := dialT(t, addr, DialOptions{})
	for _, tok := range []string{"", "t1", strings.Repeat("x", MaxTokenSize)} {
		ctx := context.Background()
		if tok != "" {
			ctx = WithToken(ctx, tok)
		}
		got, err := c.Call(ctx, 90, nil)
		if err != nil || string(got) != tok+"|-" {
			t.Fatalf("unary with token of %d bytes: %q, %v", len(tok), got, err)
		}
		st, err := c.NewStream(ctx, 91)
		if err != nil {
			t.Fatal(err)
		}
		got, err = st.Recv()
		st.Close()
		if err != nil || string(got) != tok+"|-" {
			t.Fatalf("stream with token of %d bytes: %q, %v", len(tok), got, err)
		}
	}
	// A token over the limit is refused before anything is sent.
	big := WithToken(context.Background(), strings.Repeat("x", MaxTokenSize+1))
	if _, err := c.Call(big, 90, nil); ErrorCode(err) != CodeInvalidArgument {
		t.Fatalf("oversized token: %v, want InvalidArgument", err)
	}
	if _, err := c.NewStream(big, 91); ErrorCode(err) != CodeInvalidArgument {
		t.Fatalf("oversized token on a stream: %v, want InvalidArgument", err)
	}
	// The connection still works.
	if got, err := c.Call(WithToken(context.Background(), "after"), 90, nil); err != nil || string(got) != "after|-" {
		t.Fatalf("after refusal: %q, %v", got, err)
	}
}

func TestPeerCertificateReachesHandlers(t *testing.T) {
	f := newTLSFixture(t)
	for _, clientAuth := range []bool{true, false} {
		addr, srv, _ := startServer(t, ServerOptions{TLS: mustTLS(ServerTLSConfig(f.serverCert, f.serverKey, f.ca.file, clientAuth))})
		srv.HandleUnary(90, func(ctx context.Context, _ []byte) ([]byte, error) { return credentialsOf(ctx), nil })
		c := dialT(t, addr, DialOptions{TLS: mustTLS(ClientTLSConfig(f.clientCert, f.clientKey, f.ca.file, false))})
		got, err := c.Call(WithToken(context.Background(), "tok"), 90, nil)
		// Without client-cert auth the server does not ask for a
		// certificate, so none is verified and none is reported.
		want := "tok|-"
		if clientAuth {
			want = "tok|client"
		}
		if err != nil || string(got) != want {
			t.Fatalf("client cert auth %v: got %q, %v; want %q", clientAuth, got, err, want)
		}
	}
}
