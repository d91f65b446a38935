package wazeroengine

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/nanoedge/nanoedge/dataplane/engine/internal/rewrite"
)

// instrumentedCache keeps instrumented modules on disk beside wazero's
// compilation cache: instrumenting a 5 MB Go module takes about 80 ms,
// which was 40% of loading it again after a restart. A file is named by
// the SHA-256 of this executable and of the module, so another build
// never reads what this one wrote, and ends with the SHA-256 of what it
// holds: one cut short or changed is instrumented again.
type instrumentedCache struct{ dir string }

func newInstrumentedCache(cacheDir string) *instrumentedCache {
	if cacheDir == "" {
		return nil
	}
	return &instrumentedCache{dir: filepath.Join(cacheDir, "nanoedge-instrumented")}
}

// executableSum is the SHA-256 of the running executable, or random
// bytes if it cannot be read (the cache then lasts one process).
var executableSum = sync.OnceValue(func() []byte {
	sum := make([]byte, sha256.Size)
	if path, err := os.Executable(); err == nil {
		if f, err := os.Open(path); err == nil {
			defer f.Close()
			h := sha256.New()
			if _, err := io.Copy(h, f); err == nil {
				return h.Sum(nil)
			}
		}
	}
	rand.Read(sum)
	return sum
})

// instrument is rewrite.Instrument, from the cache when it holds wasm.
func (c *instrumentedCache) instrument(wasm []byte) ([]byte, error) {
	if c == nil {
		return rewrite.Instrument(wasm)
	}
	h := sha256.New()
	h.Write(executableSum())
	h.Write(wasm)
	path := filepath.Join(c.dir, hex.EncodeToString(h.Sum(nil))+".wasm")
	if b, err := os.ReadFile(path); err == nil && len(b) > sha256.Size {
		code, sum := b[:len(b)-sha256.Size], b[len(b)-sha256.Size:]
		if got := sha256.Sum256(code); bytes.Equal(got[:], sum) {
			return code, nil
		}
	}
	code, err := rewrite.Instrument(wasm)
	if err != nil {
		return nil, err
	}
	c.store(path, code)
	return code, nil
}

// store writes code and its digest to path, atomically; a cache that
// cannot be written is only slower.
func (c *instrumentedCache) store(path string, code []byte) {
	if err := os.MkdirAll(c.dir, 0o700); err != nil {
		return
	}
	f, err := os.CreateTemp(c.dir, "tmp-*")
	if err != nil {
		return
	}
	sum := sha256.Sum256(code)
	_, err = f.Write(append(code[:len(code):len(code)], sum[:]...))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
	}
}
