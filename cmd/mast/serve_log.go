package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"

	"github.com/mastmq/mast/config"
)

// logOutput is where the logs go: standard error or output, a file that
// SIGHUP reopens (for logrotate), or nowhere.
type logOutput struct {
	mu      sync.Mutex
	writers []io.Writer
	path    string
	file    *os.File
}

// openLogOutput opens the destinations of Mosquitto's log_dest that mast
// implements; the others are refused rather than silently ignored.
func openLogOutput(l config.Log, stderr io.Writer) (*logOutput, error) {
	o := &logOutput{}
	dests := l.Dest
	if len(dests) == 0 {
		dests = []string{"stderr"}
	}
	for _, d := range dests {
		switch d {
		case "stderr":
			o.writers = append(o.writers, stderr)
		case "stdout":
			o.writers = append(o.writers, os.Stdout)
		case "none":
		case "file":
			if l.File == "" {
				return nil, fmt.Errorf("log destination file without a file name")
			}
			o.path = l.File
			if err := o.Reopen(); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("log destination %q is not supported by mast yet (use stderr, stdout, file or none)", d)
		}
	}
	return o, nil
}

// Reopen closes and reopens the log file, if any.
func (o *logOutput) Reopen() error {
	if o.path == "" {
		return nil
	}
	f, err := os.OpenFile(o.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return fmt.Errorf("log file: %w", err)
	}
	o.mu.Lock()
	old := o.file
	o.file = f
	o.mu.Unlock()
	if old != nil {
		old.Close()
	}
	return nil
}

func (o *logOutput) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, w := range o.writers {
		w.Write(p)
	}
	if o.file != nil {
		o.file.Write(p)
	}
	return len(p), nil
}

// Close closes the log file.
func (o *logOutput) Close() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.file != nil {
		return o.file.Close()
	}
	return nil
}

// newLogger builds the process logger: JSON, or the console format with a
// Unix timestamp first as Mosquitto prints it.
func newLogger(l config.Log, w io.Writer) *slog.Logger {
	level := l.Level
	if l.Verbose && level > slog.LevelDebug {
		level = slog.LevelDebug
	}
	if l.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level}))
	}
	return slog.New(newConsoleHandler(w, level))
}
