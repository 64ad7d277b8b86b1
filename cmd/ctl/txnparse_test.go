package main

import (
	"bytes"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/client"
	"pgregory.net/rapid"
)

func TestParseCompare(t *testing.T) {
	tests := []struct {
		line string
		want api.Compare
	}{
		{`value("k") = "v"`, api.Compare{Target: api.CompareValue, Result: api.CompareEqual, Key: []byte("k"), Value: []byte("v")}},
		{`val("k")=="v w"`, api.Compare{Target: api.CompareValue, Result: api.CompareEqual, Key: []byte("k"), Value: []byte("v w")}},
		{`value("a\tb") != "\x00"`, api.Compare{Target: api.CompareValue, Result: api.CompareNotEqual, Key: []byte("a\tb"), Value: []byte{0}}},
		{`value("k") = ""`, api.Compare{Target: api.CompareValue, Result: api.CompareEqual, Key: []byte("k"), Value: []byte{}}},
		{`mod("k") > "5"`, api.Compare{Target: api.CompareMod, Result: api.CompareGreater, Key: []byte("k"), ModRevision: 5}},
		{`m("k") < 7`, api.Compare{Target: api.CompareMod, Result: api.CompareLess, Key: []byte("k"), ModRevision: 7}},
		{`create("k") = "0"`, api.Compare{Target: api.CompareCreate, Result: api.CompareEqual, Key: []byte("k")}},
		{`c("k") > "-1"`, api.Compare{Target: api.CompareCreate, Result: api.CompareGreater, Key: []byte("k"), CreateRevision: -1}},
		{`version("k") != "1"`, api.Compare{Target: api.CompareVersion, Result: api.CompareNotEqual, Key: []byte("k"), Version: 1}},
		{` VER ( "k" ) <  "3" `, api.Compare{Target: api.CompareVersion, Result: api.CompareLess, Key: []byte("k"), Version: 3}},
		{`lease("k") = "694d5765fc71500b"`, api.Compare{Target: api.CompareLease, Result: api.CompareEqual, Key: []byte("k"), Lease: 0x694d5765fc71500b}},
		{`lease("k") = "0"`, api.Compare{Target: api.CompareLease, Result: api.CompareEqual, Key: []byte("k")}},
	}
	for _, tt := range tests {
		got, err := parseCompare(tt.line)
		if err != nil {
			t.Errorf("parseCompare(%s): %v", tt.line, err)
			continue
		}
		if g := api.Compare(got); !reflect.DeepEqual(normalize(g), normalize(tt.want)) {
			t.Errorf("parseCompare(%s) = %+v; want %+v", tt.line, g, tt.want)
		}
	}
}

// normalize makes empty and nil byte slices compare equal.
func normalize(c api.Compare) api.Compare {
	if len(c.Value) == 0 {
		c.Value = nil
	}
	if len(c.RangeEnd) == 0 {
		c.RangeEnd = nil
	}
	return c
}

func TestParseCompareMalformed(t *testing.T) {
	tests := []struct{ line, err string }{
		{`value "k" = "v"`, `want TARGET("key") OP "operand"`},
		{`size("k") = "1"`, `unknown target "size"`},
		{`value(k) = "v"`, `key: want a double-quoted string`},
		{`value("k = "v"`, `want ')' after the key`},
		{`value("k) = "v"`, `want ')' after the key`},
		{`value("k"`, `want ')' after the key`},
		{`value("k") ~ "v"`, `want an operator (=, !=, < or >)`},
		{`mod("k") >= "1"`, `operator >= is not supported`},
		{`mod("k") <= "1"`, `operator <= is not supported`},
		{`value("k") =`, `the operand is missing`},
		{`value("k") = "v`, `operand: unterminated or malformed quoted string`},
		{`value("k") = "v" x`, `unexpected "x" after the operand`},
		{`value("k") = a b`, `operand "a b" has spaces: quote it`},
		{`mod("k") > "five"`, `mod operand "five" is not an integer`},
		{`version("k") = "1.5"`, `version operand "1.5" is not an integer`},
		{`lease("k") = "xyz"`, `lease ID "xyz" is not a hexadecimal number`},
	}
	for _, tt := range tests {
		_, err := parseCompare(tt.line)
		if err == nil || !strings.Contains(err.Error(), tt.err) {
			t.Errorf("parseCompare(%s) error %v; want one containing %q", tt.line, err, tt.err)
		}
	}
}

