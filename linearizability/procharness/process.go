package procharness

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// servingLine is what cmd/node logs once it serves.
const servingLine = "cairn member serving"

// BuildNode builds cmd/node into dir, with the build tags given, and
// returns the binary's path. It runs the go tool from the current
// directory, which must be inside the cairn module.
func BuildNode(dir string, tags ...string) (string, error) {
	bin := filepath.Join(dir, "node")
	out, err := exec.Command("go", "build", "-tags", strings.Join(tags, ","), "-o", bin, "github.com/cairndb/cairn/cmd/node").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("procharness: go build cmd/node (run from inside the cairn module, or give a built binary): %v\n%s", err, out)
	}
	return bin, nil
}

// process is one member: its command line, and the running process if
// any. Its log (the node's stderr, across restarts) goes to a file.
type process struct {
	name    string
	bin     string
	args    []string
	dir     string
	dataDir string // the member's --data-dir, as a path from here
	logPath string
	client  string // client address, host:port

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd exits
	paused bool
}

// start starts the member and waits until it logs that it serves.
func (p *process) start(timeout time.Duration) error {
	p.mu.Lock()
	if p.cmd != nil {
		p.mu.Unlock()
		return fmt.Errorf("procharness: member %s is already running", p.name)
	}
	logFile, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		p.mu.Unlock()
		return fmt.Errorf("procharness: member %s log: %w", p.name, err)
	}
	fmt.Fprintf(logFile, "=== procharness: starting %s at %s\n", p.name, time.Now().Format(time.RFC3339Nano))
	watch := &lineWatch{w: logFile, want: []byte(servingLine), seen: make(chan struct{})}
	cmd := exec.Command(p.bin, p.args...)
	cmd.Dir = p.dir
	cmd.Stdout = watch
	cmd.Stderr = watch
	if err := cmd.Start(); err != nil {
		p.mu.Unlock()
		logFile.Close()
		return fmt.Errorf("procharness: start member %s: %w", p.name, err)
	}
	exited := make(chan struct{})
	p.cmd, p.exited, p.paused = cmd, exited, false
	p.mu.Unlock()
	go func() {
		_ = cmd.Wait()
		logFile.Close()
		close(exited)
		p.mu.Lock()
		if p.cmd == cmd {
			p.cmd = nil
		}
		p.mu.Unlock()
	}()
	select {
	case <-watch.seen:
		return nil
	case <-exited:
		return fmt.Errorf("procharness: member %s exited while starting (%v); its log is %s", p.name, cmd.ProcessState, p.logPath)
	case <-time.After(timeout):
		return fmt.Errorf("procharness: member %s did not serve within %v; its log is %s", p.name, timeout, p.logPath)
	}
}

// pid returns the running process's id, 0 when it is down.
func (p *process) pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// running reports whether the process is up (paused or not).
func (p *process) running() bool { return p.pid() != 0 }

// kill sends SIGKILL and waits for the process to be gone.
func (p *process) kill() error {
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.mu.Unlock()
	if cmd == nil {
		return nil
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("procharness: kill -9 member %s: %w", p.name, err)
	}
	select {
	case <-exited:
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("procharness: member %s still running 10s after SIGKILL", p.name)
	}
}

// pause sends SIGSTOP (resume sends SIGCONT).
func (p *process) pause() error { return p.signal(syscall.SIGSTOP, true) }

func (p *process) resume() error { return p.signal(syscall.SIGCONT, false) }

func (p *process) signal(sig syscall.Signal, paused bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return fmt.Errorf("procharness: member %s is not running", p.name)
	}
	if err := p.cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("procharness: %v to member %s: %w", sig, p.name, err)
	}
	p.paused = paused
	return nil
}

func (p *process) isPaused() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.paused && p.cmd != nil
}

// lineWatch passes output on to w, and closes seen the first time want
// appears in it.
type lineWatch struct {
	w    *os.File
	want []byte

	mu   sync.Mutex
	tail []byte
	seen chan struct{}
	done bool
}

