package etcdapi_test

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

// TestMutexUnderContention: clientv3's Mutex, held by clients on different
// members, admits one holder at a time.
func TestMutexUnderContention(t *testing.T) {
	c := startCluster(t, 3)
	ctx := ctxT(t)
	var mu sync.Mutex
	holders, maxHolders, acquired := 0, 0, 0
	var wg sync.WaitGroup
	for i := range 6 {
		cli := etcdClient(t, c.Endpoint(i%3))
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := concurrency.NewSession(cli, concurrency.WithTTL(5))
			if err != nil {
				t.Error(err)
				return
			}
			defer s.Close()
			m := concurrency.NewMutex(s, "/lock/")
			for range 3 {
				if err := m.Lock(ctx); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				holders++
				maxHolders = max(maxHolders, holders)
				acquired++
				mu.Unlock()
				time.Sleep(2 * time.Millisecond)
				mu.Lock()
				holders--
				mu.Unlock()
				if err := m.Unlock(ctx); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if maxHolders != 1 || acquired != 18 {
		t.Fatalf("at most %d holders at once (want 1), %d acquisitions (want 18)", maxHolders, acquired)
	}
}

// TestElection: a leader is elected, observed, and replaced when it
// resigns.
func TestElection(t *testing.T) {
	c := startCluster(t, 3)
	ctx := ctxT(t)
	sessions := make([]*concurrency.Session, 2)
	for i := range sessions {
		s, err := concurrency.NewSession(etcdClient(t, c.Endpoint(i)), concurrency.WithTTL(5))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		sessions[i] = s
	}
	first := concurrency.NewElection(sessions[0], "/election/")
	if err := first.Campaign(ctx, "one"); err != nil {
		t.Fatal(err)
	}
	second := concurrency.NewElection(sessions[1], "/election/")
	won := make(chan error, 1)
	go func() { won <- second.Campaign(ctx, "two") }()
	observer := concurrency.NewElection(sessions[1], "/election/")
	obs := observer.Observe(ctx)
	if r := <-obs; string(r.Kvs[0].Value) != "one" {
		t.Fatalf("observed leader %q, want one", r.Kvs[0].Value)
	}
	select {
	case err := <-won:
		t.Fatalf("a second candidate won while the first leads: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	if err := first.Resign(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-won; err != nil {
		t.Fatal(err)
	}
	if r := <-obs; string(r.Kvs[0].Value) != "two" {
		t.Fatalf("observed leader %q after the resignation, want two", r.Kvs[0].Value)
	}
}

// TestSTMUnderContention: concurrent serializable transfers between
// accounts keep the total, as NewSTM promises with etcd.
func TestSTMUnderContention(t *testing.T) {
	c := startCluster(t, 3)
	ctx := ctxT(t)
	const accounts, total = 5, 500
	setup := etcdClient(t, c.Endpoints()...)
	for i := range accounts {
		must[*clientv3.PutResponse](t, "put")(setup.Put(ctx, fmt.Sprintf("acct/%d", i), strconv.Itoa(total/accounts)))
	}
	var wg sync.WaitGroup
	for w := range 6 {
		cli := etcdClient(t, c.Endpoint(w%3))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 10 {
				from, to := fmt.Sprintf("acct/%d", (w+i)%accounts), fmt.Sprintf("acct/%d", (w+2*i+1)%accounts)
				_, err := concurrency.NewSTM(cli, func(s concurrency.STM) error {
					a, _ := strconv.Atoi(s.Get(from))
					b, _ := strconv.Atoi(s.Get(to))
					if from == to || a == 0 {
						return nil
					}
					s.Put(from, strconv.Itoa(a-1))
					s.Put(to, strconv.Itoa(b+1))
					return nil
				}, concurrency.WithAbortContext(ctx))
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	r := must[*clientv3.GetResponse](t, "get")(setup.Get(context.Background(), "acct/", clientv3.WithPrefix()))
	sum := 0
	for _, kv := range r.Kvs {
		n, _ := strconv.Atoi(string(kv.Value))
		sum += n
	}
	if sum != total {
		t.Fatalf("the accounts hold %d after the transfers, want %d", sum, total)
	}
}
