package bench

import (
	"context"
	"fmt"
)

// leaseWorkload renews leases: each client grants one lease before the
// clock starts, then renews it once per operation.
type leaseWorkload struct{}

func (leaseWorkload) name() string { return "lease-keepalive" }

func (leaseWorkload) detail(cfg Config) string {
	return fmt.Sprintf("one lease of TTL %ds per client, renewed once per operation", cfg.LeaseTTL)
}

func (leaseWorkload) prepare(ctx context.Context, r *run) error {
	return forEach(ctx, len(r.workers), 64, func(ctx context.Context, i int) error {
		w := r.workers[i]
		id, err := w.conn.Grant(ctx, r.cfg.LeaseTTL)
		if err != nil {
			return fmt.Errorf("granting a lease for client %d: %w", i, err)
		}
		w.lease = id
		return nil
	})
}

func (leaseWorkload) op(ctx context.Context, r *run, w *worker) error {
	return w.conn.KeepAliveOnce(ctx, w.lease)
}

func (leaseWorkload) finish(context.Context, *run, *Result) error { return nil }
