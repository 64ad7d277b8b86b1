// Package concurrency builds distributed coordination on the key-value
// store: sessions (a lease kept alive while a process lives), mutual
// exclusion locks and leader elections, in the spirit of etcd's
// clientv3/concurrency.
//
// All three rest on one idea. A participant writes a key under a shared
// prefix, attached to its session's lease. The store gives every key the
// revision of the write that created it (its create revision), so the
// keys under a prefix form a queue ordered by arrival: the key with the
// lowest create revision holds the lock or leads the election, and each
// other participant waits for the key just before its own to be deleted.
// Nobody polls, and a release wakes only the next in line. If a holder
// crashes, its lease expires, its key is deleted, and the queue moves on.
//
//	s, err := concurrency.NewSession(c, concurrency.WithTTL(10))
//	if err != nil { ... }
//	defer s.Close()
//	m := concurrency.NewMutex(s, "/locks/report")
//	if err := m.Lock(ctx); err != nil { ... }
//	// The lock is held. Guard writes with m.IsOwner() so that they
//	// fail if the lock was lost meanwhile (fencing):
//	resp, err := c.Txn(ctx).If(m.IsOwner()).Then(client.OpPut("report", "done")).Commit()
//	...
//	err = m.Unlock(ctx)
//
// A lock held through a lease is only as good as the lease: a process
// paused longer than the TTL loses it without noticing. The create
// revision of the lock key (Mutex.Rev) increases with every acquisition,
// so it serves as a fencing token, and IsOwner turns it into a
// transaction guard the store itself checks.
package concurrency
