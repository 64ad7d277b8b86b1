package client

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/rpc"
)

// WatchResponse is one batch of events (or a progress notification, or
// the end of the watch) on a WatchChan.
type WatchResponse struct {
	Header api.ResponseHeader
	Events []api.Event
	// CompactRevision is set when the watch ended because the revisions
	// it asked for were compacted away.
	CompactRevision int64
	// Canceled is set on the last response of a watch that ended; Err
	// says why.
	Canceled bool
	// Created is set on the response confirming the watch started.
	Created bool
	err     error
}

// Err is why the watch ended, if it did.
func (r *WatchResponse) Err() error { return r.err }

// IsProgressNotify reports a progress notification: no events, the
// header's revision says how far the watch has seen.
func (r *WatchResponse) IsProgressNotify() bool {
	return len(r.Events) == 0 && !r.Canceled && !r.Created && r.CompactRevision == 0
}

// WatchChan delivers a watch's responses; it is closed when the watch
// ends (ctx done, or a Canceled response).
type WatchChan <-chan WatchResponse

// Watch watches key (or a range, with WithPrefix/WithRange/WithFromKey)
// from revision WithRev on (default: changes after now). Events arrive
// in revision order, none missing and none twice: when the stream to a
// member breaks, the watch resumes on another member from the revision
// after the last one delivered (with a new token, if the member refused
// the client's as stale). The channel closes when ctx ends or the watch
// is canceled: compaction of revisions it still needs, or the cluster
// refusing the user (permission denied, wrong password), which the last
// response's Err reports.
func (c *Client) Watch(ctx context.Context, key string, opts ...OpOption) WatchChan {
	op := newOp(opGet, key, opts)
	out := make(chan WatchResponse, 16)
	go c.runWatch(ctx, op, out)
	return out
}

func (c *Client) runWatch(ctx context.Context, op Op, out chan<- WatchResponse) {
	defer close(out)
	next := op.rev // the next revision wanted; 0 = from now
	created := false
	var tok string
	renew := false // the cluster refused tok as stale
	for ctx.Err() == nil {
		var err error
		if renew {
			tok, err = c.renewToken(ctx, tok)
		} else {
			tok, err = c.token(ctx)
		}
		if err != nil {
			if isAuthError(err) { // the user can no longer authenticate
				deliver(ctx, out, WatchResponse{Canceled: true, err: err})
				return
			}
			if !sleepCtx(ctx, 100*time.Millisecond) {
				return
			}
			continue
		}
		renew = false
		req := &api.WatchRequest{Create: &api.WatchCreateRequest{Key: op.key, RangeEnd: op.end,
			StartRevision: next, ProgressNotify: op.progress, Filters: op.filters, PrevKv: op.prevKV}}
		st, err := openStream(c.withToken(ctx, tok), c.rpc, api.MethodWatch, req)
		done, pause := false, 100*time.Millisecond
		if err == nil {
			done, next, err = c.pumpWatch(ctx, st, out, &created, next)
			st.Close()
			pause = 50 * time.Millisecond
		}
		switch {
		case done:
			return
		case c.staleToken(err, tok):
			renew = true // resume with a new token
		case isAuthError(err): // refused: permission denied, ...
			deliver(ctx, out, WatchResponse{Canceled: true, err: toError(err)})
			return
		case retryWatch(err):
			// A member without a leader cannot check permissions; one
			// under repair or not yet confirmed serves no reads: try the
			// next member (or this one again, if it is the only one).
			c.rotateMember()
		}
		if !sleepCtx(ctx, pause) {
			return
		}
	}
}

// pumpWatch forwards one stream's responses; it returns done when the
// watch is over, else the revision to resume from and the error that
// ended the stream.
func (c *Client) pumpWatch(ctx context.Context, st *rpc.Stream, out chan<- WatchResponse, created *bool, next int64) (bool, int64, error) {
	for {
		b, err := st.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) || ctx.Err() != nil {
				return ctx.Err() != nil, next, nil
			}
			return false, next, err // the member failed or refused: resume elsewhere, or end
		}
		var r api.WatchResponse
		if err := api.Unmarshal(b, &r); err != nil {
			return false, next, err
		}
		resp := WatchResponse{Header: r.Header, Events: r.Events, CompactRevision: r.CompactRevision, Canceled: r.Canceled}
		if r.Canceled && r.CompactRevision == 0 {
			// A refusal the caller's client may cure (a stale token, a
			// member without a leader, a member that serves no reads for
			// now: repairing, or restarted and not yet confirmed by a
			// peer) or must hear of as what it is (permission denied):
			// runWatch decides.
			if err := reasonError(&r); c.staleToken(err, "") || isAuthError(err) || retryWatch(err) {
				return false, next, err
			}
		}
		if r.Created {
			if r.Canceled {
				resp.err = watchError(&r)
				deliver(ctx, out, resp)
				return true, next, nil
			}
			if *created {
				continue // a resumed watch: the caller saw the first creation
			}
			*created = true
			resp.Created = true
			if next == 0 {
				next = r.Header.Revision + 1
			}
		}
		if n := len(r.Events); n > 0 {
			next = r.Events[n-1].Kv.ModRevision + 1
		} else if !r.Created && !r.Canceled && r.Header.Revision >= next {
			next = r.Header.Revision + 1 // progress: everything up to it was seen
		}
		if r.Canceled {
			resp.err = watchError(&r)
			deliver(ctx, out, resp)
			return true, next, nil
		}
		if !deliver(ctx, out, resp) {
			return true, next, nil
		}
	}
}

// reasonError rebuilds the typed error a member gave for canceling a
// watch, or nil when it gave none.
func reasonError(r *api.WatchResponse) error {
	if r.CancelCode == 0 {
		return nil
	}
	return api.ErrorFromCode(uint16(r.CancelCode), r.CancelReason)
}

// retryWatch reports whether a watch refused or ended with err resumes
// (on another member when there is one) rather than ends: the refusals a
// read moves on from.
func retryWatch(err error) bool {
	return err != nil && (retryElsewhere(err) || errors.Is(toError(err), api.ErrUnhealthy))
}

func watchError(r *api.WatchResponse) error {
	if r.CompactRevision != 0 {
		return api.Errorf(api.CodeCompacted, "watch canceled: revisions before %d are compacted", r.CompactRevision)
	}
	if err := reasonError(r); err != nil {
		return err
	}
	if r.CancelReason != "" {
		return api.Errorf(api.CodeWatchCanceled, "watch canceled: %s", r.CancelReason)
	}
	return api.ErrWatchCanceled
}

func deliver(ctx context.Context, out chan<- WatchResponse, r WatchResponse) bool {
	select {
	case out <- r:
		return true
	case <-ctx.Done():
		return false
	}
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