func TestParseOp(t *testing.T) {
	good := []string{
		`put k v`, `put "a key" "a\nvalue"`, `put k 'single quoted'`, `put k --ignore-value`, `put k v --lease=694d5765fc71500b --prev-kv`,
		`get k`, `get k z`, `get k --prefix`, `get "" --from-key --limit 3 --sort-by=MODIFY --order=DESCEND`,
		`del k`, `delete k --prefix`, `del a z --prev-kv`,
	}
	for _, line := range good {
		if _, err := parseOp(line); err != nil {
			t.Errorf("parseOp(%s): %v", line, err)
		}
	}
	bad := []struct{ line, err string }{
		{`set k v`, `unknown request "set" (want get, put or del)`},
		{`put k`, `put: want KEY VALUE (or KEY --ignore-value)`},
		{`put k v extra`, `put: want put KEY VALUE, got 3 arguments`},
		{`put k v --ignore-value`, `a VALUE was given with --ignore-value`},
		{`put k v --lease=nothex`, `lease ID "nothex" is not a hexadecimal number`},
		{`get`, `get: want get KEY [RANGE_END], got 0 arguments`},
		{`get k --prefix --from-key`, `--prefix and --from-key cannot be set at the same time`},
		{`get k --bogus`, `get: flag provided but not defined: -bogus`},
		{`del k z --prefix`, `a RANGE_END cannot be given with --prefix`},
		{`put "k v`, `unterminated or malformed quoted string`},
		{`put 'k v`, `unterminated single-quoted string`},
		{`put "k"v x`, `want a space after "k"`},
	}
	for _, tt := range bad {
		_, err := parseOp(tt.line)
		if err == nil || !strings.Contains(err.Error(), tt.err) {
			t.Errorf("parseOp(%s) error %v; want one containing %q", tt.line, err, tt.err)
		}
	}
}

func TestSplitWords(t *testing.T) {
	tests := []struct {
		line string
		want []string
	}{
		{"put k v", []string{"put", "k", "v"}},
		{"  put\tk   v  ", []string{"put", "k", "v"}},
		{`put "a b" 'c d'`, []string{"put", "a b", "c d"}},
		{`put "" ''`, []string{"put", "", ""}},
		{`put "\"q\"" '"'`, []string{"put", `"q"`, `"`}},
		{`put k=v`, []string{"put", "k=v"}},
	}
	for _, tt := range tests {
		got, err := splitWords(tt.line)
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("splitWords(%s) = %q, %v; want %q", tt.line, got, err, tt.want)
		}
	}
	if _, err := splitWords("   "); err == nil {
		t.Error("splitWords accepted an empty line")
	}
}

// Any words, each written as a Go-quoted string, split back into
// themselves.
func TestSplitWordsQuotedRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		words := rapid.SliceOfN(rapid.String(), 1, 6).Draw(t, "words")
		quoted := make([]string, len(words))
		for i, w := range words {
			quoted[i] = strconv.Quote(w)
		}
		sep := rapid.SampledFrom([]string{" ", "\t", "  "}).Draw(t, "sep")
		got, err := splitWords(strings.Join(quoted, sep))
		if err != nil {
			t.Fatalf("splitWords: %v", err)
		}
		// strconv.Quote replaces invalid UTF-8 by U+FFFD, so compare with
		// what unquoting the quoted forms gives.
		want := make([]string, len(words))
		for i, q := range quoted {
			want[i], _ = strconv.Unquote(q)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("splitWords(%q) = %q; want %q", strings.Join(quoted, sep), got, want)
		}
	})
}

func TestReadTxn(t *testing.T) {
	input := "value(\"k\") = \"v\"\nmod(\"k\") > \"0\"\n\nput k v2\nget k\n\nput k v1\ndel other --prefix\n"
	spec, err := readTxn(strings.NewReader(input), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(spec.cmps) != 2 || len(spec.success) != 2 || len(spec.failure) != 2 {
		t.Fatalf("read %d compares, %d success, %d failure requests; want 2, 2, 2", len(spec.cmps), len(spec.success), len(spec.failure))
	}
	// Sections may be empty, and the input may end early.
	for _, in := range []string{"\n", "\n\n\n", "\nput k v\n", "value(\"k\") = \"v\"\n"} {
		if _, err := readTxn(strings.NewReader(in), nil); err != nil {
			t.Errorf("readTxn(%q): %v", in, err)
		}
	}
	// Interactive: each section's prompt is printed.
	var prompts bytes.Buffer
	if _, err := readTxn(strings.NewReader("\nput k v\n\n\n"), &prompts); err != nil {
		t.Fatal(err)
	}
	want := "compares:\nsuccess requests (get, put, del):\nfailure requests (get, put, del):\n"
	if prompts.String() != want {
		t.Errorf("prompts %q; want %q", prompts.String(), want)
	}
}

func TestReadTxnErrorsNameTheLine(t *testing.T) {
	tests := []struct{ input, err string }{
		{"value(\"k\") = \"v\"\nbogus\n", `txn line 2 (compares): compare "bogus"`},
		{"\nput k\n", `txn line 2 (success requests (get, put, del)): put: want KEY VALUE`},
		{"\n\nget k\nfrob k\n", `txn line 4 (failure requests (get, put, del)): unknown request "frob"`},
		{"put k v\n", `txn line 1 (compares): compare "put k v": want TARGET`},
		{"", "txn: stdin is empty"},
	}
	for _, tt := range tests {
		_, err := readTxn(strings.NewReader(tt.input), nil)
		if err == nil || !strings.Contains(err.Error(), tt.err) {
			t.Errorf("readTxn(%q) error %v; want one containing %q", tt.input, err, tt.err)
		}
	}
}

// The compares the parser builds equal the client library's own.
func TestParseCompareMatchesClient(t *testing.T) {
	got, err := parseCompare(`mod("k") > "5"`)
	if err != nil {
		t.Fatal(err)
	}
	if want := client.Compare(client.ModRevision("k"), ">", 5); !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v; want %+v", got, want)
	}
}
