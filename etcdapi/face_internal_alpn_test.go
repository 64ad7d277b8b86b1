package etcdapi

import (
	"net"
	"testing"
)

// alpnConn is a connection that says what its client offered by ALPN, as
// the rpc server's connections do.
type alpnConn struct {
	net.Conn
	offered []string
}

func (c alpnConn) OfferedProtocols() []string { return c.offered }

// TestOfferedOnlyH2: only a client that offered "h2" and nothing else is
// taken for a gRPC client; curl's "h2, http/1.1", HTTP/1.1 alone, no
// offer, and a connection that cannot say go to the HTTP/2 server that
// also serves JSON.
func TestOfferedOnlyH2(t *testing.T) {
	for _, tc := range []struct {
		conn net.Conn
		want bool
	}{
		{alpnConn{offered: []string{"h2"}}, true},
		{alpnConn{offered: []string{"h2", "http/1.1"}}, false},
		{alpnConn{offered: []string{"http/1.1", "h2"}}, false},
		{alpnConn{offered: []string{"http/1.1"}}, false},
		{alpnConn{}, false},
		{&net.TCPConn{}, false},
	} {
		if got := offeredOnlyH2(tc.conn); got != tc.want {
			t.Errorf("%v: offeredOnlyH2 = %v, want %v", tc.conn, got, tc.want)
		}
	}
}