func (l *lineWatch) Write(b []byte) (int, error) {
	l.mu.Lock()
	if !l.done {
		l.tail = append(l.tail, b...)
		if bytes.Contains(l.tail, l.want) {
			l.done = true
			l.tail = nil
			close(l.seen)
		} else if keep := len(l.want); len(l.tail) > keep {
			l.tail = l.tail[len(l.tail)-keep:]
		}
	}
	l.mu.Unlock()
	return l.w.Write(b)
}

// freeAddr returns a loopback address with a port no one listened on a
// moment ago.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("procharness: find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// cluster is three members whose peer traffic goes through a Net.
type cluster struct {
	// members is set once, by newCluster after the proxy's listeners
	// run; the proxy reads it through byPid, under mu.
	mu      sync.Mutex
	members []*process
	net     *Net
}

// identify names the member that opened conn, a peer connection accepted
// by the proxy.
func (c *cluster) identify(conn net.Conn) (string, error) {
	c.mu.Lock()
	members := c.members
	c.mu.Unlock()
	var pids []int
	byPid := map[int]string{}
	for _, m := range members {
		if pid := m.pid(); pid != 0 {
			pids = append(pids, pid)
			byPid[pid] = m.name
		}
	}
	pid, err := PeerProcess(conn, pids)
	if err != nil {
		return "", err
	}
	return byPid[pid], nil
}

// clusterOptions shape the members' command lines.
type clusterOptions struct {
	bin         string
	dir         string
	size        int
	heartbeatMS int
	electionMS  int
	extraArgs   []string // given to every member after the others
}

// newCluster lays out size members in dir and starts the proxy in front
// of them; start starts the members.
func newCluster(o clusterOptions) (*cluster, error) {
	c := &cluster{}
	c.net = NewNet(c.identify)
	var initial []string
	var peers, proxies []string
	for i := range o.size {
		name := fmt.Sprintf("m%d", i+1)
		peer, err := freeAddr()
		if err != nil {
			c.net.Close()
			return nil, err
		}
		proxy, err := c.net.Listen(name, peer)
		if err != nil {
			c.net.Close()
			return nil, err
		}
		peers = append(peers, peer)
		proxies = append(proxies, proxy)
		initial = append(initial, name+"=http://"+proxy)
	}
	var members []*process
	for i := range o.size {
		name := fmt.Sprintf("m%d", i+1)
		client, err := freeAddr()
		if err != nil {
			c.net.Close()
			return nil, err
		}
		members = append(members, &process{
			name:    name,
			bin:     o.bin,
			dir:     o.dir,
			dataDir: filepath.Join(o.dir, name+".node"),
			logPath: filepath.Join(o.dir, name+".log"),
			client:  client,
			args: []string{
				"--name", name,
				"--data-dir", name + ".node",
				"--listen-client-urls", "http://" + client,
				"--listen-peer-urls", "http://" + peers[i],
				// Peers reach this member through its proxy port, and
				// its id is derived from that URL.
				"--initial-advertise-peer-urls", "http://" + proxies[i],
				"--initial-cluster", strings.Join(initial, ","),
				"--initial-cluster-token", "procharness",
				"--heartbeat-interval", fmt.Sprint(o.heartbeatMS),
				"--election-timeout", fmt.Sprint(o.electionMS),
			},
		})
		members[i].args = append(members[i].args, o.extraArgs...)
	}
	c.mu.Lock()
	c.members = members
	c.mu.Unlock()
	return c, nil
}

// start starts every member at once (a new member waits for the others
// to elect a leader).
func (c *cluster) start(timeout time.Duration) error {
	errs := make([]error, len(c.members))
	var wg sync.WaitGroup
	for i, m := range c.members {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = m.start(timeout)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// endpoints returns the members' client addresses.
func (c *cluster) endpoints() []string {
	eps := make([]string, len(c.members))
	for i, m := range c.members {
		eps[i] = m.client
	}
	return eps
}

// names returns the members' names.
func (c *cluster) names() []string {
	names := make([]string, len(c.members))
	for i, m := range c.members {
		names[i] = m.name
	}
	return names
}

// stop resumes paused members, kills every member and closes the proxy.
func (c *cluster) stop() error {
	var errs []error
	for _, m := range c.members {
		if m.isPaused() {
			errs = append(errs, m.resume())
		}
		errs = append(errs, m.kill())
	}
	errs = append(errs, c.net.Close())
	return errors.Join(errs...)
}
