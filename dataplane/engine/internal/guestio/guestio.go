// Package guestio holds what engines do with a guest's output.
package guestio

import (
	"io"
	"strings"
	"sync"
)

// TailWriter forwards a guest's stderr to W (if set) and keeps its last
// bytes, so that a trap's error can say what the guest printed before it
// died (a Go panic, say).
type TailWriter struct {
	W    io.Writer
	mu   sync.Mutex
	tail []byte
}

const tailSize = 512

func (t *TailWriter) Write(p []byte) (int, error) {
	t.mu.Lock()
	t.tail = append(t.tail, p...)
	if len(t.tail) > tailSize {
		t.tail = append(t.tail[:0], t.tail[len(t.tail)-tailSize:]...)
	}
	t.mu.Unlock()
	if t.W != nil {
		return t.W.Write(p)
	}
	return len(p), nil
}

// Suffix is ": guest stderr: <tail>" for an error message, or "".
func (t *TailWriter) Suffix() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.tail) == 0 {
		return ""
	}
	return ": guest stderr: " + strings.TrimSpace(string(t.tail))
}

// OrDiscard returns w, or io.Discard if w is nil.
func OrDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}
