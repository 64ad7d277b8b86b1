package procharness

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// PeerProcess returns which of pids holds the other end of conn, a
// loopback TCP connection accepted by this process. It reads Linux's
// /proc: the socket table gives the inode of the dialer's socket, and
// each process's fd directory shows whether it holds that inode.
func PeerProcess(conn net.Conn, pids []int) (int, error) {
	remote, ok1 := conn.RemoteAddr().(*net.TCPAddr)
	local, ok2 := conn.LocalAddr().(*net.TCPAddr)
	if !ok1 || !ok2 {
		return 0, fmt.Errorf("procharness: connection %v -> %v is not TCP", conn.RemoteAddr(), conn.LocalAddr())
	}
	// The dialer's socket is the one whose local end is our remote end.
	var inode string
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		var err error
		inode, err = findSocket(table, remote, local)
		if err != nil {
			return 0, err
		}
		if inode != "" {
			break
		}
	}
	if inode == "" {
		return 0, fmt.Errorf("procharness: no socket %v -> %v in /proc/net/tcp*", remote, local)
	}
	want := "socket:[" + inode + "]"
	for _, pid := range pids {
		fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
		if err != nil {
			continue // exited, or not ours to read
		}
		for _, fd := range fds {
			target, err := os.Readlink(filepath.Join(fmt.Sprintf("/proc/%d/fd", pid), fd.Name()))
			if err == nil && target == want {
				return pid, nil
			}
		}
	}
	return 0, fmt.Errorf("procharness: socket %v -> %v (inode %s) belongs to none of processes %v", remote, local, inode, pids)
}

// findSocket returns the inode of the socket from local to remote in a
// /proc/net/tcp-format table, or "" when there is none.
func findSocket(table string, local, remote *net.TCPAddr) (string, error) {
	f, err := os.Open(table)
	if os.IsNotExist(err) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("procharness: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	for sc.Scan() {
		// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode ...
		fields := strings.Fields(sc.Text())
		if len(fields) < 10 {
			continue
		}
		l, err1 := parseProcAddr(fields[1])
		r, err2 := parseProcAddr(fields[2])
		if err1 != nil || err2 != nil {
			continue
		}
		if sameAddr(l, local) && sameAddr(r, remote) {
			return fields[9], nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", fmt.Errorf("procharness: read %s: %w", table, err)
	}
	return "", nil
}

// parseProcAddr decodes an address of /proc/net/tcp: the IP as 32-bit
// words of hex in the machine's byte order, a colon, the port in hex.
func parseProcAddr(s string) (*net.TCPAddr, error) {
	ipHex, portHex, ok := strings.Cut(s, ":")
	if !ok || len(ipHex)%8 != 0 {
		return nil, fmt.Errorf("procharness: bad /proc address %q", s)
	}
	raw, err := hex.DecodeString(ipHex)
	if err != nil {
		return nil, fmt.Errorf("procharness: bad /proc address %q: %w", s, err)
	}
	ip := make(net.IP, len(raw))
	for i := 0; i < len(raw); i += 4 {
		word := binary.BigEndian.Uint32(raw[i:])
		binary.NativeEndian.PutUint32(ip[i:], word)
	}
	port, err := strconv.ParseUint(portHex, 16, 16)
	if err != nil {
		return nil, fmt.Errorf("procharness: bad /proc address %q: %w", s, err)
	}
	return &net.TCPAddr{IP: ip, Port: int(port)}, nil
}

func sameAddr(a, b *net.TCPAddr) bool {
	return a.Port == b.Port && a.IP.Equal(b.IP)
}
