package engine

import (
	"bytes"
	"fmt"
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

// MaxCGIOutput bounds what a CGI module may write to stdout for one
// response; more is a trap.
const MaxCGIOutput = 32 << 20

// CGIOutput collects a CGI module's stdout up to MaxCGIOutput bytes; a
// write past it fails and sets Over.
type CGIOutput struct {
	bytes.Buffer
	Over bool
}

func (b *CGIOutput) Write(p []byte) (int, error) {
	if b.Len()+len(p) > MaxCGIOutput {
		b.Over = true
		return 0, fmt.Errorf("wrote more than %d bytes to stdout", MaxCGIOutput)
	}
	return b.Buffer.Write(p)
}

// Reset empties the buffer for the next request.
func (b *CGIOutput) Reset() {
	b.Buffer.Reset()
	b.Over = false
}

// OrDiscard returns w, or io.Discard if w is nil.
func OrDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}
