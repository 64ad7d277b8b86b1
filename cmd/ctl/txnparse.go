package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/cairndb/cairn/client"
)

// txnSpec is a transaction as written for the txn command: its compares,
// the operations to run when they all hold, and those to run otherwise.
type txnSpec struct {
	cmps    []client.Cmp
	success []client.Op
	failure []client.Op
}

// txnPrompts are the section headers the interactive txn prints.
var txnPrompts = [3]string{"compares:", "success requests (get, put, del):", "failure requests (get, put, del):"}

// readTxn reads a transaction in three sections, each ended by a blank
// line (the last may end at end of input): compares, success requests,
// failure requests. With prompt non-nil it prints each section's header
// there first (the interactive mode). Errors name the line at fault.
func readTxn(r io.Reader, prompt io.Writer) (*txnSpec, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 16<<20)
	spec := &txnSpec{}
	lineNo := 0
	for section := range 3 {
		if prompt != nil {
			fmt.Fprintln(prompt, txnPrompts[section])
		}
		for sc.Scan() {
			lineNo++
			line := strings.TrimSpace(sc.Text())
			if line == "" {
				break
			}
			var err error
			switch section {
			case 0:
				var cmp client.Cmp
				if cmp, err = parseCompare(line); err == nil {
					spec.cmps = append(spec.cmps, cmp)
				}
			case 1, 2:
				var op client.Op
				if op, err = parseOp(line); err == nil && section == 1 {
					spec.success = append(spec.success, op)
				} else if err == nil {
					spec.failure = append(spec.failure, op)
				}
			}
			if err != nil {
				return nil, fmt.Errorf("txn line %d (%s): %w", lineNo, strings.TrimSuffix(txnPrompts[section], ":"), err)
			}
		}
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("txn: reading line %d: %w", lineNo+1, err)
		}
	}
	if lineNo == 0 {
		return nil, errors.New("txn: stdin is empty: give the compares, the success requests and the failure requests, " +
			"each section ended by a blank line (three blank lines make an empty transaction)")
	}
	return spec, nil
}

// compareTargets maps the names a compare line may use (etcdctl's, with
// their short forms) to the client's target constructors.
var compareTargets = map[string]func(string) client.Cmp{
	"value": client.Value, "val": client.Value,
	"version": client.Version, "ver": client.Version,
	"create": client.CreateRevision, "c": client.CreateRevision,
	"mod": client.ModRevision, "m": client.ModRevision,
	"lease": client.LeaseValue,
}

// compareSyntax is the shape of a compare line, for error messages.
const compareSyntax = `TARGET("key") OP "operand", TARGET one of value, version, create, mod, lease and OP one of =, !=, <, >`

// parseCompare parses one compare line, as etcdctl writes them:
//
//	value("k") = "v"
//	mod("k") > "5"
//	create("k") = "0"
//	version("k") != "1"
//	lease("k") = "694d5765fc71500b"
//
// The key and the operand are double-quoted Go strings; a numeric operand
// may also be written bare.
func parseCompare(line string) (client.Cmp, error) {
	open := strings.IndexByte(line, '(')
	if open < 0 {
		return client.Cmp{}, fmt.Errorf("compare %q: want %s", line, compareSyntax)
	}
	name := strings.ToLower(strings.TrimSpace(line[:open]))
	target, ok := compareTargets[name]
	if !ok {
		return client.Cmp{}, fmt.Errorf("compare %q: unknown target %q (want value, version, create, mod or lease)", line, name)
	}
	rest := strings.TrimSpace(line[open+1:])
	key, rest, err := quoted(rest)
	if err != nil {
		return client.Cmp{}, fmt.Errorf("compare %q: key: %w", line, err)
	}
	rest = strings.TrimSpace(rest)
	if !strings.HasPrefix(rest, ")") {
		return client.Cmp{}, fmt.Errorf("compare %q: want ')' after the key", line)
	}
	rest = strings.TrimSpace(rest[1:])
	var op string
	switch {
	case strings.HasPrefix(rest, "<="), strings.HasPrefix(rest, ">="):
		return client.Cmp{}, fmt.Errorf("compare %q: operator %s is not supported (want =, !=, < or >)", line, rest[:2])
	case strings.HasPrefix(rest, "!="), strings.HasPrefix(rest, "=="):
		op, rest = rest[:2], rest[2:]
	case strings.HasPrefix(rest, "="), strings.HasPrefix(rest, "<"), strings.HasPrefix(rest, ">"):
		op, rest = rest[:1], rest[1:]
	default:
		return client.Cmp{}, fmt.Errorf("compare %q: want an operator (=, !=, < or >) after the key", line)
	}
	if op == "==" {
		op = "="
	}
	rest = strings.TrimSpace(rest)
	var operand string
	switch {
	case rest == "":
		return client.Cmp{}, fmt.Errorf("compare %q: the operand is missing", line)
	case rest[0] == '"':
		var after string
		if operand, after, err = quoted(rest); err != nil {
			return client.Cmp{}, fmt.Errorf("compare %q: operand: %w", line, err)
		}
		if strings.TrimSpace(after) != "" {
			return client.Cmp{}, fmt.Errorf("compare %q: unexpected %q after the operand", line, strings.TrimSpace(after))
		}
	case strings.ContainsAny(rest, " \t"):
		return client.Cmp{}, fmt.Errorf("compare %q: operand %q has spaces: quote it", line, rest)
	default:
		operand = rest
	}
	cmp := target(key)
	switch name {
	case "value", "val":
		return client.Compare(cmp, op, operand), nil
	case "lease":
		id := int64(0)
		if operand != "0" {
			if id, err = parseLeaseID(operand); err != nil {
				return client.Cmp{}, fmt.Errorf("compare %q: %w", line, err)
			}
		}
		return client.Compare(cmp, op, id), nil
	default:
		n, err := strconv.ParseInt(operand, 10, 64)
		if err != nil {
			return client.Cmp{}, fmt.Errorf("compare %q: %s operand %q is not an integer", line, name, operand)
		}
		return client.Compare(cmp, op, n), nil
	}
}

