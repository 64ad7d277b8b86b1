package procharness

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// echoServer serves lines back to their sender until the test ends.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().String()
}

// sourceByIP names a connection's source by its loopback address:
// 127.0.0.2 is "a", 127.0.0.3 is "b".
func sourceByIP(c net.Conn) (string, error) {
	switch ip := c.RemoteAddr().(*net.TCPAddr).IP.String(); ip {
	case "127.0.0.2":
		return "a", nil
	case "127.0.0.3":
		return "b", nil
	default:
		return "", fmt.Errorf("unknown source %s", ip)
	}
}

// dialFrom connects to addr from the loopback address of member name.
func dialFrom(name, addr string) (net.Conn, error) {
	ip := map[string]string{"a": "127.0.0.2", "b": "127.0.0.3", "x": "127.0.0.9"}[name]
	d := net.Dialer{Timeout: time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	return d.Dial("tcp", addr)
}

// roundTrip sends a line over c and reports whether it came back.
func roundTrip(c net.Conn, line string) error {
	c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := fmt.Fprintln(c, line); err != nil {
		return err
	}
	got, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if got != line+"\n" {
		return fmt.Errorf("echoed %q, sent %q", got, line)
	}
	return nil
}

// linkWorks dials from -> the proxy and reports whether a line makes the
// round trip.
func linkWorks(from, addr string) error {
	c, err := dialFrom(from, addr)
	if err != nil {
		return err
	}
	defer c.Close()
	return roundTrip(c, "hello from "+from)
}

func newTestNet(t *testing.T) (*Net, string) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("the proxy test dials from 127.0.0.2 and 127.0.0.3, which only Linux's loopback answers")
	}
	n := NewNet(sourceByIP)
	t.Cleanup(func() { n.Close() })
	addr, err := n.Listen("c", echoServer(t))
	if err != nil {
		t.Fatal(err)
	}
	return n, addr
}

func TestNetCutIsDirectedAndHeals(t *testing.T) {
	n, addr := newTestNet(t)
	for _, from := range []string{"a", "b"} {
		if err := linkWorks(from, addr); err != nil {
			t.Fatalf("healthy link %s->c: %v", from, err)
		}
	}
	open, err := dialFrom("a", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer open.Close()
	if err := roundTrip(open, "before the cut"); err != nil {
		t.Fatal(err)
	}

	n.Cut("a", "c")
	if err := roundTrip(open, "after the cut"); err == nil {
		t.Fatal("an open connection on a cut link still works")
	}
	if err := linkWorks("a", addr); err == nil {
		t.Fatal("a new connection on a cut link works")
	}
	if err := linkWorks("b", addr); err != nil {
		t.Fatalf("link b->c broke when a->c was cut: %v", err)
	}
	if got := n.Faults(); len(got) != 1 || got[0] != (Link{"a", "c"}) {
		t.Fatalf("Faults() = %v, want [a->c]", got)
	}

	n.Heal()
	if err := linkWorks("a", addr); err != nil {
		t.Fatalf("healed link a->c: %v", err)
	}
	// The open connection is severed; so may be an earlier probe's that
	// its client closed but the proxy had not yet seen end.
	s := n.Stats()
	if s.Severed < 1 || s.Severed > 3 || s.Refused < 1 || s.Unidentified != 0 {
		t.Fatalf("stats %+v: want 1 to 3 severed (the open connection, and the probes still ending), at least 1 refused, none unidentified", s)
	}
}

func TestNetPartitionCutsOnlyBetweenGroups(t *testing.T) {
	n := NewNet(sourceByIP)
	defer n.Close()
	n.Partition([]string{"a"}, []string{"b", "c"})
	want := []Link{{"a", "b"}, {"a", "c"}, {"b", "a"}, {"c", "a"}}
	got := n.Faults()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("Partition({a},{b,c}) cut %v, want %v", got, want)
	}
}

func TestNetPartitionBlocksTraffic(t *testing.T) {
	n, addr := newTestNet(t)
	n.Partition([]string{"a"}, []string{"b", "c"})
	if err := linkWorks("a", addr); err == nil {
		t.Fatal("a reached c across the partition")
	}
	if err := linkWorks("b", addr); err != nil {
		t.Fatalf("b could not reach c on its side of the partition: %v", err)
	}
	n.Heal()
	if err := linkWorks("a", addr); err != nil {
		t.Fatalf("after heal: %v", err)
	}
}

func TestNetRefusesUnidentified(t *testing.T) {
	n, addr := newTestNet(t)
	if err := linkWorks("x", addr); err == nil {
		t.Fatal("a connection of unknown source was forwarded")
	}
	if s := n.Stats(); s.Unidentified != 1 {
		t.Fatalf("stats %+v: want 1 unidentified", s)
	}
}

func TestNetDelayStillDelivers(t *testing.T) {
	n, addr := newTestNet(t)
	n.Delay("a", "c", 30*time.Millisecond)
	c, err := dialFrom("a", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := range 3 {
		if err := roundTrip(c, strings.Repeat("x", i*1000)); err != nil {
			t.Fatalf("delayed link, message %d: %v", i, err)
		}
	}
	if s := n.Stats(); s.Severed != 0 {
		t.Fatalf("a delay severed connections: %+v", s)
	}
}

func TestPeerProcessFindsThisProcess(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("PeerProcess reads Linux's /proc")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c
		}
	}()
	out, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	in := <-accepted
	defer in.Close()
	me := os.Getpid()
	pid, err := PeerProcess(in, []int{me + 1000000, me})
	if err != nil {
		t.Fatal(err)
	}
	if pid != me {
		t.Fatalf("PeerProcess = %d, want this process %d", pid, me)
	}
	if _, err := PeerProcess(in, []int{me + 1000000}); err == nil {
		t.Fatal("PeerProcess found the socket in a process that does not exist")
	}
}

func TestParseProcAddr(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string
	}{
		{"0100007F:1F90", "127.0.0.1:8080"},
		{"00000000:0050", "0.0.0.0:80"},
		{"00000000000000000000000001000000:0016", "[::1]:22"},
	} {
		a, err := parseProcAddr(tc.in)
		if err != nil {
			t.Fatalf("%s: %v", tc.in, err)
		}
		if a.String() != tc.want {
			t.Errorf("parseProcAddr(%s) = %s, want %s", tc.in, a, tc.want)
		}
	}
	for _, bad := range []string{"", "0100007F", "01007F:1F90", "ZZ00007F:1F90", "0100007F:XYZW"} {
		if _, err := parseProcAddr(bad); err == nil {
			t.Errorf("parseProcAddr(%q) accepted a bad address", bad)
		}
	}
}
