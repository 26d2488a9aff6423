package main

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"sync"
)

// consoleHandler writes "1700000000: message key=value ..." lines, the
// shape of Mosquitto's console log.
type consoleHandler struct {
	mu    *sync.Mutex
	w     io.Writer
	level slog.Level
	attrs []slog.Attr
}

func newConsoleHandler(w io.Writer, level slog.Level) *consoleHandler {
	return &consoleHandler{mu: new(sync.Mutex), w: w, level: level}
}

func (h *consoleHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level }

func (h *consoleHandler) Handle(_ context.Context, r slog.Record) error {
	buf := make([]byte, 0, 128)
	buf = strconv.AppendInt(buf, r.Time.Unix(), 10)
	buf = append(buf, ": "...)
	if r.Level >= slog.LevelWarn {
		buf = append(buf, r.Level.String()...)
		buf = append(buf, ' ')
	}
	buf = append(buf, r.Message...)
	add := func(a slog.Attr) bool {
		buf = append(buf, ' ')
		buf = append(buf, a.Key...)
		buf = append(buf, '=')
		v := a.Value.String()
		if needsQuote(v) {
			buf = strconv.AppendQuote(buf, v)
		} else {
			buf = append(buf, v...)
		}
		return true
	}
	for _, a := range h.attrs {
		add(a)
	}
	r.Attrs(add)
	buf = append(buf, '\n')
	h.mu.Lock()
	defer h.mu.Unlock()
	_, err := h.w.Write(buf)
	return err
}

func needsQuote(s string) bool {
	if s == "" {
		return true
	}
	for _, c := range s {
		if c <= ' ' || c == '"' || c == '=' || c > '~' {
			return true
		}
	}
	return false
}

func (h *consoleHandler) WithAttrs(as []slog.Attr) slog.Handler {
	h2 := *h
	h2.attrs = append(append([]slog.Attr(nil), h.attrs...), as...)
	return &h2
}

func (h *consoleHandler) WithGroup(string) slog.Handler { return h }