// quoted reads the double-quoted Go string s starts with and returns its
// value and what follows it.
func quoted(s string) (value, rest string, err error) {
	if !strings.HasPrefix(s, `"`) {
		return "", "", errors.New(`want a double-quoted string ("...")`)
	}
	q, err := strconv.QuotedPrefix(s)
	if err != nil {
		return "", "", fmt.Errorf("unterminated or malformed quoted string %s", s)
	}
	v, err := strconv.Unquote(q)
	if err != nil {
		return "", "", fmt.Errorf("malformed quoted string %s: %w", q, err)
	}
	return v, s[len(q):], nil
}

// parseOp parses one request line of a txn: "get KEY [RANGE_END] [flags]",
// "put KEY VALUE [flags]" or "del KEY [RANGE_END] [flags]", with the
// flags of the get, put and del commands. Arguments may be double-quoted
// Go strings or single-quoted literals.
func parseOp(line string) (client.Op, error) {
	words, err := splitWords(line)
	if err != nil {
		return client.Op{}, err
	}
	fs := flag.NewFlagSet(words[0], flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	switch words[0] {
	case "get":
		var o getOptions
		o.register(fs)
		args, err := opArgs(fs, words, 1, 2, "KEY [RANGE_END]")
		if err != nil {
			return client.Op{}, err
		}
		opts, err := o.opts(args)
		if err != nil {
			return client.Op{}, fmt.Errorf("get: %w", err)
		}
		return client.OpGet(args[0], opts...), nil
	case "put":
		var o putOptions
		o.register(fs)
		args, err := opArgs(fs, words, 1, 2, "KEY VALUE")
		if err != nil {
			return client.Op{}, err
		}
		if len(args) == 1 && !o.ignoreValue {
			return client.Op{}, errors.New("put: want KEY VALUE (or KEY --ignore-value)")
		}
		if len(args) == 2 && o.ignoreValue {
			return client.Op{}, errors.New("put: a VALUE was given with --ignore-value")
		}
		opts, err := o.opts()
		if err != nil {
			return client.Op{}, fmt.Errorf("put: %w", err)
		}
		value := ""
		if len(args) == 2 {
			value = args[1]
		}
		return client.OpPut(args[0], value, opts...), nil
	case "del", "delete":
		var o delOptions
		o.register(fs)
		args, err := opArgs(fs, words, 1, 2, "KEY [RANGE_END]")
		if err != nil {
			return client.Op{}, err
		}
		opts, err := o.opts(args)
		if err != nil {
			return client.Op{}, fmt.Errorf("del: %w", err)
		}
		return client.OpDelete(args[0], opts...), nil
	}
	return client.Op{}, fmt.Errorf("unknown request %q (want get, put or del)", words[0])
}

// opArgs parses a request line's flags and checks its argument count.
func opArgs(fs *flag.FlagSet, words []string, minArgs, maxArgs int, shape string) ([]string, error) {
	args, err := parseInterspersed(fs, words[1:])
	if err != nil {
		return nil, fmt.Errorf("%s: %w", words[0], err)
	}
	if len(args) < minArgs || len(args) > maxArgs {
		return nil, fmt.Errorf("%s: want %s %s, got %d arguments", words[0], words[0], shape, len(args))
	}
	return args, nil
}

// splitWords splits a line into words at spaces and tabs. A word may be a
// double-quoted Go string ("a b\n") or a single-quoted literal ('a b').
func splitWords(line string) ([]string, error) {
	var words []string
	s := strings.TrimSpace(line)
	for s != "" {
		var w string
		switch s[0] {
		case '"':
			v, rest, err := quoted(s)
			if err != nil {
				return nil, err
			}
			w, s = v, rest
		case '\'':
			end := strings.IndexByte(s[1:], '\'')
			if end < 0 {
				return nil, fmt.Errorf("unterminated single-quoted string %s", s)
			}
			w, s = s[1:1+end], s[2+end:]
		default:
			end := strings.IndexAny(s, " \t")
			if end < 0 {
				end = len(s)
			}
			w, s = s[:end], s[end:]
		}
		if s != "" && s[0] != ' ' && s[0] != '\t' {
			return nil, fmt.Errorf("want a space after %q, found %q", w, s)
		}
		words = append(words, w)
		s = strings.TrimLeft(s, " \t")
	}
	if len(words) == 0 {
		return nil, errors.New("empty request")
	}
	return words, nil
}
