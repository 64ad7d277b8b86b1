package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/cairndb/cairn/internal/zaplog"
)

// check validates the logging flags.
func (l *logOptions) check() error {
	switch l.logger {
	case "", "zap":
	default:
		return fmt.Errorf("--logger must be zap (etcd 3.6's only logger), not %q", l.logger)
	}
	switch l.format {
	case "", "json", "console", "text":
	default:
		return fmt.Errorf("--log-format must be json, console or text, not %q", l.format)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(l.level)); err != nil {
		return fmt.Errorf("--log-level must be debug, info, warn or error, not %q", l.level)
	}
	if strings.TrimSpace(l.outputs) == "" {
		return errors.New("--log-outputs must not be empty (stderr, stdout or a file)")
	}
	return nil
}

// newLogger makes the member's logger from the logging flags: etcd's JSON
// or console lines (zaplog), or cairn's key=value text, written to the
// outputs. close closes the files it opened.
func newLogger(l logOptions, stdout, stderr io.Writer) (logger *slog.Logger, close func(), err error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(l.level)); err != nil {
		return nil, nil, fmt.Errorf("--log-level must be debug, info, warn or error, not %q", l.level)
	}
	var writers []io.Writer
	var files []*os.File
	close = func() {
		for _, f := range files {
			_ = f.Close()
		}
	}
	for _, out := range strings.Split(l.outputs, ",") {
		switch out = strings.TrimSpace(out); out {
		case "default", "stderr":
			writers = append(writers, stderr)
		case "stdout":
			writers = append(writers, stdout)
		case "":
		default:
			f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
			if err != nil {
				close()
				return nil, nil, fmt.Errorf("--log-outputs: %w", err)
			}
			files = append(files, f)
			writers = append(writers, f)
		}
	}
	w := io.MultiWriter(writers...)
	format := l.format
	if format == "" {
		format = "text"
		if l.logger == "zap" {
			format = "json" // etcd's default format
		}
	}
	var h slog.Handler
	switch format {
	case "json":
		h = zaplog.New(w, zaplog.JSON, level)
	case "console":
		h = zaplog.New(w, zaplog.Console, level)
	default:
		h = slog.NewTextHandler(w, &slog.HandlerOptions{Level: level})
	}
	return slog.New(h), close, nil
}
