package rpc

import "time"

// keepAliveLoop watches for a silent peer. Any frame from the peer resets
// the clock (see readLoop). When nothing has arrived for
// keepAliveInterval it sends a ping, whose pong counts as a frame; when
// nothing has arrived for keepAliveTimeout the peer is presumed dead and
// the connection is closed, failing everything pending on it. Each tick
// also lets a connection that wrote nothing since the last one drop its
// large write buffers.
func (s *session) keepAliveLoop() {
	defer s.wg.Done()
	interval, timeout := s.opts.keepAliveInterval, s.opts.keepAliveTimeout
	t := time.NewTicker(max(min(interval, timeout)/2, time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
		}
		s.out.trimIdle()
		now := time.Since(s.epoch)
		idle := now - time.Duration(s.lastRecv.Load())
		if idle >= timeout {
			s.opts.logger.Info("rpc: keepalive timeout; closing connection", "peer", s.peer, "idle", idle)
			s.close(errorf(CodeUnavailable, "no frame from %s for %v: keepalive timeout", s.peer, idle.Round(time.Millisecond)))
			return
		}
		if idle >= interval {
			_ = s.push(&frame{kind: kindPing, ping: uint64(now)}, false)
		}
	}
}
