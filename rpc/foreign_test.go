package rpc

import (
	"bufio"
	"crypto/tls"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// foreignCapture is a ServerOptions.Foreign that records what it was
// handed: the connection's first line and the negotiated ALPN protocol.
type foreignCapture struct {
	lines   chan string
	alpn    chan string
	offered chan []string // what the client offered by ALPN
}

func newForeignCapture() *foreignCapture {
	return &foreignCapture{lines: make(chan string, 4), alpn: make(chan string, 4), offered: make(chan []string, 4)}
}

func (f *foreignCapture) serve(conn net.Conn, st *tls.ConnectionState) {
	proto := "(plain)"
	if st != nil {
		proto = st.NegotiatedProtocol
	}
	f.alpn <- proto
	f.offered <- conn.(interface{ OfferedProtocols() []string }).OfferedProtocols()
	go func() {
		defer conn.Close()
		line, _ := bufio.NewReader(conn).ReadString('\n')
		f.lines <- line
		conn.Write([]byte("HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n"))
	}()
}

func receive(t *testing.T, c chan string) string {
	t.Helper()
	select {
	case s := <-c:
		return s
	case <-time.After(5 * time.Second):
		t.Fatal("the foreign handler got nothing")
		return ""
	}
}

// TestForeignProtocolHandOff: on a port with a Foreign handler, connections
// that do not start with cairn's hello go to it, bytes intact, and cairn
// clients are served as before, in plain TCP and with TLS (where the
// server offers h2 and http/1.1 by ALPN).
func TestForeignProtocolHandOff(t *testing.T) {
	cases := []struct {
		name     string
		first    string // what the foreign client sends
		wantLine string
	}{
		{"HTTP/1.1", "GET /health HTTP/1.1\r\nHost: x\r\n\r\n", "GET /health HTTP/1.1\r\n"},
		{"HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "PRI * HTTP/2.0\r\n"},
		{"CONNECT shares the magic's first byte", "CONNECT x:1 HTTP/1.1\r\n\r\n", "CONNECT x:1 HTTP/1.1\r\n"},
	}
	for _, tc := range cases {
		t.Run("plain/"+tc.name, func(t *testing.T) {
			fc := newForeignCapture()
			addr, _, _ := startServer(t, ServerOptions{Foreign: fc.serve})
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.Write([]byte(tc.first))
			if got := receive(t, fc.alpn); got != "(plain)" {
				t.Errorf("TLS state %q, want none", got)
			}
			if got := receive(t, fc.lines); got != tc.wantLine {
				t.Errorf("foreign handler read %q, want %q", got, tc.wantLine)
			}
			if err := echoOnce(dialT(t, addr, DialOptions{})); err != nil {
				t.Fatalf("a cairn client beside the foreign one: %v", err)
			}
		})
	}
	t.Run("TLS with ALPN", func(t *testing.T) {
		f := newTLSFixture(t)
		fc := newForeignCapture()
		srvTLS := mustTLS(ServerTLSConfig(f.serverCert, f.serverKey, "", false))
		addr, _, _ := startServer(t, ServerOptions{TLS: srvTLS, Foreign: fc.serve})
		if len(srvTLS.NextProtos) != 0 {
			t.Errorf("the caller's TLS config was changed: NextProtos %v", srvTLS.NextProtos)
		}
		cfg := mustTLS(ClientTLSConfig("", "", f.ca.file, false))
		cfg.NextProtos = []string{"http/1.1", "x-test"}
		cfg.ServerName = "127.0.0.1"
		client := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}
		resp, err := client.Get("https://" + addr + "/health")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent {
			t.Errorf("status %d, want 204 from the foreign handler", resp.StatusCode)
		}
		if got := receive(t, fc.alpn); got != "http/1.1" {
			t.Errorf("negotiated %q, want http/1.1", got)
		}
		select {
		case got := <-fc.offered:
			if !slices.Equal(got, []string{"http/1.1", "x-test"}) {
				t.Errorf("the client offered %q, the handler was told %q", cfg.NextProtos, got)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no offer reported")
		}
		if got := receive(t, fc.lines); !strings.HasPrefix(got, "GET /health") {
			t.Errorf("foreign handler read %q", got)
		}
		c := dialT(t, addr, DialOptions{TLS: mustTLS(ClientTLSConfig("", "", f.ca.file, false))})
		if err := echoOnce(c); err != nil {
			t.Fatalf("a cairn TLS client beside the foreign one: %v", err)
		}
	})
	t.Run("without Foreign, HTTP is refused as before", func(t *testing.T) {
		addr, _, _ := startServer(t, ServerOptions{})
		_, err := http.Get("http://" + addr + "/health")
		if err == nil {
			t.Fatal("an HTTP request was answered by a server with no Foreign handler")
		}
	})
}
