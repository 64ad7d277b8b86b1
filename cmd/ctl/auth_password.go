package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// Passwords come from a person at a terminal (prompted for on stderr,
// not echoed) or, when stdin is not a terminal, from stdin: one line per
// password, in the order the command needs them (--user's first, then
// the one a user add or user passwd sets).

// terminal returns stdin as a terminal, or nil when it is not one (a
// pipe, a file, a test's reader).
func (e *env) terminal() *os.File {
	f, ok := e.stdin.(*os.File)
	if !ok {
		return nil
	}
	st, err := f.Stat()
	if err != nil || st.Mode()&os.ModeCharDevice == 0 {
		return nil
	}
	return f
}

// stdinLine reads the next line of stdin, without its line ending. A
// last line without one counts; no line at all is an error naming what
// was wanted.
func (e *env) stdinLine(what string) (string, error) {
	if e.lines == nil {
		e.lines = bufio.NewReader(e.stdin)
	}
	line, err := e.lines.ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		if errors.Is(err, io.EOF) {
			return "", fmt.Errorf("reading %s from stdin: no line left", what)
		}
		return "", fmt.Errorf("reading %s from stdin: %w", what, err)
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// readPassword asks for a password: on a terminal with prompt and
// without echo, else as the next line of stdin. what names the password
// in errors.
func (e *env) readPassword(prompt, what string) (string, error) {
	tty := e.terminal()
	if tty == nil {
		return e.stdinLine(what)
	}
	fmt.Fprint(e.stderr, prompt)
	pw, err := readNoEcho(tty)
	fmt.Fprintln(e.stderr)
	if err != nil {
		return "", fmt.Errorf("reading %s from the terminal: %w", what, err)
	}
	return pw, nil
}

// newPassword reads the password a user add or user passwd sets: asked
// twice on a terminal when interactive (they must match), else one line
// of stdin.
func (e *env) newPassword(user string, interactive bool) (string, error) {
	what := "the password of user " + user
	if !interactive || e.terminal() == nil {
		return e.stdinLine(what)
	}
	pw, err := e.readPassword("Password of "+user+": ", what)
	if err != nil {
		return "", err
	}
	again, err := e.readPassword("Type password of "+user+" again for confirmation: ", what)
	if err != nil {
		return "", err
	}
	if pw != again {
		return "", errors.New("the two passwords typed do not match")
	}
	return pw, nil
}

// credentials returns the user and password the client authenticates
// with ("" user: none): --user name[:password], with --password or else
// a prompt for the password when it is not in --user. They are read once.
func (e *env) credentials() (user, password string, err error) {
	if e.g.user == "" || e.credsRead {
		return e.user, e.password, nil
	}
	user, password, hasPassword := e.g.user, e.g.password, e.g.password != ""
	if !hasPassword {
		user, password, hasPassword = strings.Cut(e.g.user, ":")
	}
	if !hasPassword {
		if password, err = e.readPassword("Password: ", "the password of --user "+user); err != nil {
			return "", "", err
		}
	}
	e.user, e.password, e.credsRead = user, password, true
	return user, password, nil
}
