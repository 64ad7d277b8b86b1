package procharness

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sort"
	"sync"
	"time"
)

// Link is a directed link between two members, named by the member that
// dials (From) and the member dialed (To). The connections From opens to
// To carry From's messages to To, and To's replies to them.
type Link struct {
	From, To string
}

func (l Link) String() string { return l.From + "->" + l.To }

// Fault is what the proxy does to the connections of one link.
type Fault struct {
	// Cut closes the link's open connections and refuses new ones.
	Cut bool
	// Delay holds every chunk of bytes, both ways, this long before
	// passing it on.
	Delay time.Duration
}

// IdentifyFunc names the member that opened conn (an accepted
// connection), or returns an error when it cannot tell.
type IdentifyFunc func(conn net.Conn) (string, error)

// NetStats counts what the proxy did with connections.
type NetStats struct {
	// Accepted connections were forwarded to their member.
	Accepted int
	// Refused connections were closed at once: their link was cut.
	Refused int
	// Unidentified connections were closed because their source could
	// not be named.
	Unidentified int
	// Severed connections were open when their link was cut.
	Severed int
}

// Net is a fault-injecting TCP proxy between members. Each member gets a
// listener (Listen) that forwards to its real peer address; faults are set
// per directed link. It is safe for concurrent use.
type Net struct {
	identify IdentifyFunc

	mu        sync.Mutex
	faults    map[Link]Fault
	listeners []net.Listener
	pipes     map[*pipe]struct{}
	stats     NetStats
	closed    bool
	wg        sync.WaitGroup
}

// NewNet returns a proxy that names the source of each connection with
// identify.
func NewNet(identify IdentifyFunc) *Net {
	return &Net{identify: identify, faults: map[Link]Fault{}, pipes: map[*pipe]struct{}{}}
}

// Listen starts forwarding connections made to a new loopback port to
// target (host:port), as connections to member to, and returns the
// port's address. The target need not be listening yet.
func (n *Net) Listen(to, target string) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("procharness: proxy for %s: %w", to, err)
	}
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		ln.Close()
		return "", errors.New("procharness: proxy is closed")
	}
	n.listeners = append(n.listeners, ln)
	n.wg.Add(1)
	n.mu.Unlock()
	go func() {
		defer n.wg.Done()
		n.acceptLoop(ln, to, target)
	}()
	return ln.Addr().String(), nil
}

func (n *Net) acceptLoop(ln net.Listener, to, target string) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return // closed
		}
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			n.forward(c, to, target)
		}()
	}
}

// forward names c's source, and connects it to target unless its link
// is cut.
func (n *Net) forward(c net.Conn, to, target string) {
	from, err := n.identify(c)
	if err != nil {
		n.count(func(s *NetStats) { s.Unidentified++ })
		c.Close()
		return
	}
	link := Link{From: from, To: to}
	if n.fault(link).Cut {
		n.count(func(s *NetStats) { s.Refused++ })
		c.Close()
		return
	}
	up, err := net.DialTimeout("tcp", target, time.Second)
	if err != nil {
		c.Close() // the member is down: as if it refused
		return
	}
	p := &pipe{link: link, down: c, up: up}
	n.mu.Lock()
	if n.closed || n.faults[link].Cut {
		n.mu.Unlock()
		p.close()
		return
	}
	n.pipes[p] = struct{}{}
	n.stats.Accepted++
	n.mu.Unlock()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); n.copy(p, up, c) }()
	go func() { defer wg.Done(); n.copy(p, c, up) }()
	wg.Wait()
	n.mu.Lock()
	delete(n.pipes, p)
	n.mu.Unlock()
}

// chunk is bytes read from one side, waiting to be written to the other.
type chunk struct {
	b      []byte
	readAt time.Time
}

// copy moves bytes from src to dst, holding each chunk back by the
// link's delay at the time it was read. A reader and a writer goroutine
// share a queue, so a delay adds latency without cutting throughput.
func (n *Net) copy(p *pipe, dst, src net.Conn) {
	defer p.close()
	queue := make(chan chunk, 256)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ch := range queue {
			if d := n.fault(p.link).Delay; d > 0 {
				time.Sleep(time.Until(ch.readAt.Add(d)))
			}
			if _, err := dst.Write(ch.b); err != nil {
				p.close()
				for range queue { // drain until the reader stops
				}
				return
			}
		}
	}()
	for {
		buf := make([]byte, 32<<10)
		k, err := src.Read(buf)
		if k > 0 {
			queue <- chunk{b: buf[:k], readAt: time.Now()}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				close(queue)
				<-done
				return
			}
			break
		}
	}
	close(queue)
	<-done
}

// pipe is one proxied connection: down is the dialer's side, up the
// member's.
type pipe struct {
	link     Link
	down, up net.Conn
	once     sync.Once
}

func (p *pipe) close() {
	p.once.Do(func() {
		p.down.Close()
		p.up.Close()
	})
}

func (n *Net) fault(l Link) Fault {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.faults[l]
}

func (n *Net) count(f func(*NetStats)) {
	n.mu.Lock()
	f(&n.stats)
	n.mu.Unlock()
}

// Set replaces the fault on link l; a zero Fault heals it. Cutting a
// link closes its open connections.
func (n *Net) Set(l Link, f Fault) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if f == (Fault{}) {
		delete(n.faults, l)
		return
	}
	n.faults[l] = f
	if f.Cut {
		for p := range n.pipes {
			if p.link == l {
				n.stats.Severed++
				p.close()
			}
		}
	}
}

// Cut cuts the link from -> to.
func (n *Net) Cut(from, to string) { n.Set(Link{from, to}, Fault{Cut: true}) }

// Delay delays the link from -> to by d.
func (n *Net) Delay(from, to string, d time.Duration) { n.Set(Link{from, to}, Fault{Delay: d}) }

// Partition cuts every link, both ways, between members of different
// groups. Links within a group are left as they are.
func (n *Net) Partition(groups ...[]string) {
	for i, g := range groups {
		for j, h := range groups {
			if i == j {
				continue
			}
			for _, a := range g {
				for _, b := range h {
					n.Cut(a, b)
				}
			}
		}
	}
}

// Heal removes every fault.
func (n *Net) Heal() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.faults = map[Link]Fault{}
}

// Faults returns the links that have a fault, in order.
func (n *Net) Faults() []Link {
	n.mu.Lock()
	defer n.mu.Unlock()
	links := make([]Link, 0, len(n.faults))
	for l := range n.faults {
		links = append(links, l)
	}
	sort.Slice(links, func(i, j int) bool { return links[i].String() < links[j].String() })
	return links
}

// Stats returns the connection counts so far.
func (n *Net) Stats() NetStats {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.stats
}

// Close stops every listener and closes every connection.
func (n *Net) Close() error {
	n.mu.Lock()
	n.closed = true
	for _, ln := range n.listeners {
		ln.Close()
	}
	for p := range n.pipes {
		p.close()
	}
	n.mu.Unlock()
	n.wg.Wait()
	return nil
}
