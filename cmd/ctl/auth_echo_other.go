//go:build !linux

package main

import (
	"bufio"
	"os"
	"strings"
)

// readNoEcho reads a line from the terminal tty. Outside Linux ctl does
// not know how to turn the terminal's echo off, so the password shows.
func readNoEcho(tty *os.File) (string, error) {
	line, err := bufio.NewReader(tty).ReadString('\n')
	if err != nil && line == "" {
		return "", err
	}
	return strings.TrimRight(line, "\r\n"), nil
}
