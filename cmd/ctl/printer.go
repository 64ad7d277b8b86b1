package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// The output formats of --write-out. In json, fields and protobuf ctl
// prints what etcdctl 3.6 prints: etcd's messages for the responses
// (printer_etcd.go).
const (
	formatSimple   = "simple"   // etcdctl's plain lines
	formatJSON     = "json"     // etcd's message for each response as one line of JSON
	formatTable    = "table"    // a bordered table where one makes sense, else simple
	formatFields   = "fields"   // etcd's message for each response as "Name" : value lines
	formatProtobuf = "protobuf" // etcd's message for each response in its protobuf encoding
)

// printer writes responses in the chosen format. It remembers the first
// write error, which run reports after the command.
type printer struct {
	out    io.Writer
	format string
	hex    bool
	// valueOnly and keysOnly are get's --print-value-only and --keys-only.
	valueOnly bool
	keysOnly  bool
	err       error
}

// printf writes formatted text, keeping the first error.
func (p *printer) printf(format string, args ...any) {
	if p.err != nil {
		return
	}
	_, p.err = fmt.Fprintf(p.out, format, args...)
}

// json writes v as one line of JSON.
func (p *printer) json(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		p.err = fmt.Errorf("encoding %T as JSON: %w", v, err)
		return
	}
	p.printf("%s\n", b)
}

// bytes renders a key or value: as is, or with --hex as \xNN escapes.
func (p *printer) bytes(b []byte) string {
	if !p.hex {
		return string(b)
	}
	return hexEscape(b)
}

// hexEscape writes every byte of b as \xNN.
func hexEscape(b []byte) string {
	var sb strings.Builder
	for _, c := range b {
		fmt.Fprintf(&sb, `\x%02x`, c)
	}
	return sb.String()
}

// table writes a bordered table:
//
//	+-----+-------+
//	| KEY | VALUE |
//	+-----+-------+
//	| a   | 1     |
//	+-----+-------+
func (p *printer) table(header []string, rows [][]string) {
	p.printf("%s", renderTable(header, rows))
}

// renderTable lays out a bordered table, columns as wide as their widest
// cell.
func renderTable(header []string, rows [][]string) string {
	width := make([]int, len(header))
	for i, h := range header {
		width[i] = utf8.RuneCountInString(h)
	}
	for _, r := range rows {
		for i, c := range r {
			width[i] = max(width[i], utf8.RuneCountInString(c))
		}
	}
	var b strings.Builder
	rule := func() {
		for _, w := range width {
			b.WriteString("+" + strings.Repeat("-", w+2))
		}
		b.WriteString("+\n")
	}
	line := func(cells []string) {
		for i, c := range cells {
			b.WriteString("| " + c + strings.Repeat(" ", width[i]-utf8.RuneCountInString(c)+1))
		}
		b.WriteString("|\n")
	}
	rule()
	line(header)
	rule()
	for _, r := range rows {
		line(r)
	}
	rule()
	return b.String()
}

// humanBytes writes a size in SI units as etcdctl does: "512 B", "25 kB",
// "2.1 MB".
func humanBytes(n int64) string {
	if n < 1000 {
		return fmt.Sprintf("%d B", n)
	}
	const units = "kMGTPE"
	v, i := float64(n)/1000, 0
	for v >= 999.5 && i < len(units)-1 {
		v /= 1000
		i++
	}
	if v < 10 {
		return fmt.Sprintf("%.1f %cB", v, units[i])
	}
	return fmt.Sprintf("%.0f %cB", v, units[i])
}
