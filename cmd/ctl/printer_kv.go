package main

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

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
	switch {
	case p.format == formatTable && countOnly:
		p.table([]string{"COUNT"}, [][]string{{fmt.Sprint(resp.Count)}})
	case p.format == formatTable:
		p.kvTable(resp.Kvs)
	case countOnly:
		p.printf("%d\n", resp.Count)
	default:
		for i := range resp.Kvs {
			p.kv(&resp.Kvs[i])
		}
	}
}

// kvTable prints keys a row each: with --keys-only the key alone, with
// --print-value-only the value alone, else the key, the value, and the
// revisions, version and lease of its last write. A key or value that
// would break the table's lines (a newline, a control character, bytes
// that are not UTF-8) is printed as a quoted Go string.
func (p *printer) kvTable(kvs []api.KeyValue) {
	var header []string
	switch {
	case p.keysOnly:
		header = []string{"KEY"}
	case p.valueOnly:
		header = []string{"VALUE"}
	default:
		header = []string{"KEY", "VALUE", "CREATE REVISION", "MOD REVISION", "VERSION", "LEASE"}
	}
	rows := make([][]string, len(kvs))
	for i, kv := range kvs {
		switch {
		case p.keysOnly:
			rows[i] = []string{p.cell(kv.Key)}
		case p.valueOnly:
			rows[i] = []string{p.cell(kv.Value)}
		default:
			lease := ""
			if kv.Lease != 0 {
				lease = fmt.Sprintf("%016x", kv.Lease)
			}
			rows[i] = []string{p.cell(kv.Key), p.cell(kv.Value), fmt.Sprint(kv.CreateRevision),
				fmt.Sprint(kv.ModRevision), fmt.Sprint(kv.Version), lease}
		}
	}
	p.table(header, rows)
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

// cell is b as a table cell: as bytes prints it, quoted if it holds
// anything but printable UTF-8.
func (p *printer) cell(b []byte) string {
	s := p.bytes(b)
	if !utf8.ValidString(s) || strings.IndexFunc(s, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
		return strconv.Quote(s)
	}
	return s
}
