package etcd

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"
)

// gRPC over HTTP/2, the little of it the benchmark needs. A gRPC call is
// an HTTP/2 POST to /package.Service/Method with content type
// application/grpc; request and response bodies are sequences of
// messages, each preceded by a 1-byte compression flag (0 here) and a
// 4-byte big-endian length; the outcome is the grpc-status trailer (or
// header, for a response without body), 0 meaning OK. Net/http speaks
// HTTP/2 without TLS ("h2c", prior knowledge) when asked to.

// maxMessage bounds a response message.
const maxMessage = 64 << 20

// channel is one HTTP/2 connection to one member, shared by concurrent
// calls (each call is a stream on it).
type channel struct {
	base string // http://host:port
	hc   *http.Client
}

// newChannel returns a channel to addr (host:port) that connects within
// dialTimeout.
func newChannel(addr string, dialTimeout time.Duration) *channel {
	var protos http.Protocols
	protos.SetUnencryptedHTTP2(true)
	d := &net.Dialer{Timeout: dialTimeout}
	tr := &http.Transport{
		Protocols:          &protos,
		DialContext:        d.DialContext,
		DisableCompression: true,
		HTTP2:              &http.HTTP2Config{PingTimeout: 10 * time.Second},
	}
	return &channel{base: "http://" + addr, hc: &http.Client{Transport: tr}}
}

func (c *channel) close() { c.hc.CloseIdleConnections() }

// frame wraps msg in gRPC's length prefix.
func frame(msg []byte) []byte {
	b := make([]byte, 5, 5+len(msg))
	binary.BigEndian.PutUint32(b[1:], uint32(len(msg)))
	return append(b, msg...)
}

// readFrame reads one length-prefixed message.
func readFrame(r io.Reader) ([]byte, error) {
	var hdr [5]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	if hdr[0] != 0 {
		return nil, fmt.Errorf("etcd: compressed gRPC message (flag %d) not supported", hdr[0])
	}
	n := binary.BigEndian.Uint32(hdr[1:])
	if n > maxMessage {
		return nil, fmt.Errorf("etcd: gRPC message of %d bytes exceeds limit %d", n, maxMessage)
	}
	msg := make([]byte, n)
	if _, err := io.ReadFull(r, msg); err != nil {
		return nil, fmt.Errorf("etcd: gRPC message cut short: %w", err)
	}
	return msg, nil
}

// post starts a call of method with body as the request stream.
func (c *channel) post(ctx context.Context, method string, body io.Reader) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+method, body)
	if err != nil {
		return nil, fmt.Errorf("etcd: %s: %w", method, err)
	}
	req.Header.Set("Content-Type", "application/grpc")
	req.Header.Set("TE", "trailers")
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("etcd: %s: %w", method, err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("etcd: %s: HTTP status %s", method, resp.Status)
	}
	if err := grpcStatus(method, resp.Header); err != nil { // a trailers-only answer
		resp.Body.Close()
		return nil, err
	}
	return resp, nil
}

// grpcStatus turns a grpc-status other than 0 into an error.
func grpcStatus(method string, h http.Header) error {
	st := h.Get("Grpc-Status")
	if st == "" || st == "0" {
		return nil
	}
	msg, err := url.PathUnescape(h.Get("Grpc-Message"))
	if err != nil {
		msg = h.Get("Grpc-Message")
	}
	return fmt.Errorf("etcd: %s: gRPC status %s: %s", method, st, msg)
}

// unary makes a call with one request message and one response message.
// It also serves a streaming method used for one exchange: the request
// stream ends after req, and the server answers it before it sees the
// end.
func (c *channel) unary(ctx context.Context, method string, req []byte) ([]byte, error) {
	resp, err := c.post(ctx, method, bytes.NewReader(frame(req)))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	msg, err := readFrame(resp.Body)
	if err == io.EOF {
		// No message: the status trailer says why.
		_, _ = io.Copy(io.Discard, resp.Body)
		if err := grpcStatus(method, resp.Trailer); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("etcd: %s: no response message", method)
	}
	if err != nil {
		return nil, fmt.Errorf("etcd: %s: %w", method, err)
	}
	return msg, nil
}

// stream is an open bidirectional call.
type stream struct {
	method string
	send   *io.PipeWriter
	resp   *http.Response
	recv   *bufio.Reader
}

// openStream starts a streaming call whose first request message is
// first; more can follow with the pipe until close.
func (c *channel) openStream(ctx context.Context, method string, first []byte) (*stream, error) {
	pr, pw := io.Pipe()
	body := io.MultiReader(bytes.NewReader(frame(first)), pr)
	resp, err := c.post(ctx, method, body)
	if err != nil {
		pw.Close()
		return nil, err
	}
	return &stream{method: method, send: pw, resp: resp, recv: bufio.NewReaderSize(resp.Body, 64<<10)}, nil
}

// next reads the next response message; at the end of the stream it
// returns the status as an error (io.EOF if OK).
func (s *stream) next() ([]byte, error) {
	msg, err := readFrame(s.recv)
	if err == io.EOF {
		if err := grpcStatus(s.method, s.resp.Trailer); err != nil {
			return nil, err
		}
		return nil, io.EOF
	}
	return msg, err
}

func (s *stream) close() {
	s.send.Close()
	s.resp.Body.Close()
}
