package main

import (
	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/client"
	"github.com/cairndb/cairn/internal/etcdconv"
)

// kv writes a key line and a value line (only the value with
// --print-value-only, only the key with --keys-only).
func (p *printer) kv(kv *api.KeyValue) {
	if !p.valueOnly {
		p.printf("%s\n", p.bytes(kv.Key))
	}
	if !p.keysOnly {
		p.printf("%s\n", p.bytes(kv.Value))
	}
}

// put prints OK, and the previous version of the key with --prev-kv.
func (p *printer) put(resp *api.PutResponse) {
	if p.etcd() {
		p.message(etcdconv.ToPut(resp))
		return
	}
	p.printf("OK\n")
	if resp.PrevKv != nil {
		p.kv(resp.PrevKv)
	}
}

// get prints every key and value read, or with countOnly the count.
// (etcdctl refuses --count-only but in the fields format; ctl prints the
// response, which has the count and no keys, in every etcd format.)
func (p *printer) get(resp *api.RangeResponse, countOnly bool) {
	if p.etcd() {
		p.message(etcdconv.ToRange(resp))
		return
	}
	if countOnly {
		p.printf("%d\n", resp.Count)
		return
	}
	for i := range resp.Kvs {
		p.kv(&resp.Kvs[i])
	}
}

// del prints the number of keys deleted, then with --prev-kv each of them.
func (p *printer) del(resp *api.DeleteRangeResponse) {
	if p.etcd() {
		p.message(etcdconv.ToDeleteRange(resp))
		return
	}
	p.printf("%d\n", resp.Deleted)
	for i := range resp.PrevKvs {
		p.kv(&resp.PrevKvs[i])
	}
}

// txn prints SUCCESS or FAILURE, then each operation's response after a
// blank line.
func (p *printer) txn(resp *api.TxnResponse) {
	if p.etcd() {
		p.message(etcdconv.ToTxn(resp))
		return
	}
	p.txnSimple(resp)
}

func (p *printer) txnSimple(resp *api.TxnResponse) {
	if resp.Succeeded {
		p.printf("SUCCESS\n")
	} else {
		p.printf("FAILURE\n")
	}
	for _, r := range resp.Responses {
		p.printf("\n")
		switch {
		case r.Put != nil:
			p.put(r.Put)
		case r.Range != nil:
			p.get(r.Range, false)
		case r.DeleteRange != nil:
			p.del(r.DeleteRange)
		case r.Txn != nil:
			p.txnSimple(r.Txn)
		}
	}
}

// watch prints a watch response's events: the type (PUT or DELETE), the
// previous version with --prev-kv, then the key and value.
func (p *printer) watch(resp *client.WatchResponse) {
	if p.etcd() {
		p.message(&watchMessage{Header: *etcdconv.ToHeader(resp.Header), Events: etcdconv.ToEvents(resp.Events),
			CompactRevision: resp.CompactRevision, Canceled: resp.Canceled, Created: resp.Created})
		return
	}
	for i := range resp.Events {
		ev := &resp.Events[i]
		switch ev.Type {
		case api.EventPut:
			p.printf("PUT\n")
		case api.EventDelete:
			p.printf("DELETE\n")
		}
		if ev.PrevKv != nil {
			p.kv(ev.PrevKv)
		}
		p.kv(&ev.Kv)
	}
}

// compaction prints the revision compacted, in every format (as
// etcdctl).
func (p *printer) compaction(rev int64) {
	p.printf("compacted revision %d\n", rev)
}
